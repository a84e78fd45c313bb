package io.llmcluster.cluster.worker;

import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.worker.engine.EngineStats;
import java.util.Locale;
import java.util.Objects;

/**
 * What a worker node publishes about each of its workers every report interval (a cross-node message on the
 * {@code worker-reports} topic, serialized with Kryo): the router's {@link WorkerLoad} plus what the gateway and
 * the admin API need.
 *
 * @param load           the routing policy's view: its {@code freeBlocks} are the blocks the {@link Batcher} could
 *                       still reserve for a new request (0 while requests queue there), {@code waiting} counts the
 *                       engine's waiting sequences and those queued in the batcher
 * @param state          starting, ready, draining, failed
 * @param inFlight       sequences admitted (running plus waiting in the engine)
 * @param maxInFlight    the worker's admission limit
 * @param usedBlocks     KV blocks in use in the engine
 * @param prefixHitRate  prompt tokens served from the prefix cache / prompt tokens looked up
 * @param steps          engine steps so far
 * @param backend        the backend's description
 * @param maxModelLen    tokens one sequence may hold there, prompt plus output
 * @param reservedBlocks KV blocks the batcher has reserved for the requests it admitted
 * @param queued         requests waiting in the batcher for room
 */
public record WorkerReport(WorkerLoad load, String state, int inFlight, int maxInFlight, int usedBlocks,
                           double prefixHitRate, long steps, String backend, int maxModelLen, int reservedBlocks,
                           int queued) {
    public WorkerReport {
        Objects.requireNonNull(load, "load");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(backend, "backend");
    }

    /**
     * The batcher's side of a report.
     *
     * @param admittableBlocks  blocks a new request could reserve now
     * @param reservedBlocks    blocks reserved by the requests admitted
     * @param queuedRequests    requests waiting for room
     * @param queuedSequences   their sequences
     * @param draining          the batcher takes no new requests
     */
    public record Admission(int admittableBlocks, int reservedBlocks, int queuedRequests, int queuedSequences,
                            boolean draining) {}

    /**
     * The report of a started worker, or null while it has no engine (nothing to route to).
     *
     * @param l the {@code GpuWorker}'s own load answer
     * @param a its batcher's admission state
     */
    public static WorkerReport of(io.llmcluster.worker.actor.WorkerLoad l, Admission a) {
        if (l.config() == null || l.kvBlockSize() <= 0) {
            return null;
        }
        EngineStats s = l.engine();
        boolean draining = a.draining() || l.state() == io.llmcluster.worker.actor.WorkerState.DRAINING;
        WorkerLoad load = new WorkerLoad(l.workerId(), l.kvEpoch(), s.running(), s.waiting() + a.queuedSequences(), -1,
                Math.max(0, a.admittableBlocks()), s.totalBlocks(), l.kvBlockSize(), l.config().maxNumBatchedTokens(),
                s.prefillTokensPerSecond(), s.decodeTokensPerSecond(), draining);
        String state = draining ? "draining" : l.state().name().toLowerCase(Locale.ROOT);
        return new WorkerReport(load, state, l.inFlight(), l.maxInFlight(), s.usedBlocks(), s.prefixHitRate(),
                s.steps(), l.backendDescription(), l.maxModelLen(), a.reservedBlocks(), a.queuedRequests());
    }
}
