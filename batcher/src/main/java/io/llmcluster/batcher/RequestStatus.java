package io.llmcluster.batcher;

/**
 * Where a {@link Request} is in the {@link Scheduler}. A preempted request is {@link #WAITING} again (with
 * {@code numPreemptions > 0}); there is no prefill or decode status: those are counters, see {@link Scheduler}.
 */
public enum RequestStatus {
    /** In the waiting queue, holding no KV blocks: not yet admitted, or preempted. */
    WAITING,
    /** Admitted: holds KV blocks and is scheduled every step while the token budget and the pool allow. */
    RUNNING,
    /** Done, with a {@link FinishReason}; holds no KV blocks and is no longer known to the scheduler. */
    FINISHED
}
