package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.kv.KvIndex.SyncStatus;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Random event streams from simulated workers (stores of prompt chains, removals, clears, restarts with a new
 * epoch, lost and duplicated batches, leaves) into a {@link KvIndex}, checked against a naive model: each
 * worker's true {@code Set<Long>} of hashes. Whenever the index says a worker is exact and the worker's last
 * event reached it, the index's entries for it equal the worker's set; every longest-prefix answer equals a
 * naive walk; after the final snapshots every worker is exact.
 */
class KvIndexPropertyTest {
  private static final int PROMPTS = 12;
  private static final int CHAIN = 16;

  /** One simulated worker: its true set and its event stream. */
  private static final class SimWorker {
    final String id;
    final Set<Long> truth = new HashSet<>();
    long epoch;
    long seq;
    long lastDeliveredSeq;

    SimWorker(String id, long epoch) {
      this.id = id;
      this.epoch = epoch;
    }

    boolean lastEventDelivered() {
      return lastDeliveredSeq == seq;
    }
  }

  private record Pending(int dueStep, KvSnapshot snapshot) {}

  private static long hash(int prompt, int block) {
    return prompt * 1_000L + block + 1;
  }

  @Test
  void shouldMatchTheNaiveModelOnRandomStreamsWithLossDuplicatesRestartsAndLeaves() {
    for (long seed = 1; seed <= 12; seed++) {
      run(seed, 1500);
    }
  }

  private void run(long seed, int steps) {
    Random rnd = new Random(seed);
    KvIndex index = new KvIndex(rnd.nextBoolean() ? 8 : KvIndex.DEFAULT_BUFFERED_EVENTS);
    Map<String, SimWorker> workers = new HashMap<>();
    ArrayDeque<Pending> pending = new ArrayDeque<>();
    int nextWorker = 0;
    for (int i = 0; i < 4; i++, nextWorker++) {
      workers.put("w" + nextWorker, new SimWorker("w" + nextWorker, rnd.nextLong()));
    }
    for (int step = 0; step < steps; step++) {
      deliverDueSnapshots(index, workers, pending, step, rnd);
      int roll = rnd.nextInt(100);
      if (roll < 2 && workers.size() > 1) { // a worker leaves
        String gone = new ArrayList<>(workers.keySet()).get(rnd.nextInt(workers.size()));
        workers.remove(gone);
        index.removeWorker(gone);
        assertEquals(0, index.blocksOf(gone));
      } else if (roll < 4) { // a worker joins
        String id = "w" + nextWorker++;
        workers.put(id, new SimWorker(id, rnd.nextLong()));
      } else {
        SimWorker w = new ArrayList<>(workers.values()).get(rnd.nextInt(workers.size()));
        List<KvEvent> batch = emit(w, rnd);
        boolean lost = rnd.nextInt(100) < 6;
        if (!lost) {
          w.lastDeliveredSeq = w.seq;
          maybeAskForSnapshot(index.apply(KvEventBatch.of(w.id, batch)), w, pending, step, rnd);
          if (rnd.nextInt(100) < 5) { // delivered twice
            index.apply(KvEventBatch.of(w.id, batch));
          }
        }
      }
      checkExactWorkers(index, workers, seed, step);
      checkPrefixes(index, workers, rnd);
    }
    settle(index, workers, rnd);
    for (SimWorker w : workers.values()) {
      assertEquals(SyncStatus.IN_SYNC, index.statusOf(w.id), "seed " + seed);
      assertEquals(w.truth, entriesOf(index, w.id), "seed " + seed + " worker " + w.id);
    }
    assertEquals(workers.values().stream().mapToLong(w -> w.truth.size()).sum(), index.entries());
    KvIndexStats stats = index.stats();
    assertTrue(stats.gaps() > 0 && stats.snapshotsApplied() > 0 && stats.epochChanges() > 0
        && stats.staleEvents() > 0 && stats.workersRemoved() > 0, "the run exercised every path: " + stats);
  }

