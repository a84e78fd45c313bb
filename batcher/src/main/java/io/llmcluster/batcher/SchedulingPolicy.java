package io.llmcluster.batcher;

/** The order in which the {@link Scheduler} admits waiting requests and picks preemption victims. */
public enum SchedulingPolicy {
    /**
     * First come, first served: waiting requests in the order they were added (a preempted one goes back to
     * the front); the victim is the most recently admitted running request.
     */
    FCFS,
    /**
     * By {@code (priority, arrival)}, a lower priority value first; the victim is the running request with the
     * largest {@code (priority, arrival)}. A waiting request may preempt running ones of a strictly larger
     * priority value to be admitted.
     */
    PRIORITY
}
