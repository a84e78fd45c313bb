package io.llmcluster.kv;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.agrona.collections.IntArrayList;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.collections.Object2IntHashMap;

/**
 * The cluster-wide KV directory: which worker holds which block hash, rebuilt from the workers'
 * {@link KvEventBatch}es and {@link KvSnapshot}s, and asked for the longest cached prefix of a prompt's hash
 * chain per worker. Plain single-threaded policy (the KvDirectory actor's), no locks.
 *
 * <p><b>Layout.</b> Each registered worker gets a <i>slot</i> (0, 1, ...; reused after the worker leaves). Each
 * distinct hash held by any worker gets a <i>row</i>: {@code rowOf: Long2LongHashMap} maps the hash to the row,
 * and the row is a bitset of slots, {@code words} longs in one flat {@code long[]} (one long for up to 64
 * workers; it grows when more register). A row whose bitset empties is freed and its hash unmapped. So memory
 * is one map entry plus {@code 8 * words} bytes per distinct hash, and no object per entry.
 *
 * <p><b>Lookup.</b> {@link #longestPrefix} walks the chain once, one map probe per block, and ANDs each row into
 * the set of workers still matching; a worker leaves that set at its first miss, and the walk stops when the
 * set is empty. It allocates nothing (the result object is the caller's to reuse).
 *
 * <p><b>Consistency.</b> Per worker the index follows one pool epoch and the last applied sequence number. The
 * index is <i>exact</i> for a worker when it has applied every event of the epoch from sequence 1, or a
 * snapshot and every event after it. It needs a snapshot when that breaks:
 * <ul>
 *   <li>the first event seen from a worker has {@code seq > 1} (this replica joined mid-stream);</li>
 *   <li>a sequence number skips (a lost event: a full {@link KvEventQueue}, a lost message);</li>
 *   <li>a new epoch starts at {@code seq > 1}. A new epoch that starts at 1 is a fresh, empty pool described
 *       from its beginning: its old entries are dropped and the new stream followed, with no snapshot
 *       (one would be redundant).</li>
 * </ul>
 * While waiting for the snapshot the index still applies the events (best effort, so routing keeps working)
 * and keeps the contiguous run of events since the gap (at most {@link #DEFAULT_BUFFERED_EVENTS}). A snapshot
 * of sequence {@code s} replaces the worker's entries and replays the kept events after {@code s}; it makes
 * the worker exact again when those events cover everything from {@code s + 1}, else the status stays
 * {@link SyncStatus#NEEDS_SNAPSHOT}. An {@code AllCleared} also makes a worker exact. Events of a worker's
 * previous epoch that arrive late are ignored (epochs are compared for equality only: they are clock values of
 * different JVMs and not ordered).
 */
public final class KvIndex {
  /** Where a worker's entries stand after an update. */
  public enum SyncStatus {
    /** Exact: nothing to do. */
    IN_SYNC,
    /** A gap was found (or a snapshot did not close one): ask the worker for a snapshot now. */
    NEEDS_SNAPSHOT,
    /** A snapshot was already asked for; events are applied and kept until it comes. */
    AWAITING_SNAPSHOT
  }

  /** Events kept per worker while a snapshot is awaited, by default. */
  public static final int DEFAULT_BUFFERED_EVENTS = 4096;
  private static final long NO_ROW = -1;

  private final int maxBufferedEvents;
  private final Long2LongHashMap rowOf = new Long2LongHashMap(1 << 12, 0.6f, NO_ROW);
  private final Object2IntHashMap<String> slotOf = new Object2IntHashMap<>(-1);
  private final IntArrayList freeRows = new IntArrayList();
  private final IntArrayList freeSlots = new IntArrayList();
  private Worker[] workers = new Worker[64];
  private int words = 1;
  private long[] masks = new long[1024];
  private long[] rowHash = new long[1024];
  private int rowsUsed;
  private long[] activeSlots = new long[1];
  private long[] alive = new long[1];
  private long entries;
  private long eventsApplied;
  private long staleEvents;
  private long gaps;
  private long epochChanges;
  private long snapshotsApplied;
  private long workersRemoved;

  public KvIndex() {
    this(DEFAULT_BUFFERED_EVENTS);
  }

  /** An index that keeps at most {@code maxBufferedEvents} events per worker while awaiting a snapshot. */
  public KvIndex(int maxBufferedEvents) {
    if (maxBufferedEvents <= 0) {
      throw new IllegalArgumentException("maxBufferedEvents must be positive: " + maxBufferedEvents);
    }
    this.maxBufferedEvents = maxBufferedEvents;
  }

