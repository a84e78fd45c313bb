package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.agrona.collections.LongArrayList;
import org.agrona.collections.LongHashSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Thousands of random scheduler operations (arrivals from a few shared prefixes, chunked prefill, decode
 * growth, cancels, finishes, preemptions, rare resets) against a small pool, checking after every operation
 * the pool's invariants, that the KV events replay to exactly the cached set, and, through a shadow of what
 * each block's KV "contains", that no request ever reads a block holding another prefix or writes a block
 * someone else uses.
 */
class KvCacheManagerPropertyTest {
  private static final int BLOCK = 4;
  private static final int NUM_OPS = 6000;

  /** A request as a scheduler sees it: counters over a growing token sequence. */
  private static final class SimRequest {
    final long id;
    final GrowingTokens tokens;
    final int maxTokens;
    int numComputed;
    KvBlocks lastTable = KvBlocks.NONE;

    SimRequest(long id, GrowingTokens tokens, int maxTokens) {
      this.id = id;
      this.tokens = tokens;
      this.maxTokens = maxTokens;
    }
  }

  private Random random;
  private BlockPool pool;
  private KvCacheManager manager;
  private BlockHasher hasher;
  private final KvEventReplayer replayer = new KvEventReplayer();
  private final List<SimRequest> waiting = new ArrayList<>();
  private final List<SimRequest> running = new ArrayList<>();
  private final List<SimRequest> finished = new ArrayList<>();
  private int[][] shadow;
  private int[][] sharedPrefixes;
  private long nextId = 1;
  private int noneCount;
  private int preemptions;
  private int evictedHashes;

  @ParameterizedTest(name = "seed {0}, {1} blocks")
  @CsvSource({"42, 12", "7, 6", "2024, 24", "99, 5"})
  void shouldKeepPoolInvariantsAndReplayableEventsOverRandomSchedulerOperations(long seed, int numBlocks) {
    setUp(seed, numBlocks);
    for (int op = 0; op < NUM_OPS; op++) {
      step(random.nextInt(100));
      drainAndCheckEvents();
      checkInvariants();
    }
    KvCacheStats stats = manager.stats();
    assertTrue(stats.prefixHitTokens() > 0, "some prefix hits");
    assertTrue(noneCount > 0, "some full-pool refusals");
    assertTrue(preemptions > 0, "some preemptions");
    assertTrue(evictedHashes > 0, "some evictions");
    assertTrue(finished.size() > 100, "many finished requests");
  }

  private void setUp(long seed, int numBlocks) {
    random = new Random(seed);
    pool = new BlockPool(numBlocks, BLOCK, seed * 31);
    hasher = new BlockHasher(HashExtra.base("tiny", "f32"), BLOCK);
    manager = new KvCacheManager(pool, hasher);
    shadow = new int[numBlocks][];
    sharedPrefixes = new int[][] {randomTokens(8), randomTokens(10), randomTokens(5)};
  }

  private int[] randomTokens(int count) {
    int[] tokens = new int[count];
    for (int i = 0; i < count; i++) {
      tokens[i] = random.nextInt(6);
    }
    return tokens;
  }

  private void step(int dice) {
    if (dice < 22) {
      arrive();
    } else if (dice < 72) {
      scheduleOne();
    } else if (dice < 78) {
      cancel();
    } else if (dice < 84) {
      preemptRandom();
    } else if (dice < 85) {
      resetAll();
    } else {
      scheduleOne();
    }
  }

  private void arrive() {
    GrowingTokens tokens = new GrowingTokens(sharedPrefixes[random.nextInt(sharedPrefixes.length)]);
    int suffix = random.nextInt(5) == 0 ? 0 : 1 + random.nextInt(6);
    for (int i = 0; i < suffix; i++) {
      tokens.append(random.nextInt(6));
    }
    waiting.add(new SimRequest(nextId++, tokens, tokens.numTokens() + 1 + random.nextInt(8)));
  }

