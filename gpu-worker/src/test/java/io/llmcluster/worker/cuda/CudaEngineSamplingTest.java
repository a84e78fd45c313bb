package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import io.llmcluster.worker.sample.PlainRows;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The engine's GPU sampling path ({@link CudaBackend#forwardPlain}: the argmax or the device sampler, only ids back)
 * against its host path (all logits to the host sampler) on the same backend: the same greedy tokens, batched. Both
 * runs must plan the same steps: the backend's numerics depend on a step's shape (GEMV for 1-2 tokens, cuBLAS and
 * autotuned kernels by token bucket), so a different batch can flip a near-tie, which the first device run of this
 * test saw (prompt 16, token 27) when the engine started its first step while the prompts were still being
 * submitted. So each run holds its first step until every prompt is queued.
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

    /**
     * The CUDA backend whose first step waits at a gate; with {@code gpuSampling} false, without its forwardPlain (the
     * interface's default: forward + the host sampler).
     */
    private record Gated(CudaBackend inner, boolean gpuSampling, CountDownLatch entered, CountDownLatch open)
            implements ModelBackend {
        private void gate() {
            entered.countDown();
            try {
                assertTrue(open.await(60, TimeUnit.SECONDS), "the gate was never opened");
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public MemorySegment forward(ForwardBatch b) {
            gate();
            return inner.forward(b);
        }

        @Override
        public void forwardPlain(ForwardBatch b, PlainRows rows, int[] out) {
            if (gpuSampling) {
                gate();
                inner.forwardPlain(b, rows, out);
            } else {
                ModelBackend.super.forwardPlain(b, rows, out);
            }
        }

        @Override public int vocabSize() { return inner.vocabSize(); }
        @Override public int numKvBlocks() { return inner.numKvBlocks(); }
        @Override public int kvBlockSize() { return inner.kvBlockSize(); }
        @Override public int maxBatchTokens() { return inner.maxBatchTokens(); }
        @Override public int maxSequences() { return inner.maxSequences(); }
        @Override public String describe() { return "gated " + inner.describe(); }
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

    /**
     * Runs the prompts through an engine on the gated backend: a first request enters its step and waits at the gate
     * while all prompts are queued, so the steps after it are planned from the same queue in every run.
     */
    private List<int[]> generate(boolean gpuSampling, List<int[]> prompts, SamplingParams params) throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch open = new CountDownLatch(1);
        Gated backend = new Gated(cuda, gpuSampling, entered, open);
        try (Engine e = new Engine(model, backend, EngineConfig.defaults().withMaxNumBatchedTokens(128).withPrefixCaching(false))) {
            CudaEngineTest.Tokens first = new CudaEngineTest.Tokens();
            e.submit(new int[] {1, 2, 3}, params, first);
            assertTrue(entered.await(60, TimeUnit.SECONDS), "the first step never started");
            List<CudaEngineTest.Tokens> all = new ArrayList<>();
            for (int[] p : prompts) {
                CudaEngineTest.Tokens t = new CudaEngineTest.Tokens();
                e.submit(p, params, t);
                all.add(t);
            }
            open.countDown(); // every submit above is already a queued command: the next step is planned from all of them
            List<int[]> out = new ArrayList<>();
            out.add(first.await());
            for (CudaEngineTest.Tokens t : all) {
                out.add(t.await());
            }
            return out;
        }
    }

    @Test
    void shouldGiveTheHostSamplersGreedyTokensWhenTheGpuPicksThem() throws Exception {
        List<int[]> prompts = prompts();
        List<int[]> host = generate(false, prompts, GREEDY_32);
        List<int[]> gpu = generate(true, prompts, GREEDY_32);
        for (int i = 0; i < host.size(); i++) {
            assertEquals(32, host.get(i).length);
            assertArrayEquals(host.get(i), gpu.get(i), "prompt " + i);
        }
    }

    @Test
    void shouldDrawTheArgmaxThroughTheDeviceSamplerWhenTopKIsOne() throws Exception {
        List<int[]> prompts = prompts().subList(0, 8);
        List<int[]> greedy = generate(true, prompts, GREEDY_32);
        SamplingParams top1 = GREEDY_32.toBuilder().temperature(0.7).topK(1).build(); // unseeded: the device sampler
        List<int[]> drawn = generate(true, prompts, top1);
        for (int i = 0; i < greedy.size(); i++) {
            assertArrayEquals(greedy.get(i), drawn.get(i), "prompt " + i);
        }
    }
}
