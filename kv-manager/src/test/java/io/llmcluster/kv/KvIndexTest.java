package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.kv.KvIndex.SyncStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Exact directory contents, prefix lengths and sync states on small constructed event streams. */
class KvIndexTest {
  private static final long E1 = 1001;
  private static final long E2 = 2002;
  private final KvIndex index = new KvIndex();

  private static KvEvent stored(long epoch, long seq, long... hashes) {
    return new KvEvent.BlockStored(epoch, seq, 0, hashes, 16);
  }

  private static KvEvent removed(long epoch, long seq, long... hashes) {
    return new KvEvent.BlockRemoved(epoch, seq, hashes);
  }

  private SyncStatus apply(String worker, KvEvent... events) {
    return index.apply(new KvEventBatch(worker, events));
  }

  @Test
  void shouldCountLeadingBlocksPerWorkerAndStopAtTheFirstMiss() {
    apply("a", stored(E1, 1, 10, 11, 12, 13));
    apply("b", stored(E2, 1, 10, 11), stored(E2, 2, 13)); // holds block 3 but not block 2
    apply("c", stored(E1, 1, 99));

    PrefixMatch match = index.longestPrefix(new long[] {10, 11, 12, 13, 14});

    assertEquals(Map.of("a", 4, "b", 2, "c", 0), match.toMap());
    assertEquals(4, match.maxBlocks());
  }

  @Test
  void shouldGiveZeroToEveryWorkerWhenTheFirstBlockIsUnknown() {
    apply("a", stored(E1, 1, 10, 11));
    PrefixMatch match = index.longestPrefix(new long[] {5, 10, 11});
    assertEquals(0, match.blocks("a"));
    assertEquals(0, match.maxBlocks());
    assertEquals(0, match.blocks("nobody"));
  }

  @Test
  void shouldReuseOneMatchObjectAcrossLookups() {
    apply("a", stored(E1, 1, 10, 11, 12));
    PrefixMatch match = new PrefixMatch(index);
    long[] chain = {10, 11, 12, 13};
    index.longestPrefix(chain, 2, match);
    assertEquals(2, match.blocks("a"));
    index.longestPrefix(chain, 4, match);
    assertEquals(3, match.blocks("a"));
  }

  @Test
  void shouldKeepAHashUntilItsLastHolderRemovesIt() {
    apply("a", stored(E1, 1, 10, 11));
    apply("b", stored(E1, 1, 10));
    assertEquals(2, index.distinctHashes());
    assertEquals(3, index.entries());

    apply("a", removed(E1, 2, 10));
    assertTrue(index.holds("b", 10));
    assertFalse(index.holds("a", 10));
    assertEquals(2, index.distinctHashes());

    apply("b", removed(E1, 2, 10));
    assertEquals(1, index.distinctHashes());
    assertEquals(1, index.entries());
    assertEquals(Map.of("a", 0, "b", 0), index.longestPrefix(new long[] {10, 11}).toMap());
  }

  @Test
  void shouldIgnoreAStoreOfAHashTheWorkerAlreadyHoldsAndARemoveOfOneItDoesNot() {
    apply("a", stored(E1, 1, 10), stored(E1, 2, 10), removed(E1, 3, 77));
    assertEquals(1, index.entries());
    assertEquals(1, index.blocksOf("a"));
  }

  @Test
  void shouldFollowAWorkerThatStartsAtSequenceOneWithoutASnapshot() {
    assertEquals(SyncStatus.IN_SYNC, apply("a", stored(E1, 1, 10), stored(E1, 2, 11)));
    assertEquals(2, index.lastSeqOf("a"));
    assertEquals(E1, index.epochOf("a", -1));
  }