  // ---- updates -------------------------------------------------------------------------------------------

  /** Applies a worker's batch of events in order; registers the worker on its first batch. */
  public SyncStatus apply(KvEventBatch batch) {
    return apply(batch.workerId(), Arrays.asList(batch.events()));
  }

  /** Applies {@code events} of {@code workerId} in order; registers the worker on its first events. */
  public SyncStatus apply(String workerId, List<? extends KvEvent> events) {
    Worker w = register(workerId);
    boolean newGap = false;
    for (int i = 0, n = events.size(); i < n; i++) {
      newGap |= applyEvent(w, events.get(i));
    }
    return newGap ? SyncStatus.NEEDS_SNAPSHOT : w.status();
  }

  /** @return true when this event opened a gap (the caller must ask for a snapshot) */
  private boolean applyEvent(Worker w, KvEvent e) {
    boolean gap = false;
    if (!w.started) {
      w.start(e.epoch());
      gap = e.seq() != 1;
    } else if (e.epoch() != w.epoch) {
      if (w.hasRetiredEpoch && e.epoch() == w.retiredEpoch) {
        staleEvents++;
        return false;
      }
      epochChanges++;
      clearWorker(w);
      w.retire();
      w.start(e.epoch());
      gap = e.seq() != 1;
      if (!gap) {
        w.inSync();
      }
    } else if (e.seq() <= w.lastSeq) {
      staleEvents++;
      return false;
    } else {
      gap = e.seq() != w.lastSeq + 1;
    }
    if (gap) {
      gaps++;
      w.awaitFrom(e.seq());
    }
    w.lastSeq = e.seq();
    applyChange(w, e);
    eventsApplied++;
    if (e instanceof KvEvent.AllCleared) {
      w.inSync();
    } else if (w.awaiting) {
      w.keep(e, maxBufferedEvents);
    }
    return gap && w.awaiting; // an AllCleared right after the gap already made the worker exact
  }

  private void applyChange(Worker w, KvEvent e) {
    switch (e) {
      case KvEvent.BlockStored stored -> {
        for (long hash : stored.blockHashes()) {
          add(w, hash);
        }
      }
      case KvEvent.BlockRemoved removed -> {
        for (long hash : removed.blockHashes()) {
          remove(w, hash);
        }
      }
      case KvEvent.AllCleared cleared -> clearWorker(w);
    }
  }

  /** Applies a worker's snapshot (see the class comment for when it makes the worker exact). */
  public SyncStatus applySnapshot(KvSnapshot snapshot) {
    return applySnapshot(snapshot.workerId(), snapshot.epoch(), snapshot.seq(), snapshot.blockHashes());
  }

  /**
   * Replaces {@code workerId}'s entries with {@code hashes}, its pool's state as of event {@code seq} of
   * {@code epoch}, then replays the events kept since the gap that come after {@code seq}. A snapshot older
   * than what an exact worker already has, or of the worker's previous epoch, is ignored. Registers an
   * unknown worker (a replica may ask every worker for a snapshot when it starts).
   */
  public SyncStatus applySnapshot(String workerId, long epoch, long seq, long[] hashes) {
    Worker w = register(workerId);
    boolean sameEpoch = w.started && epoch == w.epoch;
    if (sameEpoch && !w.awaiting && seq <= w.lastSeq
        || w.started && !sameEpoch && w.hasRetiredEpoch && epoch == w.retiredEpoch) {
      return w.status();
    }
    snapshotsApplied++;
    clearWorker(w);
    for (long hash : hashes) {
      add(w, hash);
    }
    if (!sameEpoch) {
      if (w.started) {
        epochChanges++;
        w.retire();
      }
      w.start(epoch);
      w.lastSeq = seq;
      w.inSync();
      return SyncStatus.IN_SYNC;
    }
    boolean covered = !w.awaiting || seq >= w.lastSeq || seq >= w.keptFromSeq - 1;
    List<KvEvent> kept = w.kept;
    for (int i = 0, n = kept.size(); i < n; i++) {
      if (kept.get(i).seq() > seq) {
        applyChange(w, kept.get(i));
      }
    }
    w.lastSeq = Math.max(w.lastSeq, seq);
    if (covered) {
      w.inSync();
      return SyncStatus.IN_SYNC;
    }
    return SyncStatus.NEEDS_SNAPSHOT;
  }