  /** One to four events of a worker; a restart (new, empty pool) now and then. */
  private static List<KvEvent> emit(SimWorker w, Random rnd) {
    if (rnd.nextInt(100) < 2) {
      w.epoch = rnd.nextLong();
      w.seq = 0;
      w.truth.clear();
    }
    List<KvEvent> batch = new ArrayList<>();
    for (int n = 1 + rnd.nextInt(4); n > 0; n--) {
      int kind = rnd.nextInt(100);
      if (kind < 60) {
        int prompt = rnd.nextInt(PROMPTS);
        int from = rnd.nextInt(CHAIN);
        int to = from + 1 + rnd.nextInt(CHAIN - from);
        long[] hashes = new long[to - from];
        for (int b = from; b < to; b++) {
          hashes[b - from] = hash(prompt, b);
          w.truth.add(hashes[b - from]);
        }
        batch.add(new KvEvent.BlockStored(w.epoch, ++w.seq, 0, hashes, 16));
      } else if (kind < 97) {
        List<Long> held = new ArrayList<>(w.truth);
        long[] hashes = new long[Math.min(held.size(), 1 + rnd.nextInt(6))];
        for (int i = 0; i < hashes.length; i++) {
          hashes[i] = held.remove(rnd.nextInt(held.size()));
          w.truth.remove(hashes[i]);
        }
        batch.add(new KvEvent.BlockRemoved(w.epoch, ++w.seq, hashes));
      } else {
        w.truth.clear();
        batch.add(new KvEvent.AllCleared(w.epoch, ++w.seq));
      }
    }
    return batch;
  }

  private static void maybeAskForSnapshot(SyncStatus status, SimWorker w, ArrayDeque<Pending> pending, int step,
      Random rnd) {
    if (status == SyncStatus.NEEDS_SNAPSHOT) { // taken now, delivered a few steps later
      long[] hashes = w.truth.stream().mapToLong(Long::longValue).toArray();
      pending.add(new Pending(step + rnd.nextInt(4), new KvSnapshot(w.id, w.epoch, w.seq, hashes)));
    }
  }

  private static void deliverDueSnapshots(KvIndex index, Map<String, SimWorker> workers,
      ArrayDeque<Pending> pending, int step, Random rnd) {
    for (int n = pending.size(); n > 0; n--) {
      Pending p = pending.poll();
      SimWorker w = workers.get(p.snapshot().workerId());
      if (w == null) {
        continue; // the worker left: the actor drops replies of non-members
      }
      if (p.dueStep() > step) {
        pending.add(p);
        continue;
      }
      maybeAskForSnapshot(index.applySnapshot(p.snapshot()), w, pending, step, rnd);
    }
  }

  /** Ends the run: one delivered event per worker (so trailing losses show), then snapshots until exact. */
  private static void settle(KvIndex index, Map<String, SimWorker> workers, Random rnd) {
    ArrayDeque<Pending> pending = new ArrayDeque<>();
    for (SimWorker w : workers.values()) {
      w.lastDeliveredSeq = ++w.seq;
      w.truth.add(hash(0, 0));
      KvEvent e = new KvEvent.BlockStored(w.epoch, w.seq, 0, new long[] {hash(0, 0)}, 16);
      maybeAskForSnapshot(index.apply(w.id, List.of(e)), w, pending, 0, rnd);
      if (index.statusOf(w.id) == SyncStatus.AWAITING_SNAPSHOT) {
        maybeAskForSnapshot(SyncStatus.NEEDS_SNAPSHOT, w, pending, 0, rnd); // the actor's retry timer
      }
    }
    for (int round = 0; !pending.isEmpty(); round++) {
      deliverDueSnapshots(index, workers, pending, Integer.MAX_VALUE, rnd);
      if (round > 10) {
        throw new AssertionError("snapshots do not converge");
      }
    }
  }

  private static void checkExactWorkers(KvIndex index, Map<String, SimWorker> workers, long seed, int step) {
    for (SimWorker w : workers.values()) {
      if (index.hasWorker(w.id) && index.statusOf(w.id) == SyncStatus.IN_SYNC && w.lastEventDelivered()
          && index.epochOf(w.id, 0) == w.epoch) {
        assertEquals(w.truth, entriesOf(index, w.id), "seed " + seed + " step " + step + " worker " + w.id);
      }
    }
  }

  /** Every answer equals a naive walk over the index's own entries. */
  private static void checkPrefixes(KvIndex index, Map<String, SimWorker> workers, Random rnd) {
    int prompt = rnd.nextInt(PROMPTS);
    long[] chain = new long[CHAIN];
    for (int b = 0; b < CHAIN; b++) {
      chain[b] = hash(prompt, b);
    }
    PrefixMatch match = index.longestPrefix(chain);
    int max = 0;
    for (String id : index.workers()) {
      int naive = 0;
      while (naive < CHAIN && index.holds(id, chain[naive])) {
        naive++;
      }
      assertEquals(naive, match.blocks(id), id);
      max = Math.max(max, naive);
    }
    assertEquals(max, match.maxBlocks());
  }

  private static Set<Long> entriesOf(KvIndex index, String worker) {
    Set<Long> out = new HashSet<>();
    for (int p = 0; p < PROMPTS; p++) {
      for (int b = 0; b < CHAIN; b++) {
        if (index.holds(worker, hash(p, b))) {
          out.add(hash(p, b));
        }
      }
    }
    return out;
  }
}
