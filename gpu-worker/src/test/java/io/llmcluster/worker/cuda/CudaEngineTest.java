package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.engine.TokenSink;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The unchanged engine on the CUDA backend (its steps run on the engine thread, which takes the context over):
 * transformers' greedy continuations, and batching, preemption and prefix hits never change greedy output.
 */
@RequiresCuda
class CudaEngineTest {
    private static final SamplingParams GREEDY_32 = SamplingParams.builder().temperature(0).maxTokens(32).ignoreEos(true).build();

    private ModelDirectory model;
    private CudaBackend backend;
    private Engine engine;

    private void start(long kvBytes, EngineConfig config) {
        model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
        backend = new CudaBackend(model, CudaBackendOptions.defaults().withKvCacheBytes(kvBytes).withMaxBatchTokens(256));
        engine = new Engine(model, backend, config);
    }

    @AfterEach
    void stop() {
        if (engine != null) {
            engine.close();
            engine = null;
        }
        if (backend != null) {
            backend.close();
            backend = null;
        }
        if (model != null) {
            model.close();
            model = null;
        }
    }

    /** Gathers one request's tokens. */
    static final class Tokens implements TokenSink {
        final List<Integer> ids = new ArrayList<>();
        final CompletableFuture<FinishReason> done = new CompletableFuture<>();

        @Override
        public synchronized void onChunk(TokenChunk chunk) {
            if (chunk.tokenId() >= 0) {
                ids.add(chunk.tokenId());
            }
            if (chunk.isLast()) {
                done.complete(chunk.finishReason());
            }
        }

        int[] await() throws Exception {
            done.get(120, TimeUnit.SECONDS);
            synchronized (this) {
                return ids.stream().mapToInt(Integer::intValue).toArray();
            }
        }
    }

    private int[] run(int[] prompt) throws Exception {
        Tokens t = new Tokens();
        engine.submit(prompt, GREEDY_32, t);
        return t.await();
    }

    @Test
    void shouldReproduceTransformersGreedyContinuationThroughTheEngine() throws Exception {
        start(8L << 20, EngineConfig.defaults());
        for (ReferenceRecord.Prompt p : ReferenceRecord.load("tiny-llama").prompts()) {
            Tokens t = new Tokens();
            engine.submit(p.inputIds(), GREEDY_32, t);
            assertArrayEquals(p.greedyIds(), t.await());
            assertEquals(FinishReason.LENGTH, t.done.get());
        }
    }

    @Test
    void shouldGiveIdenticalGreedyOutputsAloneInABatchAfterPreemptionAndWithAPrefixHit() throws Exception {
        List<int[]> prompts = new ArrayList<>();
        ReferenceRecord.load("tiny-llama").prompts().forEach(p -> prompts.add(p.inputIds()));
        Random r = new Random(7);
        while (prompts.size() < 16) {
            int[] p = new int[1 + r.nextInt(150)];
            for (int i = 0; i < p.length; i++) {
                p[i] = r.nextInt(507);
            }
            prompts.add(p);
        }
        List<int[]> alone = new ArrayList<>();
        start(8L << 20, EngineConfig.defaults().withPrefixCaching(false));
        for (int[] p : prompts) {
            alone.add(run(p));
        }
        stop();

        start(8L << 20, EngineConfig.defaults().withMaxNumBatchedTokens(64).withPrefixCaching(false));
        assertOutputs(prompts, alone, "batched");
        stop();

        long bytesPerBlock = 2L * 2 * 16 * 32 * 2; // layers x (K, V) x block x kvDim x FP16
        start(24 * bytesPerBlock, EngineConfig.defaults().withPrefixCaching(false));
        assertOutputs(prompts, alone, "preempted");
        assertTrue(engine.stats().preemptions() > 0, "expected preemptions, stats " + engine.stats());
        stop();

        start(8L << 20, EngineConfig.defaults());
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(alone.get(i), run(prompts.get(i)), "prefix round " + round + " prompt " + i);
            }
        }
        assertTrue(engine.stats().prefixHitRate() > 0.3, "prefix hit rate " + engine.stats().prefixHitRate());
    }

    private void assertOutputs(List<int[]> prompts, List<int[]> expected, String what) throws Exception {
        List<Tokens> all = new ArrayList<>();
        for (int[] p : prompts) {
            Tokens t = new Tokens();
            engine.submit(p, GREEDY_32, t);
            all.add(t);
        }
        for (int i = 0; i < all.size(); i++) {
            assertArrayEquals(expected.get(i), all.get(i).await(), what + " prompt " + i);
        }
    }
}