  /**
   * Drops every entry of {@code workerId} and forgets it (it left the cluster or became unreachable). A later
   * event or snapshot of that id registers it again: the actor drops messages of workers that are not members.
   */
  public boolean removeWorker(String workerId) {
    int slot = slotOf.getValue(workerId);
    if (slot < 0) {
      return false;
    }
    clearWorker(workers[slot]);
    workers[slot] = null;
    slotOf.removeKey(workerId);
    activeSlots[slot >>> 6] &= ~(1L << slot);
    freeSlots.addInt(slot);
    workersRemoved++;
    return true;
  }

  // ---- lookup --------------------------------------------------------------------------------------------

  /** A new result of {@link #longestPrefix(long[], int, PrefixMatch)} over the whole {@code chain}. */
  public PrefixMatch longestPrefix(long[] chain) {
    PrefixMatch match = new PrefixMatch(this);
    longestPrefix(chain, chain.length, match);
    return match;
  }

  /**
   * Fills {@code out} with, for every registered worker, how many leading blocks of {@code chain[0..length)}
   * it holds: the walk stops at a worker's first miss. Allocates nothing once {@code out} has grown to the
   * number of slots. The result is valid until the index next changes.
   */
  public void longestPrefix(long[] chain, int length, PrefixMatch out) {
    if (out.index != this) {
      throw new IllegalArgumentException("the match belongs to another index");
    }
    out.reset(words << 6);
    boolean any = false;
    for (int w = 0; w < words; w++) {
      alive[w] = activeSlots[w];
      any |= alive[w] != 0;
    }
    int i = 0;
    for (; any && i < length; i++) {
      long row = rowOf.get(chain[i]);
      if (row == NO_ROW) {
        break;
      }
      any = false;
      int base = (int) row * words;
      for (int w = 0; w < words; w++) {
        long before = alive[w];
        long after = before & masks[base + w];
        out.setBlocks(w, before & ~after, i);
        alive[w] = after;
        any |= after != 0;
      }
    }
    for (int w = 0; w < words; w++) {
      out.setBlocks(w, alive[w], i);
    }
  }

  // ---- queries and stats ---------------------------------------------------------------------------------

  /** The slot of a registered worker, or -1. */
  public int slotOf(String workerId) {
    return slotOf.getValue(workerId);
  }

  /** Whether the index knows {@code workerId} (it has sent events or a snapshot and has not been removed). */
  public boolean hasWorker(String workerId) {
    return slotOf.getValue(workerId) >= 0;
  }

  /** Whether {@code workerId} holds {@code blockHash} according to the index. */
  public boolean holds(String workerId, long blockHash) {
    int slot = slotOf.getValue(workerId);
    long row = rowOf.get(blockHash);
    return slot >= 0 && row != NO_ROW && (masks[(int) row * words + (slot >>> 6)] & (1L << slot)) != 0;
  }

  /** How many block hashes {@code workerId} holds (0 for an unknown worker). */
  public int blocksOf(String workerId) {
    int slot = slotOf.getValue(workerId);
    return slot < 0 ? 0 : workers[slot].blocks;
  }

  /** The pool epoch the index follows for {@code workerId}, or {@code defaultEpoch} if it follows none. */
  public long epochOf(String workerId, long defaultEpoch) {
    int slot = slotOf.getValue(workerId);
    return slot < 0 || !workers[slot].started ? defaultEpoch : workers[slot].epoch;
  }

  /** The last sequence number applied for {@code workerId} (0 for none). */
  public long lastSeqOf(String workerId) {
    int slot = slotOf.getValue(workerId);
    return slot < 0 ? 0 : workers[slot].lastSeq;
  }

  /** Where {@code workerId}'s entries stand; {@code IN_SYNC} for an unknown worker (it holds nothing). */
  public SyncStatus statusOf(String workerId) {
    int slot = slotOf.getValue(workerId);
    return slot < 0 ? SyncStatus.IN_SYNC : workers[slot].status();
  }

  /** The workers awaiting a snapshot (for the actor's retry timer), in slot order. */
  public List<String> workersAwaitingSnapshot() {
    List<String> out = new ArrayList<>();
    for (Worker w : workers) {
      if (w != null && w.awaiting) {
        out.add(w.id);
      }
    }
    return out;
  }

  /** The registered workers, in slot order. */
  public List<String> workers() {
    List<String> out = new ArrayList<>();
    for (Worker w : workers) {
      if (w != null) {
        out.add(w.id);
      }
    }
    return out;
  }

  /** Distinct hashes held by at least one worker. */
  public int distinctHashes() {
    return rowOf.size();
  }

  /** (worker, hash) pairs. */
  public long entries() {
    return entries;
  }

  public KvIndexStats stats() {
    return new KvIndexStats(slotOf.size(), rowOf.size(), entries, eventsApplied, staleEvents, gaps,
        epochChanges, snapshotsApplied, workersAwaitingSnapshot().size(), workersRemoved);
  }

