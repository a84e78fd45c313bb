package io.llmcluster.batcher;

import io.llmcluster.kv.KvCacheStats;

/**
 * A snapshot of a {@link Scheduler} (for {@code WorkerLoad} and {@code /metrics}; allocates, so not per step).
 *
 * @param numRunning     requests holding KV blocks
 * @param numWaiting     requests waiting for admission, preempted ones included
 * @param numPreemptions preemptions since construction
 * @param numSteps       completed steps ({@link Scheduler#update} calls) since construction
 * @param kv             the KV pool: free blocks, prefix hit rate
 */
public record SchedulerStats(int numRunning, int numWaiting, long numPreemptions, long numSteps, KvCacheStats kv) {}
