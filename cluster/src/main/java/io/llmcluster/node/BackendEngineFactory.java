package io.llmcluster.node;

import io.llmcluster.worker.actor.EngineFactory;
import io.llmcluster.worker.actor.LoadedEngine;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.cuda.CudaBackendOptions;
import io.llmcluster.worker.cuda.CudaQuantization;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.model.ModelDirectory;

/**
 * An engine on the backend {@code --device} picks (CPU or CUDA): weights loaded, KV pool sized, one warm-up
 * step (all in the backend's constructor), then the engine thread. The model directory stays open: it belongs
 * to the caller.
 */
public record BackendEngineFactory(ModelDirectory model, DeviceChoice device, CpuBackendOptions options,
                                   EngineConfig config, CudaQuantization cudaQuantization) implements EngineFactory {
    /** A CUDA backend quantizes as the CPU options say (llmcluster.cpu.quantize = int8: per output channel). */
    public BackendEngineFactory(ModelDirectory model, DeviceChoice device, CpuBackendOptions options, EngineConfig config) {
        this(model, device, options, config,
                options.quantizeInt8() ? CudaQuantization.int8PerChannel() : CudaQuantization.NONE);
    }

    /** The CPU backend only (tests, and nodes without a GPU). */
    public static BackendEngineFactory cpu(ModelDirectory model, CpuBackendOptions options, EngineConfig config) {
        return new BackendEngineFactory(model, DeviceChoice.CPU, options, config);
    }

    @Override
    public LoadedEngine start(java.util.function.Consumer<java.util.List<io.llmcluster.kv.KvEvent>> kvEvents) {
        ModelBackend backend = device.open(model, options, () -> CudaBackendOptions.defaults()
                .withMaxSequences(config.maxNumSeqs())
                .withKvCacheDtype(options.kvCacheDtype())
                .withMaxBatchTokens(config.maxNumBatchedTokens()) // else the CUDA default (512) caps the step budget
                .withQuantization(cudaQuantization));
        try {
            Engine engine = new Engine(model, backend, config, kvEvents);
            return new LoadedEngine(engine, backend.describe(), config, backend);
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }
}
