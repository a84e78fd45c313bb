package io.llmcluster.kv;

/**
 * A snapshot of a {@link KvIndex}'s counters, for the admin view and metrics.
 *
 * @param workers                  registered workers
 * @param distinctHashes           hashes held by at least one worker
 * @param entries                  (worker, hash) pairs
 * @param eventsApplied            events applied since start (stale ones not counted)
 * @param staleEvents              duplicates, older events and events of a retired epoch: ignored
 * @param gaps                     times a worker's stream was found missing events (or joined mid-stream)
 * @param epochChanges             times a worker's pool was replaced (a restart)
 * @param snapshotsApplied         snapshots that replaced a worker's entries
 * @param workersAwaitingSnapshot  workers whose entries may be inexact until their snapshot comes
 * @param workersRemoved           workers dropped (left the cluster, unreachable)
 */
public record KvIndexStats(int workers, int distinctHashes, long entries, long eventsApplied, long staleEvents,
    long gaps, long epochChanges, long snapshotsApplied, int workersAwaitingSnapshot, long workersRemoved) {}
