package io.llmcluster.cluster.worker;

import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.worker.engine.EngineStats;
import java.util.Locale;
import java.util.Objects;

/**
 * What a worker node publishes about each of its workers every report interval (a cross-node message on the
 * {@code worker-reports} topic, serialized with Kryo): the router's {@link WorkerLoad} plus what the admin API
 * shows.
 *
 * @param load          the routing policy's view (free blocks, rates, draining)
 * @param state         loading, ready, draining, failed
 * @param inFlight      sequences admitted (running plus waiting)
 * @param maxInFlight   the worker's admission limit
 * @param usedBlocks    KV blocks in use
 * @param prefixHitRate prompt tokens served from the prefix cache / prompt tokens looked up
 * @param steps         engine steps so far
 * @param backend       the backend's description
 */
public record WorkerReport(WorkerLoad load, String state, int inFlight, int maxInFlight, int usedBlocks,
                           double prefixHitRate, long steps, String backend) {
    public WorkerReport {
        Objects.requireNonNull(load, "load");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(backend, "backend");
    }

    /**
     * The report of a started worker's load, or null while it has no engine (nothing to route to).
     *
     * @param l the {@code GpuWorker}'s own load answer
     */
    public static WorkerReport of(io.llmcluster.worker.actor.WorkerLoad l) {
        if (l.config() == null || l.kvBlockSize() <= 0) {
            return null;
        }
        EngineStats s = l.engine();
        boolean draining = l.state() == io.llmcluster.worker.actor.WorkerState.DRAINING;
        WorkerLoad load = new WorkerLoad(l.workerId(), l.kvEpoch(), s.running(), s.waiting(), -1, s.freeBlocks(),
                s.totalBlocks(), l.kvBlockSize(), l.config().maxNumBatchedTokens(), s.prefillTokensPerSecond(),
                s.decodeTokensPerSecond(), draining);
        return new WorkerReport(load, l.state().name().toLowerCase(Locale.ROOT), l.inFlight(), l.maxInFlight(),
                s.usedBlocks(), s.prefixHitRate(), s.steps(), l.backendDescription());
    }
}