  // ---- rows and slots ------------------------------------------------------------------------------------

  private Worker register(String workerId) {
    Objects.requireNonNull(workerId, "workerId");
    int slot = slotOf.getValue(workerId);
    if (slot >= 0) {
      return workers[slot];
    }
    slot = freeSlots.isEmpty() ? slotOf.size() : freeSlots.removeAt(freeSlots.size() - 1);
    if (slot >= words << 6) {
      growWords();
    }
    if (slot >= workers.length) {
      workers = Arrays.copyOf(workers, workers.length * 2);
    }
    Worker w = new Worker(workerId, slot);
    workers[slot] = w;
    slotOf.put(workerId, slot);
    activeSlots[slot >>> 6] |= 1L << slot;
    return w;
  }

  private void growWords() {
    int newWords = words + 1;
    long[] grown = new long[(masks.length / words) * newWords];
    for (int row = 0; row < rowsUsed; row++) {
      System.arraycopy(masks, row * words, grown, row * newWords, words);
    }
    masks = grown;
    words = newWords;
    activeSlots = Arrays.copyOf(activeSlots, newWords);
    alive = new long[newWords];
  }

  private void add(Worker w, long hash) {
    long row = rowOf.get(hash);
    if (row == NO_ROW) {
      row = newRow(hash);
    }
    int at = (int) row * words + (w.slot >>> 6);
    long bit = 1L << w.slot;
    if ((masks[at] & bit) == 0) {
      masks[at] |= bit;
      w.blocks++;
      entries++;
    }
  }

  private void remove(Worker w, long hash) {
    long row = rowOf.get(hash);
    if (row == NO_ROW) {
      return;
    }
    int at = (int) row * words + (w.slot >>> 6);
    long bit = 1L << w.slot;
    if ((masks[at] & bit) != 0) {
      masks[at] &= ~bit;
      w.blocks--;
      entries--;
      freeRowIfEmpty((int) row);
    }
  }

  /** Clears {@code w}'s bit in every row: O(rows), done on leave, epoch change and snapshot. */
  private void clearWorker(Worker w) {
    if (w.blocks == 0) {
      return;
    }
    int word = w.slot >>> 6;
    long bit = 1L << w.slot;
    for (int row = 0; row < rowsUsed && w.blocks > 0; row++) {
      int at = row * words + word;
      if ((masks[at] & bit) != 0) {
        masks[at] &= ~bit;
        w.blocks--;
        entries--;
        freeRowIfEmpty(row);
      }
    }
  }

  private int newRow(long hash) {
    int row;
    if (!freeRows.isEmpty()) {
      row = freeRows.removeAt(freeRows.size() - 1);
    } else {
      row = rowsUsed++;
      if (row >= rowHash.length) {
        rowHash = Arrays.copyOf(rowHash, rowHash.length * 2);
        masks = Arrays.copyOf(masks, rowHash.length * words);
      }
    }
    rowHash[row] = hash;
    rowOf.put(hash, row);
    return row;
  }

  private void freeRowIfEmpty(int row) {
    int base = row * words;
    for (int w = 0; w < words; w++) {
      if (masks[base + w] != 0) {
        return;
      }
    }
    rowOf.remove(rowHash[row]);
    freeRows.addInt(row);
  }

  /** One worker's stream state. */
  private static final class Worker {
    final String id;
    final int slot;
    final List<KvEvent> kept = new ArrayList<>();
    int blocks;
    boolean started;
    long epoch;
    long lastSeq;
    boolean hasRetiredEpoch;
    long retiredEpoch;
    boolean awaiting;
    long keptFromSeq;

    Worker(String id, int slot) {
      this.id = id;
      this.slot = slot;
    }

    void start(long newEpoch) {
      started = true;
      epoch = newEpoch;
      lastSeq = 0;
    }

    void retire() {
      hasRetiredEpoch = true;
      retiredEpoch = epoch;
    }

    /** A gap before {@code seq}: await a snapshot, keeping the events from {@code seq} on. */
    void awaitFrom(long seq) {
      awaiting = true;
      kept.clear();
      keptFromSeq = seq;
    }

    void keep(KvEvent e, int max) {
      if (kept.size() >= max) { // the kept run cannot grow: start it again here
        kept.clear();
        keptFromSeq = e.seq();
      }
      kept.add(e);
    }

    void inSync() {
      awaiting = false;
      kept.clear();
    }

    SyncStatus status() {
      return awaiting ? SyncStatus.AWAITING_SNAPSHOT : SyncStatus.IN_SYNC;
    }
  }
}
