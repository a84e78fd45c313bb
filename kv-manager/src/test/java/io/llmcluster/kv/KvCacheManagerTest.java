package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Exact block ids, eviction order and events on a pool of six blocks of four tokens. */
class KvCacheManagerTest {
  private static final long EPOCH = 42;
  private static final int BLOCK = 4;
  private final BlockHasher hasher = new BlockHasher(HashExtra.base("tiny", "f32"), BLOCK);
  private final BlockPool pool = new BlockPool(6, BLOCK, EPOCH);
  private final KvCacheManager manager = new KvCacheManager(pool, hasher);

  private List<KvEvent> drain() {
    List<KvEvent> events = new ArrayList<>();
    pool.events().drainTo(events);
    return events;
  }

  private long hash(GrowingTokens tokens, int blockIndex) {
    long parent = hasher.rootHash();
    for (int i = 0; i <= blockIndex; i++) {
      parent = hasher.hashBlock(parent, tokens, i);
    }
    return parent;
  }

  /** Runs a whole prompt as one chunk, registers its full blocks and samples one token. */
  private void prefill(long requestId, GrowingTokens tokens) {
    int numComputed = manager.computedPrefix(requestId, tokens);
    int numNew = tokens.numTokens() - numComputed;
    assertFalse(manager.allocateSlots(requestId, tokens, numComputed, numNew).isNone());
    manager.cacheFullBlocks(requestId, tokens, numComputed + numNew);
  }

  @Test
  void shouldAllocateBlocksInIdOrderAndGrowByOneBlockEveryFourDecodeTokens() {
    GrowingTokens tokens = GrowingTokens.range(1, 11);
    assertEquals(0, manager.computedPrefix(1, tokens));
    assertArrayEquals(new int[] {0, 1, 2}, manager.allocateSlots(1, tokens, 0, 10).toArray());
    tokens.append(100);
    assertArrayEquals(new int[] {0, 1, 2}, manager.allocateSlots(1, tokens, 10, 1).toArray());
    tokens.append(101);
    assertArrayEquals(new int[] {0, 1, 2}, manager.allocateSlots(1, tokens, 11, 1).toArray());
    tokens.append(102);
    assertArrayEquals(new int[] {0, 1, 2, 3}, manager.allocateSlots(1, tokens, 12, 1).toArray());
    assertEquals(2, pool.numFreeBlocks());
  }

  @Test
  void shouldAllocateChunkedPrefillAndRegisterEachBlockOnceComputed() {
    GrowingTokens tokens = GrowingTokens.range(1, 11);
    manager.computedPrefix(1, tokens);
    assertArrayEquals(new int[] {0}, manager.allocateSlots(1, tokens, 0, 3).toArray());
    assertEquals(0, manager.cacheFullBlocks(1, tokens, 3));
    assertArrayEquals(new int[] {0, 1}, manager.allocateSlots(1, tokens, 3, 3).toArray());
    assertEquals(1, manager.cacheFullBlocks(1, tokens, 6));
    assertArrayEquals(new int[] {0, 1, 2}, manager.allocateSlots(1, tokens, 6, 3).toArray());
    assertEquals(1, manager.cacheFullBlocks(1, tokens, 9));
    assertArrayEquals(new int[] {0, 1, 2}, manager.allocateSlots(1, tokens, 9, 1).toArray());
    assertEquals(List.of(
        new KvEvent.BlockStored(EPOCH, 1, hasher.rootHash(), new long[] {hash(tokens, 0)}, BLOCK),
        new KvEvent.BlockStored(EPOCH, 2, hash(tokens, 0), new long[] {hash(tokens, 1)}, BLOCK)), drain());
  }

  @Test
  void shouldReuseThePrefixBlocksOfAFinishedRequest() {
    GrowingTokens a = GrowingTokens.range(1, 11);
    prefill(1, a);
    manager.free(1);
    assertArrayEquals(new int[] {2, 3, 4, 5, 1, 0}, pool.freeBlocksInEvictionOrder());
    GrowingTokens b = GrowingTokens.range(1, 9).append(20).append(21);
    assertEquals(8, manager.computedPrefix(2, b));
    assertArrayEquals(new int[] {0, 1}, manager.blocks(2).toArray());
    assertArrayEquals(new int[] {0, 1, 2}, manager.allocateSlots(2, b, 8, 2).toArray());
    KvCacheStats stats = manager.stats();
    assertEquals(2, stats.prefixQueries());
    assertEquals(20, stats.prefixQueryTokens());
    assertEquals(8, stats.prefixHitTokens());
    assertEquals(0.4, stats.prefixHitRate(), 1e-12);
  }

