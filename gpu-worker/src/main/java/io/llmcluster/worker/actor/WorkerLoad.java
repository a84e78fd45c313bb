package io.llmcluster.worker.actor;

import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.EngineStats;

/**
 * A worker's state and load, as the HTTP layer (health, metrics, admin) and later the router see it.
 *
 * @param inFlight           sequences admitted and not yet finished (running and waiting in the engine)
 * @param maxInFlight        admission limit: beyond it requests are refused as queue full
 * @param maxModelLen        tokens one sequence may hold, prompt plus output (0 until READY)
 * @param backendDescription the backend, one line (empty until READY)
 * @param config             the engine's scheduling limits (null until READY)
 * @param engine             the engine's last snapshot ({@code EngineStats} with zeros until READY)
 * @param cancels            sequences cancelled so far (client gone or timed out)
 * @param lastCancelAtStep   the engine's step count read right after the last cancel was queued (-1: none
 *                           yet): the engine frees that request's blocks before step {@code lastCancelAtStep + 2}
 */
// kvEpoch, kvBlockSize: the engine's KV pool epoch and tokens per block (0 before the engine started)
public record WorkerLoad(String workerId, WorkerState state, int inFlight, int maxInFlight,
                         int maxModelLen, String backendDescription, EngineConfig config, EngineStats engine,
                         long cancels, long lastCancelAtStep, long kvEpoch, int kvBlockSize) {
    public boolean isReady() {
        return state == WorkerState.READY;
    }
}
