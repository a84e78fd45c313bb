package io.llmcluster.worker.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** The engine names its blocks by the backend's KV dtype; the CPU backend refuses an INT8 cache clearly. */
class EngineKvDtypeTest {
    @Test
    void shouldHashBlocksWithTheBackendsKvDtype() {
        try (ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
             CpuBackend cpu = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(1).withKvCacheBytes(1 << 20))) {
            try (Engine plain = new Engine(model, cpu, EngineConfig.defaults())) {
                assertEquals("fp32", plain.hashExtra().kvDtype());
                assertEquals(model.modelId(), plain.hashExtra().modelId());
            }
            try (Engine int8 = new Engine(model, reportingInt8(cpu), EngineConfig.defaults())) {
                assertEquals("int8", int8.hashExtra().kvDtype());
            }
        }
    }

    @Test
    void shouldRefuseAnInt8CacheOnTheCpuBackend() {
        try (ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CpuBackend(model,
                    CpuBackendOptions.defaults().withThreads(1).withKvCacheDtype(KvCacheDtype.INT8)));
            assertEquals("--kv-cache-dtype int8 needs the CUDA backend (--device cuda); the CPU backend keeps its KV cache "
                    + "in FP32: use --kv-cache-dtype auto", e.getMessage());
        }
    }

    /** The CPU backend as a backend whose cache is INT8 (what a CUDA backend with --kv-cache-dtype int8 reports). */
    private static ModelBackend reportingInt8(CpuBackend inner) {
        return new ModelBackend() {
            @Override
            public MemorySegment forward(ForwardBatch batch) {
                return inner.forward(batch);
            }

            @Override
            public int vocabSize() {
                return inner.vocabSize();
            }

            @Override
            public int numKvBlocks() {
                return inner.numKvBlocks();
            }

            @Override
            public int kvBlockSize() {
                return inner.kvBlockSize();
            }

            @Override
            public int maxBatchTokens() {
                return inner.maxBatchTokens();
            }

            @Override
            public KvCacheDtype kvCacheDtype() {
                return KvCacheDtype.INT8;
            }

            @Override
            public String describe() {
                return inner.describe();
            }

            @Override
            public void close() {
            }
        };
    }
}
