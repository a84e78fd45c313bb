package io.llmcluster.worker.actor;

import java.util.HashSet;
import java.util.Set;

/**
 * A worker's admission policy and in-flight bookkeeping, single-threaded (the {@link GpuWorker} actor's).
 * A request of n sequences is admitted whole or not at all: refused while the engine starts or failed,
 * while draining, or when the sequences in flight plus n would pass the limit. A drain is complete once
 * nothing is in flight.
 */
final class Admission {
    /** The outcome of {@link #admit}. */
    enum Decision { ADMIT, NOT_READY, FAILED, DRAINING, QUEUE_FULL }

    private final int maxInFlight;
    private final Set<Long> inFlight = new HashSet<>();
    private final Set<Long> cancelling = new HashSet<>();
    private WorkerState state = WorkerState.STARTING;

    Admission(int maxInFlight) {
        this.maxInFlight = maxInFlight;
    }

    Decision admit(int sequences) {
        return switch (state) {
            case STARTING -> Decision.NOT_READY;
            case FAILED -> Decision.FAILED;
            case DRAINING -> Decision.DRAINING;
            case READY -> inFlight.size() + sequences > maxInFlight ? Decision.QUEUE_FULL : Decision.ADMIT;
        };
    }

    void started(long requestId) {
        inFlight.add(requestId);
    }

    /** @return true when the request was in flight (a second finish or an unknown id is ignored) */
    boolean finished(long requestId) {
        cancelling.remove(requestId);
        return inFlight.remove(requestId);
    }

    /** @return true the first time a request in flight is to be cancelled (a second cancel is a no-op) */
    boolean startCancel(long requestId) {
        return inFlight.contains(requestId) && cancelling.add(requestId);
    }

    boolean isInFlight(long requestId) {
        return inFlight.contains(requestId);
    }

    void ready() {
        if (state == WorkerState.STARTING) {
            state = WorkerState.READY;
        }
    }

    void failed() {
        state = WorkerState.FAILED;
    }

    /** Stops admitting; a worker that never became ready stays as it is. */
    void startDraining() {
        if (state == WorkerState.READY) {
            state = WorkerState.DRAINING;
        }
    }

    /** True while draining, or stopped short of serving, with nothing in flight. */
    boolean isDrained() {
        return state != WorkerState.READY && inFlight.isEmpty();
    }

    WorkerState state() {
        return state;
    }

    int inFlight() {
        return inFlight.size();
    }

    int maxInFlight() {
        return maxInFlight;
    }
}