  @Test
  void shouldAskForASnapshotOnAGapAndKeepApplyingEventsMeanwhile() {
    apply("a", stored(E1, 1, 10));
    assertEquals(SyncStatus.NEEDS_SNAPSHOT, apply("a", stored(E1, 3, 12)));
    assertEquals(SyncStatus.AWAITING_SNAPSHOT, apply("a", stored(E1, 4, 13)));
    assertEquals(SyncStatus.AWAITING_SNAPSHOT, index.statusOf("a"));
    assertTrue(index.holds("a", 12));
    assertTrue(index.holds("a", 13));
    assertEquals(List.of("a"), index.workersAwaitingSnapshot());
    assertEquals(1, index.stats().gaps());
  }

  @Test
  void shouldAskForASnapshotWhenTheFirstEventSeenIsMidStream() {
    assertEquals(SyncStatus.NEEDS_SNAPSHOT, apply("a", stored(E1, 7, 10)));
  }

  @Test
  void shouldAskForASnapshotWhenANewEpochStartsMidStreamAndDropTheOldEntries() {
    apply("a", stored(E1, 1, 10, 11));
    assertEquals(SyncStatus.NEEDS_SNAPSHOT, apply("a", stored(E2, 5, 20)));
    assertFalse(index.holds("a", 10));
    assertTrue(index.holds("a", 20));
    assertEquals(E2, index.epochOf("a", -1));
    assertEquals(1, index.stats().epochChanges());
  }

  @Test
  void shouldFollowAFreshEpochFromSequenceOneWithoutASnapshot() {
    apply("a", stored(E1, 1, 10, 11));
    assertEquals(SyncStatus.IN_SYNC, apply("a", stored(E2, 1, 20)));
    assertEquals(1, index.entries());
    assertTrue(index.holds("a", 20));
  }

  @Test
  void shouldIgnoreLateEventsOfTheRetiredEpoch() {
    apply("a", stored(E1, 1, 10));
    apply("a", stored(E2, 1, 20));
    assertEquals(SyncStatus.IN_SYNC, apply("a", stored(E1, 2, 11)));
    assertFalse(index.holds("a", 11));
    assertEquals(E2, index.epochOf("a", -1));
    assertEquals(1, index.stats().staleEvents());
  }

  @Test
  void shouldIgnoreDuplicateEvents() {
    apply("a", stored(E1, 1, 10), removed(E1, 2, 10));
    assertEquals(SyncStatus.IN_SYNC, apply("a", stored(E1, 1, 10)));
    assertEquals(0, index.entries());
  }

  @Test
  void shouldBeExactAgainAfterAnAllClearedFollowingAGap() {
    apply("a", stored(E1, 1, 10));
    assertEquals(SyncStatus.IN_SYNC, apply("a", new KvEvent.AllCleared(E1, 5), stored(E1, 6, 30)));
    assertFalse(index.holds("a", 10));
    assertTrue(index.holds("a", 30));
  }

  @Test
  void shouldReplaceEntriesWithASnapshotAndReplayTheEventsKeptAfterIt() {
    apply("a", stored(E1, 1, 10, 11));
    apply("a", stored(E1, 4, 14)); // 2 and 3 lost: 2 stored 12, 3 removed 11
    apply("a", removed(E1, 5, 10));
    // the worker's set after event 3 was {10, 12}; events 4 and 5 are kept and replayed after it
    assertEquals(SyncStatus.IN_SYNC, index.applySnapshot(new KvSnapshot("a", E1, 3, new long[] {10, 12})));
    assertFalse(index.holds("a", 10));
    assertFalse(index.holds("a", 11));
    assertTrue(index.holds("a", 12));
    assertTrue(index.holds("a", 14));
    assertEquals(2, index.entries());
    assertEquals(5, index.lastSeqOf("a"));
    assertEquals(SyncStatus.IN_SYNC, apply("a", stored(E1, 6, 16)));
  }

  @Test
  void shouldSkipKeptEventsTheSnapshotAlreadyContains() {
    apply("a", stored(E1, 1, 10));
    apply("a", stored(E1, 3, 12), removed(E1, 4, 12), stored(E1, 5, 15));
    // a snapshot after event 4: {10, 11}; event 5 is replayed on it, 3 and 4 are not
    assertEquals(SyncStatus.IN_SYNC, index.applySnapshot("a", E1, 4, new long[] {10, 11}));
    assertEquals(3, index.entries());
    assertFalse(index.holds("a", 12));
    assertTrue(index.holds("a", 15));
    assertEquals(5, index.lastSeqOf("a"));
  }

