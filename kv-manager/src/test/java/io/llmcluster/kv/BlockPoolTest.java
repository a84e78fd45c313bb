package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.agrona.collections.IntArrayList;
import org.agrona.collections.LongArrayList;
import org.agrona.collections.LongHashSet;
import org.junit.jupiter.api.Test;

class BlockPoolTest {
  private static final long EPOCH = 7;
  private static final long ROOT = 0xABCL;
  private final BlockPool pool = new BlockPool(6, 4, EPOCH);

  private static IntArrayList ids(int... blockIds) {
    IntArrayList list = new IntArrayList();
    for (int id : blockIds) {
      list.addInt(id);
    }
    return list;
  }

  private static LongArrayList hashes(long... values) {
    LongArrayList list = new LongArrayList();
    for (long v : values) {
      list.addLong(v);
    }
    return list;
  }

  private IntArrayList allocate(int count) {
    IntArrayList out = new IntArrayList();
    assertTrue(pool.allocate(count, out));
    return out;
  }

  private List<KvEvent> drain() {
    List<KvEvent> events = new ArrayList<>();
    pool.events().drainTo(events);
    return events;
  }

  @Test
  void shouldStartWithEveryBlockFreeInIdOrder() {
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, pool.freeBlocksInEvictionOrder());
    assertEquals(6, pool.numFreeBlocks());
    assertEquals(0, pool.numUsedBlocks());
    assertEquals(0, pool.lastSeq());
  }

  @Test
  void shouldTakeBlocksFromTheHeadWithOneReferenceEach() {
    assertEquals(ids(0, 1, 2), allocate(3));
    assertEquals(1, pool.refCount(0));
    assertArrayEquals(new int[] {3, 4, 5}, pool.freeBlocksInEvictionOrder());
    assertEquals(3, pool.numUsedBlocks());
  }

  @Test
  void shouldFreeUncachedBlocksToTheHeadAndCachedBlocksToTheTailInReverseTableOrder() {
    IntArrayList table = allocate(3);
    pool.cacheBlocks(table, hashes(10, 20), 0, 2, ROOT);
    pool.release(table);
    assertArrayEquals(new int[] {2, 3, 4, 5, 1, 0}, pool.freeBlocksInEvictionOrder());
    assertEquals(2, pool.numEvictableBlocks());
    assertEquals(2, pool.numCachedBlocks());
  }

  @Test
  void shouldEvictTheHashOfATakenCachedBlockAndEmitBlockRemoved() {
    IntArrayList table = allocate(6);
    pool.cacheBlocks(table, hashes(10, 20), 0, 2, ROOT);
    pool.release(table);
    drain();
    assertArrayEquals(new int[] {2, 3, 4, 5, 1, 0}, pool.freeBlocksInEvictionOrder());
    assertEquals(ids(2, 3, 4, 5, 1), allocate(5));
    assertEquals(BlockPool.NO_BLOCK, pool.cachedBlock(20));
    assertEquals(0, pool.cachedBlock(10));
    assertEquals(List.of(new KvEvent.BlockRemoved(EPOCH, 2, new long[] {20})), drain());
  }

  @Test
  void shouldReviveACachedFreeBlockOnTouch() {
    IntArrayList table = allocate(2);
    pool.cacheBlocks(table, hashes(10, 20), 0, 2, ROOT);
    pool.release(table);
    pool.touch(pool.cachedBlock(10));
    assertEquals(1, pool.refCount(0));
    assertFalse(pool.isFree(0));
    assertArrayEquals(new int[] {2, 3, 4, 5, 1}, pool.freeBlocksInEvictionOrder());
    assertEquals(1, pool.numEvictableBlocks());
  }

  @Test
  void shouldRefuseAnAllocationLargerThanTheFreeBlocksAndChangeNothing() {
    allocate(4);
    IntArrayList out = ids(99);
    assertFalse(pool.allocate(3, out));
    assertEquals(ids(99), out);
    assertArrayEquals(new int[] {4, 5}, pool.freeBlocksInEvictionOrder());
    assertEquals(0, pool.lastSeq());
  }

  @Test
  void shouldRejectReleasingABlockMoreOftenThanItWasTaken() {
    IntArrayList table = allocate(1);
    pool.release(table);
    assertThrows(IllegalStateException.class, () -> pool.release(table));
  }

  @Test
  void shouldEmitOneBlockStoredPerChainRunWithItsParent() {
    IntArrayList table = allocate(3);
    pool.cacheBlocks(table, hashes(10, 20, 30), 0, 3, ROOT);
    assertEquals(List.of(new KvEvent.BlockStored(EPOCH, 1, ROOT, new long[] {10, 20, 30}, 4)), drain());
  }

  @Test
  void shouldSkipAHashCachedByAnotherBlockAndSplitTheStoredRun() {
    IntArrayList other = allocate(1);
    pool.cacheBlocks(other, hashes(20), 0, 1, 10);
    drain();
    IntArrayList table = allocate(3);
    assertEquals(2, pool.cacheBlocks(table, hashes(10, 20, 30), 0, 3, ROOT));
    assertEquals(List.of(
        new KvEvent.BlockStored(EPOCH, 2, ROOT, new long[] {10}, 4),
        new KvEvent.BlockStored(EPOCH, 3, 20, new long[] {30}, 4)), drain());
    assertEquals(0, pool.cachedBlock(20));
    assertFalse(pool.isCached(2));
  }

  @Test
  void shouldRefuseToCacheABlockNobodyHolds() {
    IntArrayList table = allocate(1);
    pool.release(table);
    assertThrows(IllegalStateException.class, () -> pool.cacheBlocks(table, hashes(10), 0, 1, ROOT));
  }

  @Test
  void shouldClearEverythingAndEmitAllClearedOnReset() {
    IntArrayList table = allocate(3);
    pool.cacheBlocks(table, hashes(10, 20), 0, 2, ROOT);
    pool.release(table);
    pool.reset();
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, pool.freeBlocksInEvictionOrder());
    assertEquals(0, pool.numCachedBlocks());
    assertEquals(0, pool.numEvictableBlocks());
    assertEquals(new LongHashSet(), pool.cachedHashes());
    List<KvEvent> events = drain();
    assertEquals(new KvEvent.AllCleared(EPOCH, 2), events.get(events.size() - 1));
  }

  @Test
  void shouldRefuseResetWhileBlocksAreInUse() {
    allocate(1);
    assertThrows(IllegalStateException.class, pool::reset);
  }

  @Test
  void shouldSizeThePoolFromFreeMemory() {
    assertEquals(9, BlockPool.blocksFor(1000, 0.9, 100));
    assertEquals(0, BlockPool.blocksFor(99, 1.0, 100));
    assertEquals(0, BlockPool.blocksFor(0, 0.5, 100));
    assertEquals(BlockPool.MAX_BLOCKS, BlockPool.blocksFor(Long.MAX_VALUE / 2, 1.0, 1));
    long h200Bytes = 141L << 30;
    long llama8bBlock = BlockPool.bytesPerBlock(32, 8, 128, 16, 2);
    assertEquals(2_097_152L, llama8bBlock);
    assertEquals(64_972, BlockPool.blocksFor(h200Bytes, 0.9, llama8bBlock));
  }

  @Test
  void shouldRejectNonsenseSizingArguments() {
    assertThrows(IllegalArgumentException.class, () -> BlockPool.blocksFor(-1, 0.5, 100));
    assertThrows(IllegalArgumentException.class, () -> BlockPool.blocksFor(1000, 0.0, 100));
    assertThrows(IllegalArgumentException.class, () -> BlockPool.blocksFor(1000, 1.5, 100));
    assertThrows(IllegalArgumentException.class, () -> BlockPool.blocksFor(1000, Double.NaN, 100));
    assertThrows(IllegalArgumentException.class, () -> BlockPool.blocksFor(1000, 0.5, 0));
  }
}
