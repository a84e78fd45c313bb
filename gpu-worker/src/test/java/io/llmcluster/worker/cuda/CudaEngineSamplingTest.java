package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The engine's GPU sampling path ({@link CudaBackend#forwardPlain}: the argmax or the device sampler, only ids back)
 * against its host path (all logits to the host sampler) on the same backend: the same greedy tokens, batched.
 */
@RequiresCuda
class CudaEngineSamplingTest {
    private static final SamplingParams GREEDY_32 = SamplingParams.builder().temperature(0).maxTokens(32).ignoreEos(true).build();

    private ModelDirectory model;
    private CudaBackend cuda;

    @BeforeEach
    void open() {
        model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
        cuda = new CudaBackend(model, CudaBackendOptions.defaults().withKvCacheBytes(8L << 20).withMaxBatchTokens(256));
    }

    @AfterEach
    void close() {
        cuda.close();
        model.close();
    }

    /** The CUDA backend without its forwardPlain: the interface's default, forward + the host sampler. */
    private record HostSampling(CudaBackend inner) implements ModelBackend {
        @Override public MemorySegment forward(ForwardBatch b) { return inner.forward(b); }
        @Override public int vocabSize() { return inner.vocabSize(); }
        @Override public int numKvBlocks() { return inner.numKvBlocks(); }
        @Override public int kvBlockSize() { return inner.kvBlockSize(); }
        @Override public int maxBatchTokens() { return inner.maxBatchTokens(); }
        @Override public int maxSequences() { return inner.maxSequences(); }
        @Override public String describe() { return "host sampling over " + inner.describe(); }
        @Override public void close() {}
    }

    private static List<int[]> prompts() throws Exception {
        List<int[]> prompts = new ArrayList<>();
        ReferenceRecord.load("tiny-llama").prompts().forEach(p -> prompts.add(p.inputIds()));
        Random r = new Random(17);
        while (prompts.size() < 24) {
            int[] p = new int[1 + r.nextInt(120)];
            for (int i = 0; i < p.length; i++) {
                p[i] = r.nextInt(507);
            }
            prompts.add(p);
        }
        return prompts;
    }

    private List<int[]> generate(ModelBackend backend, List<int[]> prompts, SamplingParams params) throws Exception {
        try (Engine e = new Engine(model, backend, EngineConfig.defaults().withMaxNumBatchedTokens(128).withPrefixCaching(false))) {
            List<CudaEngineTest.Tokens> all = new ArrayList<>();
            for (int[] p : prompts) {
                CudaEngineTest.Tokens t = new CudaEngineTest.Tokens();
                e.submit(p, params, t);
                all.add(t);
            }
            List<int[]> out = new ArrayList<>();
            for (CudaEngineTest.Tokens t : all) {
                out.add(t.await());
            }
            return out;
        }
    }

    @Test
    void shouldGiveTheHostSamplersGreedyTokensWhenTheGpuPicksThem() throws Exception {
        List<int[]> prompts = prompts();
        List<int[]> host = generate(new HostSampling(cuda), prompts, GREEDY_32);
        List<int[]> gpu = generate(cuda, prompts, GREEDY_32);
        for (int i = 0; i < prompts.size(); i++) {
            assertEquals(32, host.get(i).length);
            assertArrayEquals(host.get(i), gpu.get(i), "prompt " + i);
        }
    }

    @Test
    void shouldDrawTheArgmaxThroughTheDeviceSamplerWhenTopKIsOne() throws Exception {
        List<int[]> prompts = prompts().subList(0, 8);
        List<int[]> greedy = generate(cuda, prompts, GREEDY_32);
        SamplingParams top1 = GREEDY_32.toBuilder().temperature(0.7).topK(1).build(); // unseeded: the device sampler
        List<int[]> drawn = generate(cuda, prompts, top1);
        for (int i = 0; i < prompts.size(); i++) {
            assertArrayEquals(greedy.get(i), drawn.get(i), "prompt " + i);
        }
    }
}