  @Test
  void shouldShareCachedBlocksBetweenRunningRequestsUntilTheLastReferenceIsFreed() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    prefill(1, a);
    GrowingTokens b = GrowingTokens.range(1, 9).append(50);
    assertEquals(8, manager.computedPrefix(2, b));
    assertArrayEquals(new int[] {0, 1, 3}, manager.allocateSlots(2, b, 8, 1).toArray());
    assertEquals(2, pool.refCount(0));
    manager.free(1);
    assertEquals(1, pool.refCount(0));
    assertArrayEquals(new int[] {2, 4, 5}, pool.freeBlocksInEvictionOrder());
    manager.free(2);
    assertArrayEquals(new int[] {3, 2, 4, 5, 1, 0}, pool.freeBlocksInEvictionOrder());
  }

  @Test
  void shouldNeverServeTheLastPromptTokenFromTheCache() {
    GrowingTokens a = GrowingTokens.range(1, 9);
    prefill(1, a);
    manager.free(1);
    drain();
    GrowingTokens same = GrowingTokens.range(1, 9);
    assertEquals(4, manager.findCachedPrefix(same));
    assertEquals(4, manager.computedPrefix(2, same));
    assertArrayEquals(new int[] {0, 2}, manager.allocateSlots(2, same, 4, 4).toArray());
    assertEquals(0, manager.cacheFullBlocks(2, same, 8));
    assertEquals(1, pool.cachedBlock(hash(same, 1)));
    assertEquals(List.of(), drain());
  }

  @Test
  void shouldEvictTheLeastRecentlyFreedChainTailFirst() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    prefill(1, a);
    manager.free(1);
    drain();
    assertArrayEquals(new int[] {2, 3, 4, 5}, manager.allocateSlots(2, GrowingTokens.range(100, 116), 0, 16).toArray());
    assertArrayEquals(new int[] {1}, manager.allocateSlots(3, GrowingTokens.range(200, 204), 0, 4).toArray());
    assertEquals(List.of(new KvEvent.BlockRemoved(EPOCH, 2, new long[] {hash(a, 1)})), drain());
    assertEquals(4, manager.findCachedPrefix(a));
    assertEquals(BlockPool.NO_BLOCK, pool.cachedBlock(hash(a, 1)));
    assertEquals(0, pool.cachedBlock(hash(a, 0)));
  }

  @Test
  void shouldReturnNoneAndChangeNothingWhenThePoolIsFull() {
    GrowingTokens a = GrowingTokens.range(1, 21);
    manager.computedPrefix(1, a);
    assertArrayEquals(new int[] {0, 1, 2, 3, 4}, manager.allocateSlots(1, a, 0, 20).toArray());
    long seq = pool.lastSeq();
    KvCacheStats before = manager.stats();
    assertSame(KvBlocks.NONE, manager.allocateSlots(2, GrowingTokens.range(50, 58), 0, 8));
    assertFalse(manager.hasRequest(2));
    a.append(7);
    a.append(8);
    a.append(9);
    a.append(10);
    a.append(11);
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, manager.allocateSlots(1, a, 20, 4).toArray());
    assertTrue(manager.allocateSlots(1, a, 20, 5).isNone());
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, manager.blocks(1).toArray());
    assertEquals(seq + 1, pool.lastSeq()); // only the first five blocks' BlockStored, from the successful call
    assertEquals(0, pool.numFreeBlocks());
    assertEquals(before.prefixQueries(), manager.stats().prefixQueries());
  }

  @Test
  void shouldLeaveAFullPoolUntouchedIncludingLazyRegistration() {
    GrowingTokens a = GrowingTokens.range(1, 25);
    manager.computedPrefix(1, a);
    manager.allocateSlots(1, a, 0, 24);
    a.append(99);
    assertTrue(manager.allocateSlots(1, a, 24, 1).isNone());
    assertEquals(0, pool.lastSeq());
    assertEquals(0, pool.numCachedBlocks());
  }

  @Test
  void shouldRegisterComputedBlocksLazilyWhenTheSchedulerSkipsCacheFullBlocks() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    manager.computedPrefix(1, a);
    manager.allocateSlots(1, a, 0, 9);
    assertEquals(0, pool.numCachedBlocks());
    a.append(77);
    manager.allocateSlots(1, a, 9, 1);
    assertEquals(2, pool.numCachedBlocks());
    assertEquals(List.of(new KvEvent.BlockStored(
        EPOCH, 1, hasher.rootHash(), new long[] {hash(a, 0), hash(a, 1)}, BLOCK)), drain());
  }

  @Test
  void shouldRecoverTheCachedPrefixWhenAPreemptedRequestIsReadmitted() {
    GrowingTokens a = GrowingTokens.range(1, 7);
    prefill(1, a);
    for (int step = 0; step < 3; step++) {
      a.append(60 + step);
      manager.allocateSlots(1, a, a.numTokens() - 1, 1);
      manager.cacheFullBlocks(1, a, a.numTokens());
    }
    a.append(63);
    manager.free(1);
    assertEquals(8, manager.computedPrefix(1, a));
    assertArrayEquals(new int[] {0, 1}, manager.blocks(1).toArray());
    assertArrayEquals(new int[] {0, 1, 2}, manager.allocateSlots(1, a, 8, 2).toArray());
  }

  @Test
  void shouldNotTakeReferencesOrCountStatsWhenOnlyPeekingAtTheCache() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    prefill(1, a);
    manager.free(1);
    assertEquals(8, manager.findCachedPrefix(a));
    assertEquals(0, pool.refCount(0));
    assertEquals(1, manager.stats().prefixQueries());
  }

  @Test
  void shouldNotShareBlocksAcrossAdapters() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    prefill(1, a);
    manager.free(1);
    BlockHasher lora = new BlockHasher(new HashExtra("tiny", "sql-lora", "f32"), BLOCK);
    assertEquals(0, manager.findCachedPrefix(a, lora));
    assertEquals(0, manager.computedPrefix(2, a, lora));
    manager.allocateSlots(2, a, 0, 9);
    manager.cacheFullBlocks(2, a, 9);
    assertEquals(8, manager.findCachedPrefix(a));
    assertEquals(8, manager.findCachedPrefix(a, lora));
  }

  @Test
  void shouldEmptyEveryTableAndEmitAllClearedOnReset() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    prefill(1, a);
    KvBlocks table = manager.blocks(1);
    manager.reset();
    assertEquals(0, table.numBlocks());
    assertFalse(manager.hasRequest(1));
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, pool.freeBlocksInEvictionOrder());
    assertEquals(0, manager.findCachedPrefix(a));
    List<KvEvent> events = drain();
    assertEquals(new KvEvent.AllCleared(EPOCH, 2), events.get(events.size() - 1));
  }

  @Test
  void shouldEmptyTheTableOfAFreedRequestAndForgetIt() {
    GrowingTokens a = GrowingTokens.range(1, 6);
    KvBlocks table = manager.allocateSlots(1, a, 0, 5);
    assertTrue(manager.free(1));
    assertEquals(0, table.numBlocks());
    assertSame(KvBlocks.NONE, manager.blocks(1));
    assertFalse(manager.free(1));
  }

  @Test
  void shouldRejectCountsThatDoNotMatchTheHeldBlocks() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    assertThrows(IllegalArgumentException.class, () -> manager.allocateSlots(1, a, 4, 1));
    assertThrows(IllegalArgumentException.class, () -> manager.allocateSlots(1, a, 0, 10));
    prefill(1, a);
    manager.free(1);
    manager.computedPrefix(2, a);
    assertThrows(IllegalArgumentException.class, () -> manager.allocateSlots(2, a, 0, 9));
    assertThrows(IllegalStateException.class, () -> manager.computedPrefix(2, a));
  }

  @Test
  void shouldReportHowManyBlocksAnAllocationWouldTake() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    assertEquals(3, manager.numBlocksToAllocate(1, 0, 9));
    manager.allocateSlots(1, a, 0, 5);
    assertEquals(1, manager.numBlocksToAllocate(1, 5, 4));
    assertEquals(0, manager.numBlocksToAllocate(1, 5, 3));
  }

  @Test
  void shouldReportPoolCountersInStats() {
    GrowingTokens a = GrowingTokens.range(1, 10);
    prefill(1, a);
    manager.allocateSlots(2, GrowingTokens.range(30, 34), 0, 4);
    manager.free(1);
    assertEquals(new KvCacheStats(6, 5, 1, 2, 2, 1, 1, 9, 0), manager.stats());
  }
}
