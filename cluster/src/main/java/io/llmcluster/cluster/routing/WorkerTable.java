package io.llmcluster.cluster.routing;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The routers' view of the workers: each one's last load report plus what was routed to it since (reserved KV
 * blocks, prompt tokens, requests), so a burst between two reports does not all land on one worker. The next
 * report replaces the lot. Workers are kept sorted by id, so every scan is in a deterministic order.
 */
final class WorkerTable {
  /** One worker's report and the reservations made since. */
  static final class Entry {
    WorkerLoad load;
    int reservedBlocks;
    long addedPendingTokens;
    int addedWaiting;
    /** Counts this worker's reports: a reservation made on an older one is already gone. */
    long reportEpoch;
    /** Its place in the id order, for round robin. */
    int position;

    int freeBlocks() {
      return load.freeBlocks() - reservedBlocks;
    }
  }

  private final Map<String, Entry> byId = new HashMap<>();
  private Entry[] sorted = new Entry[0];
  private double medianPrefillRate;
  private double medianDecodeRate;

  void update(WorkerLoad load) {
    Entry e = byId.get(load.workerId());
    if (e == null) {
      e = new Entry();
      byId.put(load.workerId(), e);
      e.load = load;
      resort();
    }
    e.load = load;
    e.reportEpoch++;
    e.reservedBlocks = 0;
    e.addedPendingTokens = 0;
    e.addedWaiting = 0;
    medianPrefillRate = median(true);
    medianDecodeRate = median(false);
  }

  /** Adds a route's footprint and prompt work to {@code e} and returns what was added. */
  static Reservation reserve(Entry e, int blocks, long pendingTokens) {
    e.reservedBlocks += blocks;
    e.addedPendingTokens += pendingTokens;
    e.addedWaiting++;
    return new Reservation(e.load.workerId(), e.reportEpoch, blocks, pendingTokens);
  }

  /** Takes a reservation back if it was made on the worker's current report; false if it no longer counted. */
  boolean release(Reservation r) {
    Entry e = byId.get(r.workerId());
    if (e == null || e.reportEpoch != r.reportEpoch()) {
      return false;
    }
    e.reservedBlocks = Math.max(0, e.reservedBlocks - r.blocks());
    e.addedPendingTokens = Math.max(0, e.addedPendingTokens - r.pendingTokens());
    e.addedWaiting = Math.max(0, e.addedWaiting - 1);
    return true;
  }

  boolean remove(String workerId) {
    if (byId.remove(workerId) == null) {
      return false;
    }
    resort();
    medianPrefillRate = median(true);
    medianDecodeRate = median(false);
    return true;
  }

  Entry get(String workerId) {
    return byId.get(workerId);
  }

  /** The workers in id order (do not change the array). */
  Entry[] sorted() {
    return sorted;
  }

  /** The median measured prefill rate over the workers that measured one, 0 if none has. */
  double medianPrefillRate() {
    return medianPrefillRate;
  }

  /** The median measured decode rate over the workers that measured one, 0 if none has. */
  double medianDecodeRate() {
    return medianDecodeRate;
  }

  /** KV blocks a request of {@code tokens} tokens holds on a worker with {@code blockSizeTokens}. */
  static int blocksFor(long tokens, int blockSizeTokens) {
    return (int) ((tokens + blockSizeTokens - 1) / blockSizeTokens);
  }

  private void resort() {
    sorted = byId.values().toArray(new Entry[0]);
    Arrays.sort(sorted, (a, b) -> a.load.workerId().compareTo(b.load.workerId()));
    for (int i = 0; i < sorted.length; i++) {
      sorted[i].position = i;
    }
  }

  private double median(boolean prefill) {
    double[] rates = new double[sorted.length];
    int n = 0;
    for (Entry e : sorted) {
      double r = WorkerLoad.measured(prefill ? e.load.prefillTokensPerSecond() : e.load.decodeTokensPerSecond());
      if (r > 0) {
        rates[n++] = r;
      }
    }
    if (n == 0) {
      return 0;
    }
    Arrays.sort(rates, 0, n);
    return n % 2 == 1 ? rates[n / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2;
  }
}
