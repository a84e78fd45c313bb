package io.llmcluster.kv;

import java.util.Objects;

/**
 * A directory replica's request for a worker's {@link KvSnapshot}, sent when {@link KvIndex} reports
 * {@link KvIndex.SyncStatus#NEEDS_SNAPSHOT}. The reply goes to the sender (the actor layer adds the reply
 * address); the known epoch and sequence number are for the worker's log and the admin view only.
 *
 * @param knownEpoch the epoch the replica follows (0 when it has seen none)
 * @param knownSeq   the last sequence number it applied in that epoch
 */
public record KvSnapshotRequest(String workerId, long knownEpoch, long knownSeq) {
  public KvSnapshotRequest {
    Objects.requireNonNull(workerId, "workerId");
  }
}