  private void scheduleOne() {
    if (!waiting.isEmpty() && (running.isEmpty() || random.nextBoolean())) {
      admit(waiting.get(random.nextInt(waiting.size())));
    } else if (!running.isEmpty()) {
      SimRequest request = running.get(random.nextInt(running.size()));
      if (!runChunk(request)) {
        preempt(running.getLast());
      }
    }
  }

  private void admit(SimRequest request) {
    assertFalse(manager.hasRequest(request.id));
    int hit = manager.computedPrefix(request.id, request.tokens);
    assertEquals(0, hit % BLOCK);
    assertTrue(hit < request.tokens.numTokens(), "the last token is always computed");
    request.numComputed = hit;
    checkShadow(request);
    waiting.remove(request);
    running.add(request); // before the chunk, which may finish it
    if (!runChunk(request)) {
      running.remove(request);
      waiting.add(request);
      manager.free(request.id);
    }
  }

  /** One scheduler step for {@code request}: allocate, "compute", register, maybe sample. */
  private boolean runChunk(SimRequest request) {
    int remaining = request.tokens.numTokens() - request.numComputed;
    int numNew = Math.min(remaining, 1 + random.nextInt(6));
    int tableBefore = manager.blocks(request.id).numBlocks();
    Object before = snapshot(request);
    KvBlocks table = manager.allocateSlots(request.id, request.tokens, request.numComputed, numNew);
    if (table.isNone()) {
      noneCount++;
      assertEquals(before, snapshot(request), "a refused allocation changes nothing");
      return false;
    }
    request.lastTable = table;
    assertEquals(manager.blocksForTokens(request.numComputed + numNew), table.numBlocks());
    for (int i = tableBefore; i < table.numBlocks(); i++) {
      shadow[table.blockId(i)] = null; // fresh block: its old contents are garbage
    }
    compute(request, table, numNew);
    if (random.nextInt(10) < 7) {
      manager.cacheFullBlocks(request.id, request.tokens, request.numComputed);
    }
    if (request.numComputed == request.tokens.numTokens()) {
      sample(request);
    }
    return true;
  }

  private void compute(SimRequest request, KvBlocks table, int numNew) {
    int from = request.numComputed;
    int to = from + numNew;
    for (int i = from / BLOCK; i <= (to - 1) / BLOCK; i++) {
      assertEquals(1, pool.refCount(table.blockId(i)), "a block being written is not shared");
    }
    for (int i = from / BLOCK; i < to / BLOCK; i++) {
      shadow[table.blockId(i)] = request.tokens.prefix((i + 1) * BLOCK);
    }
    request.numComputed = to;
  }

  private void sample(SimRequest request) {
    if (request.tokens.numTokens() >= request.maxTokens) {
      finish(request);
    } else {
      request.tokens.append(random.nextInt(6));
    }
  }

  private void finish(SimRequest request) {
    assertTrue(manager.free(request.id));
    running.remove(request);
    finished.add(request);
  }

  private void cancel() {
    List<SimRequest> from = random.nextBoolean() || running.isEmpty() ? waiting : running;
    if (from.isEmpty()) {
      return;
    }
    SimRequest request = from.remove(random.nextInt(from.size()));
    assertEquals(from == running, manager.free(request.id));
    finished.add(request);
  }

  private void preemptRandom() {
    if (!running.isEmpty()) {
      preempt(running.get(random.nextInt(running.size())));
    }
  }

  private void preempt(SimRequest request) {
    assertTrue(manager.free(request.id));
    running.remove(request);
    request.numComputed = 0;
    waiting.add(request);
    preemptions++;
  }

  private void resetAll() {
    manager.reset();
    for (SimRequest request : running) {
      request.numComputed = 0;
      waiting.add(request);
    }
    running.clear();
  }

  private Object snapshot(SimRequest request) {
    int[] refCounts = new int[pool.numBlocks()];
    for (int b = 0; b < refCounts.length; b++) {
      refCounts[b] = pool.refCount(b);
    }
    return List.of(Arrays.toString(pool.freeBlocksInEvictionOrder()), Arrays.toString(refCounts),
        pool.lastSeq(), pool.events().size(), manager.stats(), manager.hasRequest(request.id),
        Arrays.toString(manager.blocks(request.id).toArray()), pool.cachedHashes());
  }