  @Test
  void shouldStillNeedASnapshotWhenTheSnapshotIsOlderThanTheKeptEvents() {
    apply("a", stored(E1, 1, 10));
    apply("a", stored(E1, 5, 15));
    // a snapshot of event 2 leaves events 3 and 4 unknown
    assertEquals(SyncStatus.NEEDS_SNAPSHOT, index.applySnapshot("a", E1, 2, new long[] {10, 12}));
    assertTrue(index.holds("a", 12));
    assertTrue(index.holds("a", 15));
    assertEquals(SyncStatus.IN_SYNC, index.applySnapshot("a", E1, 4, new long[] {10, 12, 14}));
    assertEquals(4, index.entries());
  }

  @Test
  void shouldKeepOnlyTheLatestRunOfEventsWhenTheBufferOverflows() {
    KvIndex small = new KvIndex(2);
    small.apply("a", List.of(stored(E1, 1, 10)));
    small.apply("a", List.of(stored(E1, 3, 13), stored(E1, 4, 14), stored(E1, 5, 15)));
    // kept: events 5 only (the run restarted when it could not grow): a snapshot of 3 does not cover 4
    assertEquals(SyncStatus.NEEDS_SNAPSHOT, small.applySnapshot("a", E1, 3, new long[] {10, 12, 13}));
    assertEquals(SyncStatus.IN_SYNC, small.applySnapshot("a", E1, 4, new long[] {10, 12, 13, 14}));
    assertTrue(small.holds("a", 15));
    assertEquals(5, small.entries());
  }

  @Test
  void shouldIgnoreASnapshotOlderThanWhatAnExactWorkerHas() {
    apply("a", stored(E1, 1, 10), stored(E1, 2, 11));
    assertEquals(SyncStatus.IN_SYNC, index.applySnapshot("a", E1, 1, new long[] {10}));
    assertTrue(index.holds("a", 11));
    assertEquals(0, index.stats().snapshotsApplied());
  }

  @Test
  void shouldTakeASnapshotOfANewEpochAsTheWorkersWholeState() {
    apply("a", stored(E1, 1, 10));
    assertEquals(SyncStatus.IN_SYNC, index.applySnapshot("a", E2, 9, new long[] {20, 21}));
    assertFalse(index.holds("a", 10));
    assertEquals(E2, index.epochOf("a", -1));
    assertEquals(SyncStatus.IN_SYNC, apply("a", stored(E2, 10, 22)));
    assertEquals(SyncStatus.IN_SYNC, apply("a", stored(E1, 2, 11))); // the retired epoch: ignored
    assertEquals(3, index.entries());
  }

  @Test
  void shouldRegisterAWorkerFromItsFirstSnapshot() {
    assertEquals(SyncStatus.IN_SYNC, index.applySnapshot(new KvSnapshot("a", E1, 40, new long[] {10, 11})));
    assertEquals(SyncStatus.IN_SYNC, apply("a", stored(E1, 41, 12)));
    assertEquals(3, index.longestPrefix(new long[] {10, 11, 12}).blocks("a"));
  }

  @Test
  void shouldDropEveryEntryOfAWorkerThatLeavesAndReuseItsSlot() {
    apply("a", stored(E1, 1, 10, 11));
    apply("b", stored(E1, 1, 10));
    int slotOfA = index.slotOf("a");

    assertTrue(index.removeWorker("a"));

    assertFalse(index.hasWorker("a"));
    assertEquals(1, index.distinctHashes());
    assertEquals(1, index.entries());
    assertEquals(Map.of("b", 1), index.longestPrefix(new long[] {10, 11}).toMap());
    assertFalse(index.removeWorker("a"));
    apply("c", stored(E1, 1, 11));
    assertEquals(slotOfA, index.slotOf("c"));
    assertFalse(index.holds("c", 10));
    assertEquals(0, index.longestPrefix(new long[] {10, 11}).blocks("c"));
  }

