package io.llmcluster.worker.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The engine loop on the tiny reference Llama: batching, preemption and prefix hits never change greedy output. */
class EngineTest {
    private static final SamplingParams GREEDY_32 = SamplingParams.builder().temperature(0).maxTokens(32).ignoreEos(true).build();

    private ModelDirectory model;
    private CpuBackend backend;
    private Engine engine;

    private Engine start(long kvBytes, EngineConfig config) {
        model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
        backend = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(kvBytes).withMaxBatchTokens(256));
        engine = new Engine(model, backend, config);
        return engine;
    }

    @AfterEach
    void stop() {
        if (engine != null) {
            engine.close();
        }
        if (backend != null) {
            backend.close();
        }
        if (model != null) {
            model.close();
        }
    }

    private Completion run(int[] prompt, SamplingParams params) throws Exception {
        Completion c = new Completion();
        engine.submit(prompt, params, c);
        return c.await();
    }

    /** 16 prompts of mixed lengths: the three recorded ones and random token strings of 1..150 tokens. */
    private static List<int[]> mixedPrompts(ReferenceRecord ref) {
        List<int[]> prompts = new ArrayList<>();
        ref.prompts().forEach(p -> prompts.add(p.inputIds()));
        Random r = new Random(7);
        while (prompts.size() < 16) {
            int[] p = new int[1 + r.nextInt(150)];
            for (int i = 0; i < p.length; i++) {
                p[i] = r.nextInt(507);
            }
            prompts.add(p);
        }
        return prompts;
    }

    @Test
    void shouldTakeAKvSnapshotThatMatchesThePublishedEventsExactly() throws Exception {
        List<io.llmcluster.kv.KvEvent> published = java.util.Collections.synchronizedList(new ArrayList<>());
        model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
        backend = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(8L << 20).withMaxBatchTokens(256));
        engine = new Engine(model, backend, EngineConfig.defaults(), published::addAll);
        int[] prompt = new int[40];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = 5 + i;
        }
        run(prompt, SamplingParams.builder().temperature(0).maxTokens(1).build());
        io.llmcluster.kv.KvSnapshot snap = engine.kvSnapshot("w").get(30, java.util.concurrent.TimeUnit.SECONDS);
        org.agrona.collections.LongHashSet stored = new org.agrona.collections.LongHashSet();
        long lastSeq = 0;
        synchronized (published) {
            for (io.llmcluster.kv.KvEvent e : published) {
                lastSeq = e.seq();
                if (e instanceof io.llmcluster.kv.KvEvent.BlockStored b) {
                    for (long h : b.blockHashes()) {
                        stored.add(h);
                    }
                }
            }
        }
        assertEquals(lastSeq, snap.seq());
        assertEquals(engine.kvEpoch(), snap.epoch());
        assertEquals(2, snap.blockHashes().length); // 40 tokens: two full blocks of 16 are cached
        for (long h : snap.blockHashes()) {
            assertTrue(stored.contains(h));
        }
    }

    @Test
    void shouldReproduceTransformersGreedyContinuationThroughTheEngine() throws Exception {
        start(8L << 20, EngineConfig.defaults());
        for (ReferenceRecord.Prompt p : ReferenceRecord.load("tiny-llama").prompts()) {
            Completion c = run(p.inputIds(), GREEDY_32);
            assertArrayEquals(p.greedyIds(), c.tokens());
            assertEquals(FinishReason.LENGTH, c.finishReason());
        }
    }

    @Test
    void shouldGiveIdenticalGreedyOutputsAloneInABatchAfterPreemptionAndWithAPrefixHit() throws Exception {
        List<int[]> prompts = mixedPrompts(ReferenceRecord.load("tiny-llama"));
        List<int[]> alone = new ArrayList<>();
        start(8L << 20, EngineConfig.defaults().withPrefixCaching(false));
        for (int[] p : prompts) {
            alone.add(run(p, GREEDY_32).tokens());
        }
        stop();

        // A batch of 16 with small chunks: prefill chunks mix with decodes in the same steps.
        start(8L << 20, EngineConfig.defaults().withMaxNumBatchedTokens(64).withPrefixCaching(false));
        assertOutputs(prompts, alone, "batched");
        stop();

        // A pool of 24 blocks of 16 tokens cannot hold 16 sequences of up to 182 tokens: preemption must happen.
        long bytesPerBlock = 2L * 2 * 16 * 32 * Float.BYTES;
        start(24 * bytesPerBlock, EngineConfig.defaults().withPrefixCaching(false));
        assertOutputs(prompts, alone, "preempted");
        assertTrue(engine.stats().preemptions() > 0, "expected preemptions, stats " + engine.stats());
        stop();

        // Prefix caching: the second run of each prompt starts from cached blocks.
        start(8L << 20, EngineConfig.defaults());
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(alone.get(i), run(prompts.get(i), GREEDY_32).tokens(), "prefix round " + round + " prompt " + i);
            }
        }
        assertTrue(engine.stats().prefixHitRate() > 0.3, "prefix hit rate " + engine.stats().prefixHitRate());
    }

    private void assertOutputs(List<int[]> prompts, List<int[]> expected, String what) throws Exception {
        List<Completion> all = new ArrayList<>();
        for (int[] p : prompts) {
            Completion c = new Completion();
            engine.submit(p, GREEDY_32, c);
            all.add(c);
        }
        for (int i = 0; i < all.size(); i++) {
            assertArrayEquals(expected.get(i), all.get(i).await().tokens(), what + " prompt " + i);
        }
        awaitIdle();
        assertEquals(0, engine.stats().usedBlocks(), what + ": blocks still in use");
    }

    private void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 200 && (engine.stats().running() > 0 || engine.stats().usedBlocks() > 0); i++) {
            Thread.sleep(10);
        }
    }

    @Test
    void shouldFreeBlocksAtOnceWhenCancelled() throws Exception {
        start(8L << 20, EngineConfig.defaults());
        Completion c = new Completion();
        long id = engine.submit(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17},
                SamplingParams.builder().temperature(0).maxTokens(200).ignoreEos(true).build(), c);
        while (c.chunks.size() < 3) {
            Thread.sleep(1);
        }
        engine.cancel(id);
        assertEquals(FinishReason.ABORT, c.await().finishReason());
        awaitIdle();
        assertEquals(0, engine.stats().usedBlocks());
        assertEquals(0, engine.stats().running());
    }

    @Test
    void closeShouldAbortEveryRequestInFlightAndQueuedAndFreeTheirBlocks() throws Exception {
        start(8L << 20, EngineConfig.defaults());
        SamplingParams long200 = SamplingParams.builder().temperature(0).maxTokens(200).ignoreEos(true).build();
        List<Completion> running = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Completion c = new Completion();
            engine.submit(new int[] {1 + i, 2, 3, 4, 5, 6, 7, 8, 9}, long200, c);
            running.add(c);
        }
        while (running.getFirst().chunks.size() < 2) {
            Thread.sleep(1);
        }
        Completion lastMoment = new Completion(); // queued as a command, maybe not yet seen by the engine thread
        engine.submit(new int[] {9, 8, 7}, long200, lastMoment);
        engine.close();
        for (Completion c : running) {
            assertEquals(FinishReason.ABORT, c.await().finishReason());
        }
        assertEquals(FinishReason.ABORT, lastMoment.await().finishReason());
        assertEquals(0, engine.stats().usedBlocks(), "blocks still held after close");
        assertEquals(0, engine.stats().running());
        engine.close(); // a second close is harmless
    }

    @Test
    void shouldEndAtAStopStringWithoutEmittingIt() throws Exception {
        start(8L << 20, EngineConfig.defaults());
        ReferenceRecord.Prompt p = ReferenceRecord.load("tiny-llama").prompts().get(1);
        String full = run(p.inputIds(), GREEDY_32).text();
        String stop = full.substring(10, 13);
        Completion c = run(p.inputIds(), GREEDY_32.toBuilder().stopStrings(stop).build());
        assertEquals(FinishReason.STOP, c.finishReason());
        assertEquals(full.substring(0, full.indexOf(stop)), c.text());
        // the stop string is found off the engine thread, after the next step may have run: nothing of it shows
        assertEquals(1, c.chunks.stream().filter(TokenChunk::isLast).count());
        assertEquals(c.tokens().length, c.chunks.getLast().completionTokens());
        assertEquals(c.tokens()[c.tokens().length - 1], c.chunks.getLast().tokenId());
        awaitIdle();
        assertEquals(0, engine.stats().usedBlocks());
    }

    @Test
    void shouldEndTheStepsRequestsWithErrorAndKeepServingWhenAStepFails() throws Exception {
        model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
        backend = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(8L << 20).withMaxBatchTokens(256));
        java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        io.llmcluster.worker.backend.ModelBackend failingOnThirdStep = new io.llmcluster.worker.backend.ModelBackend() {
            public java.lang.foreign.MemorySegment forward(io.llmcluster.worker.backend.ForwardBatch b) {
                if (calls.incrementAndGet() == 3) {
                    throw new IllegalStateException("device lost");
                }
                return backend.forward(b);
            }
            public int vocabSize() { return backend.vocabSize(); }
            public int numKvBlocks() { return backend.numKvBlocks(); }
            public int kvBlockSize() { return backend.kvBlockSize(); }
            public int maxBatchTokens() { return backend.maxBatchTokens(); }
            public String describe() { return "failing"; }
            public void close() {}
        };
        engine = new Engine(model, failingOnThirdStep, EngineConfig.defaults());
        Completion failed = run(new int[] {5, 6, 7, 8, 9}, GREEDY_32);
        assertEquals(FinishReason.ERROR, failed.finishReason());
        awaitIdle();
        assertEquals(0, engine.stats().usedBlocks());
        int[] prompt = ReferenceRecord.load("tiny-llama").prompts().getFirst().inputIds();
        assertArrayEquals(ReferenceRecord.load("tiny-llama").prompts().getFirst().greedyIds(), run(prompt, GREEDY_32).tokens());
    }

    @Test
    void shouldRejectAnEmptyOrTooLongPromptOrAnUnknownTokenId() {
        start(8L << 20, EngineConfig.defaults());
        assertThrows(IllegalArgumentException.class, () -> engine.submit(new int[0], GREEDY_32, c -> {}));
        assertThrows(IllegalArgumentException.class, () -> engine.submit(new int[engine.maxModelLen()], GREEDY_32, c -> {}));
        assertThrows(IllegalArgumentException.class, () -> engine.submit(new int[] {1, 99999}, GREEDY_32, c -> {}));
    }
}