  private void drainAndCheckEvents() {
    List<KvEvent> events = new ArrayList<>();
    pool.events().drainTo(events);
    for (KvEvent event : events) {
      assertEquals(KvEventReplayer.Outcome.APPLIED, replayer.apply(event));
      if (event instanceof KvEvent.BlockRemoved removed) {
        evictedHashes += removed.blockHashes().length;
      }
    }
    assertTrue(replayer.inSync());
    assertEquals(pool.cachedHashes(), replayer.hashes(), "replayed events equal the cached set");
  }

  private void checkInvariants() {
    checkReferenceCounts();
    checkCacheMetadata();
    for (SimRequest request : running) {
      assertEquals(manager.blocksForTokens(request.numComputed), manager.blocks(request.id).numBlocks());
      checkShadow(request);
    }
    for (SimRequest request : waiting) {
      assertFalse(manager.hasRequest(request.id), "a waiting request holds no blocks");
    }
    for (SimRequest request : finished) {
      assertFalse(manager.hasRequest(request.id));
      assertEquals(0, request.lastTable.numBlocks(), "a finished request's table is empty");
    }
    KvCacheStats stats = manager.stats();
    assertTrue(stats.prefixHitTokens() <= stats.prefixQueryTokens());
    assertEquals(running.size(), stats.numRequests());
  }

  private void checkReferenceCounts() {
    int[] expected = new int[pool.numBlocks()];
    for (SimRequest request : running) {
      KvBlocks table = manager.blocks(request.id);
      for (int i = 0; i < table.numBlocks(); i++) {
        expected[table.blockId(i)]++;
      }
    }
    int free = 0;
    for (int b = 0; b < expected.length; b++) {
      assertEquals(expected[b], pool.refCount(b), "references of block " + b);
      assertEquals(expected[b] == 0, pool.isFree(b), "block " + b + " is free iff unreferenced");
      free += expected[b] == 0 ? 1 : 0;
    }
    assertEquals(free, pool.numFreeBlocks());
    assertEquals(pool.numBlocks(), pool.numFreeBlocks() + pool.numUsedBlocks());
    int[] order = pool.freeBlocksInEvictionOrder();
    assertEquals(free, order.length);
    assertEquals(free, Arrays.stream(order).distinct().count());
  }

  private void checkCacheMetadata() {
    LongHashSet fromBlocks = new LongHashSet();
    int evictable = 0;
    for (int b = 0; b < pool.numBlocks(); b++) {
      if (!pool.isCached(b)) {
        continue;
      }
      long hash = pool.blockHash(b);
      assertEquals(b, pool.cachedBlock(hash), "the cache maps block " + b + "'s hash back to it");
      assertTrue(fromBlocks.add(hash));
      assertNotNull(shadow[b], "a cached block was computed");
      assertEquals(hash, chainHashOf(shadow[b]), "a cached hash names the block's contents");
      evictable += pool.isFree(b) ? 1 : 0;
    }
    assertEquals(fromBlocks, pool.cachedHashes());
    assertEquals(fromBlocks.size(), pool.numCachedBlocks());
    assertEquals(evictable, pool.numEvictableBlocks());
  }

  private long chainHashOf(int[] prefix) {
    LongArrayList chain = new LongArrayList();
    hasher.hashChain(TokenSequence.of(prefix), prefix.length / BLOCK, chain);
    return chain.getLong(chain.size() - 1);
  }

  /** Every computed full block of {@code request} holds exactly its own prefix. */
  private void checkShadow(SimRequest request) {
    KvBlocks table = manager.blocks(request.id);
    for (int i = 0; i < request.numComputed / BLOCK; i++) {
      assertArrayEquals(request.tokens.prefix((i + 1) * BLOCK), shadow[table.blockId(i)],
          "request " + request.id + " block " + i);
    }
  }
}
