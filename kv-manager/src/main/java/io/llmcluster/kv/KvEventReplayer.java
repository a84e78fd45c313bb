package io.llmcluster.kv;

import java.util.List;
import org.agrona.collections.LongHashSet;

/**
 * Rebuilds one pool's set of cached block hashes from its {@link KvEvent} stream: the tests' oracle now, the
 * per-worker state of the cluster's KV directory later.
 *
 * <p>Within an epoch events must come in sequence order. An event of another epoch means the pool was
 * replaced: the set is cleared and the new epoch followed. A sequence number below the next expected one is a
 * duplicate and ignored; one above it means events were lost: the event is still applied but the set may now
 * hold stale hashes or miss some, so {@link #inSync()} turns false until an {@code AllCleared} makes it exact
 * again (the directory would ask the worker for a snapshot instead of waiting).
 */
public final class KvEventReplayer {
  /** What {@link #apply} did with an event. */
  public enum Outcome {
    /** The next event in order: applied. */
    APPLIED,
    /** Applied, but events before it were lost. */
    APPLIED_AFTER_GAP,
    /** A duplicate or an older event: ignored. */
    STALE
  }

  private final LongHashSet hashes = new LongHashSet();
  private boolean started;
  private long epoch;
  private long lastSeq;
  private boolean inSync = true;
  private long gapCount;

  /** Applies every event of {@code events} in order. */
  public void applyAll(List<? extends KvEvent> events) {
    for (KvEvent event : events) {
      apply(event);
    }
  }

  /** Applies {@code event} to the set, checking its epoch and sequence number. */
  public Outcome apply(KvEvent event) {
    if (!started || event.epoch() != epoch) {
      startEpoch(event.epoch());
    } else if (event.seq() <= lastSeq) {
      return Outcome.STALE;
    }
    boolean gap = event.seq() != lastSeq + 1;
    if (gap) {
      gapCount++;
      inSync = false;
    }
    lastSeq = event.seq();
    applyChange(event);
    return gap ? Outcome.APPLIED_AFTER_GAP : Outcome.APPLIED;
  }

  private void startEpoch(long newEpoch) {
    started = true;
    epoch = newEpoch;
    lastSeq = 0;
    hashes.clear();
    inSync = true;
  }

  private void applyChange(KvEvent event) {
    switch (event) {
      case KvEvent.BlockStored stored -> {
        for (long hash : stored.blockHashes()) {
          hashes.add(hash);
        }
      }
      case KvEvent.BlockRemoved removed -> {
        for (long hash : removed.blockHashes()) {
          hashes.remove(hash);
        }
      }
      case KvEvent.AllCleared cleared -> {
        hashes.clear();
        inSync = true;
      }
    }
  }

  /** Whether the pool (as far as the events tell) holds {@code blockHash}. */
  public boolean contains(long blockHash) {
    return hashes.contains(blockHash);
  }

  /** A copy of the replayed set of hashes. */
  public LongHashSet hashes() {
    LongHashSet copy = new LongHashSet();
    copy.addAll(hashes);
    return copy;
  }

  public int size() {
    return hashes.size();
  }

  public long epoch() {
    return epoch;
  }

  public long lastSeq() {
    return lastSeq;
  }

  /** False after a lost event until an {@code AllCleared}: the set may then differ from the pool's. */
  public boolean inSync() {
    return inSync;
  }

  /** How many times events were found missing. */
  public long gapCount() {
    return gapCount;
  }
}
