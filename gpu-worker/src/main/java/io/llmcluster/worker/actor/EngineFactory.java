package io.llmcluster.worker.actor;

import io.llmcluster.kv.KvEvent;
import java.util.List;
import java.util.function.Consumer;

/**
 * Builds a worker's engine: loads the model, sizes the KV pool and warms the backend up. The
 * {@link GpuWorker} runs it on a thread of its own and serves requests only once it returns.
 */
@FunctionalInterface
public interface EngineFactory {
    /**
     * @param kvEvents the engine's KV event sink (its constructor's): called on the engine thread after each
     *                 step with a list it reuses; it must copy what it keeps and never block
     */
    LoadedEngine start(Consumer<List<KvEvent>> kvEvents) throws Exception;
}
