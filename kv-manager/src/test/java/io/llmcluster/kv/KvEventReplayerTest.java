package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.agrona.collections.LongHashSet;
import org.junit.jupiter.api.Test;

class KvEventReplayerTest {
  private final KvEventReplayer replayer = new KvEventReplayer();

  private static LongHashSet set(long... hashes) {
    LongHashSet set = new LongHashSet();
    for (long h : hashes) {
      set.add(h);
    }
    return set;
  }

  @Test
  void shouldAddStoredAndDropRemovedHashes() {
    assertEquals(KvEventReplayer.Outcome.APPLIED,
        replayer.apply(new KvEvent.BlockStored(9, 1, 0, new long[] {1, 2, 3}, 4)));
    assertEquals(KvEventReplayer.Outcome.APPLIED, replayer.apply(new KvEvent.BlockRemoved(9, 2, new long[] {2})));
    assertEquals(set(1, 3), replayer.hashes());
    assertEquals(2, replayer.lastSeq());
    assertTrue(replayer.inSync());
  }

  @Test
  void shouldIgnoreADuplicateEvent() {
    replayer.apply(new KvEvent.BlockStored(9, 1, 0, new long[] {1}, 4));
    replayer.apply(new KvEvent.BlockRemoved(9, 2, new long[] {1}));
    assertEquals(KvEventReplayer.Outcome.STALE, replayer.apply(new KvEvent.BlockStored(9, 1, 0, new long[] {1}, 4)));
    assertEquals(0, replayer.size());
  }

  @Test
  void shouldFlagAGapUntilAllClearedMakesTheSetExactAgain() {
    replayer.apply(new KvEvent.BlockStored(9, 1, 0, new long[] {1}, 4));
    assertEquals(KvEventReplayer.Outcome.APPLIED_AFTER_GAP,
        replayer.apply(new KvEvent.BlockStored(9, 3, 0, new long[] {5}, 4)));
    assertFalse(replayer.inSync());
    assertEquals(1, replayer.gapCount());
    replayer.apply(new KvEvent.AllCleared(9, 4));
    assertTrue(replayer.inSync());
    assertEquals(0, replayer.size());
  }

  @Test
  void shouldStartOverWhenThePoolEpochChanges() {
    replayer.apply(new KvEvent.BlockStored(9, 1, 0, new long[] {1}, 4));
    assertEquals(KvEventReplayer.Outcome.APPLIED,
        replayer.apply(new KvEvent.BlockStored(10, 1, 0, new long[] {7}, 4)));
    assertEquals(set(7), replayer.hashes());
    assertEquals(10, replayer.epoch());
    assertTrue(replayer.inSync());
  }

  @Test
  void shouldReplayAPoolsEventsToItsCachedSet() {
    BlockPool pool = new BlockPool(2, 4, 3);
    KvCacheManager manager = new KvCacheManager(pool, new BlockHasher(HashExtra.base("m", "f32"), 4));
    GrowingTokens tokens = GrowingTokens.range(0, 9);
    manager.allocateSlots(1, tokens, 0, 8);
    manager.cacheFullBlocks(1, tokens, 8);
    manager.free(1);
    manager.allocateSlots(2, GrowingTokens.range(100, 104), 0, 4);
    List<KvEvent> events = new ArrayList<>();
    pool.events().drainTo(events);
    replayer.applyAll(events);
    assertEquals(pool.cachedHashes(), replayer.hashes());
    assertEquals(1, replayer.size());
  }
}
