package io.llmcluster.kv;

import java.util.Arrays;

/**
 * A change to one pool's set of cached block hashes, as published to the cluster's KV directory.
 *
 * <p>Every event carries the pool's {@code epoch} (fixed for the pool's life; a new epoch means a new pool
 * whose earlier state is gone) and a sequence number that starts at 1 and grows by exactly one per event, so
 * a consumer detects a lost event as a gap (see {@link KvEventReplayer}). The publisher adds the worker's id.
 * Hash arrays are owned by the event: nobody may change them after it is emitted.
 */
public sealed interface KvEvent {
  /** The pool's epoch. */
  long epoch();

  /** This event's sequence number within the epoch, from 1, without gaps at the source. */
  long seq();

  /**
   * Blocks whose hashes became cached, in chain order: {@code blockHashes[0]}'s parent is {@code parentHash}
   * (the hasher's root for a chain's first block), each later hash's parent is the one before it.
   */
  record BlockStored(long epoch, long seq, long parentHash, long[] blockHashes, int blockSizeTokens)
      implements KvEvent {
    @Override
    public boolean equals(Object o) {
      return o instanceof BlockStored s && epoch == s.epoch && seq == s.seq && parentHash == s.parentHash
          && blockSizeTokens == s.blockSizeTokens && Arrays.equals(blockHashes, s.blockHashes);
    }

    @Override
    public int hashCode() {
      return Long.hashCode(seq) * 31 + Arrays.hashCode(blockHashes);
    }

    @Override
    public String toString() {
      return "BlockStored[epoch=" + epoch + ", seq=" + seq + ", parent=" + Long.toHexString(parentHash)
          + ", hashes=" + KvEvent.hex(blockHashes) + ", blockSizeTokens=" + blockSizeTokens + "]";
    }
  }

  /** Cached hashes that are gone (their blocks were reused for other data). */
  record BlockRemoved(long epoch, long seq, long[] blockHashes) implements KvEvent {
    @Override
    public boolean equals(Object o) {
      return o instanceof BlockRemoved r && epoch == r.epoch && seq == r.seq
          && Arrays.equals(blockHashes, r.blockHashes);
    }

    @Override
    public int hashCode() {
      return Long.hashCode(seq) * 31 + Arrays.hashCode(blockHashes);
    }

    @Override
    public String toString() {
      return "BlockRemoved[epoch=" + epoch + ", seq=" + seq + ", hashes=" + KvEvent.hex(blockHashes) + "]";
    }
  }

  /** Every cached hash of the pool is gone. */
  record AllCleared(long epoch, long seq) implements KvEvent {}

  private static String hex(long[] hashes) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < hashes.length; i++) {
      sb.append(i == 0 ? "" : ", ").append(Long.toHexString(hashes[i]));
    }
    return sb.append(']').toString();
  }
}