  @Test
  void shouldServeMoreThan64Workers() {
    for (int w = 0; w < 130; w++) {
      long[] chain = new long[w % 5 + 1];
      for (int b = 0; b < chain.length; b++) {
        chain[b] = 100 + b;
      }
      apply("w" + w, stored(E1, 1, chain));
    }
    PrefixMatch match = index.longestPrefix(new long[] {100, 101, 102, 103, 104, 105});
    for (int w = 0; w < 130; w++) {
      assertEquals(w % 5 + 1, match.blocks("w" + w), "w" + w);
    }
    assertEquals(5, index.distinctHashes());
    index.removeWorker("w129");
    assertEquals(4, index.longestPrefix(new long[] {100, 101, 102, 103, 104}).blocks("w128"));
  }

  @Test
  void shouldCountEventsGapsAndSnapshotsInItsStats() {
    apply("a", stored(E1, 1, 10), stored(E1, 3, 12));
    index.applySnapshot("a", E1, 3, new long[] {10, 12});
    apply("b", stored(E1, 1, 10));
    index.removeWorker("b");
    assertEquals(new KvIndexStats(1, 2, 2, 3, 0, 1, 0, 1, 0, 1), index.stats());
  }

  @Test
  void shouldMatchTheChainsAWorkerCachesWhenTheGatewayHashesTheSamePrompt() {
    int block = 4;
    BlockHasher hasher = new BlockHasher(HashExtra.base("tiny", "f32"), block);
    BlockPool pool = new BlockPool(8, block, E1);
    KvCacheManager worker = new KvCacheManager(pool, hasher);
    GrowingTokens prompt = GrowingTokens.range(1, 15); // 14 tokens: three full blocks and a partial one
    worker.computedPrefix(1, prompt);
    worker.allocateSlots(1, prompt, 0, prompt.numTokens());
    worker.cacheFullBlocks(1, prompt, prompt.numTokens());
    List<KvEvent> events = new ArrayList<>();
    pool.events().drainTo(events);
    index.apply(KvEventBatch.of("w", events));

    long[] chain = hasher.hashFullBlocks(prompt.prefix(14));
    assertEquals(3, chain.length);
    assertEquals(3, index.longestPrefix(chain).blocks("w"));
    long[] longer = hasher.hashFullBlocks(GrowingTokens.range(1, 30).prefix(29));
    assertEquals(3, index.longestPrefix(longer).blocks("w"));
    long[] other = hasher.hashFullBlocks(GrowingTokens.range(2, 30).prefix(28));
    assertEquals(0, index.longestPrefix(other).blocks("w"));
  }

  @Test
  void shouldSnapshotAPoolAtItsLastSequenceNumber() {
    int block = 4;
    BlockHasher hasher = new BlockHasher(HashExtra.base("tiny", "f32"), block);
    BlockPool pool = new BlockPool(8, block, E1);
    KvCacheManager worker = new KvCacheManager(pool, hasher);
    GrowingTokens prompt = GrowingTokens.range(1, 10);
    worker.computedPrefix(1, prompt);
    worker.allocateSlots(1, prompt, 0, prompt.numTokens());
    worker.cacheFullBlocks(1, prompt, prompt.numTokens());

    KvSnapshot snapshot = KvSnapshot.of("w", pool);

    assertEquals(E1, snapshot.epoch());
    assertEquals(pool.lastSeq(), snapshot.seq());
    long[] sorted = snapshot.blockHashes().clone();
    java.util.Arrays.sort(sorted);
    long[] expected = hasher.hashFullBlocks(prompt.prefix(9));
    java.util.Arrays.sort(expected);
    assertArrayEquals(expected, sorted);
    index.applySnapshot(snapshot);
    assertSame(SyncStatus.IN_SYNC, index.statusOf("w"));
    assertEquals(2, index.longestPrefix(hasher.hashFullBlocks(prompt.prefix(9))).blocks("w"));
  }
}
