package io.llmcluster.kv;

import java.util.Arrays;
import java.util.Objects;
import org.agrona.collections.LongHashSet;

/**
 * A worker's whole set of cached block hashes as of its pool's event {@code seq} of {@code epoch}: the reply to a
 * {@link KvSnapshotRequest}. Taken on the engine thread between steps, so it matches the events exactly: every
 * event with a sequence number up to {@code seq} is in it, none after.
 *
 * @param blockHashes owned by the snapshot, in no particular order
 */
public record KvSnapshot(String workerId, long epoch, long seq, long[] blockHashes) {
  public KvSnapshot {
    Objects.requireNonNull(workerId, "workerId");
    Objects.requireNonNull(blockHashes, "blockHashes");
  }

  /** The snapshot of {@code pool} now (on the thread that owns the pool). */
  public static KvSnapshot of(String workerId, BlockPool pool) {
    LongHashSet cached = pool.cachedHashes();
    long[] hashes = new long[cached.size()];
    int i = 0;
    for (LongHashSet.LongIterator it = cached.iterator(); it.hasNext(); ) {
      hashes[i++] = it.nextValue();
    }
    return new KvSnapshot(workerId, pool.epoch(), pool.lastSeq(), hashes);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof KvSnapshot s && workerId.equals(s.workerId) && epoch == s.epoch && seq == s.seq
        && Arrays.equals(blockHashes, s.blockHashes);
  }

  @Override
  public int hashCode() {
    return (workerId.hashCode() * 31 + Long.hashCode(seq)) * 31 + Arrays.hashCode(blockHashes);
  }

  @Override
  public String toString() {
    return "KvSnapshot[worker=" + workerId + ", epoch=" + epoch + ", seq=" + seq + ", blocks=" + blockHashes.length
        + "]";
  }
}
