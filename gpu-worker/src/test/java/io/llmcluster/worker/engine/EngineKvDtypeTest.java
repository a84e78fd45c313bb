package io.llmcluster.worker.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import org.junit.jupiter.api.Test;

/** The engine names its blocks by the backend's KV dtype, so INT8 and FP32 caches never share a block hash. */
class EngineKvDtypeTest {
    @Test
    void shouldHashBlocksWithTheBackendsKvDtype() {
        try (ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
             CpuBackend fp32 = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(1).withKvCacheBytes(1 << 20));
             CpuBackend int8 = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(1).withKvCacheBytes(1 << 20)
                     .withKvCacheDtype(KvCacheDtype.INT8))) {
            try (Engine plain = new Engine(model, fp32, EngineConfig.defaults())) {
                assertEquals("fp32", plain.hashExtra().kvDtype());
                assertEquals(model.modelId(), plain.hashExtra().modelId());
            }
            try (Engine quantized = new Engine(model, int8, EngineConfig.defaults())) {
                assertEquals("int8", quantized.hashExtra().kvDtype());
            }
        }
    }
}
