package io.llmcluster.worker.actor;

/** Where a {@link GpuWorker} is in its life. */
public enum WorkerState {
    /** Loading the model and warming up; requests are refused as not ready. */
    STARTING,
    /** Serving. */
    READY,
    /** Finishing the requests in flight; new ones are refused. */
    DRAINING,
    /** The engine could not start; the worker stops (and its node with it). */
    FAILED
}
