package io.llmcluster.worker.actor;

/**
 * Builds a worker's engine: loads the model, sizes the KV pool and warms the backend up. The
 * {@link GpuWorker} runs it on a thread of its own and serves requests only once it returns.
 */
@FunctionalInterface
public interface EngineFactory {
    LoadedEngine start() throws Exception;
}
