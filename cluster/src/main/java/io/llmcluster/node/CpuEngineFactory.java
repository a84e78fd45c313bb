package io.llmcluster.node;

import io.llmcluster.worker.actor.EngineFactory;
import io.llmcluster.worker.actor.LoadedEngine;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.model.ModelDirectory;

/**
 * An engine on the CPU backend: weights paged in, KV pool sized, one warm-up step (all in the backend's
 * constructor), then the engine thread. The model directory stays open: it belongs to the caller.
 */
public record CpuEngineFactory(ModelDirectory model, CpuBackendOptions options, EngineConfig config)
        implements EngineFactory {
    @Override
    public LoadedEngine start(java.util.function.Consumer<java.util.List<io.llmcluster.kv.KvEvent>> kvEvents) {
        CpuBackend backend = new CpuBackend(model, options);
        try {
            Engine engine = new Engine(model, backend, config, kvEvents);
            return new LoadedEngine(engine, backend.describe(), config, backend);
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }
}
