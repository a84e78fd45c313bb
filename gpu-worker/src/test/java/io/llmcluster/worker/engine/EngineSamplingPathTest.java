package io.llmcluster.worker.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ForwardingBackend;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import io.llmcluster.worker.sample.PlainRows;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Which path the engine samples a step on: the backend's own ({@link ModelBackend#forwardPlain}, only ids back)
 * when every row is plain, else logits to the host sampler; and that both give the same greedy tokens.
 */
class EngineSamplingPathTest {
    private static final SamplingParams GREEDY_20 = SamplingParams.builder().temperature(0).maxTokens(20).ignoreEos(true).build();

    private ModelDirectory model;
    private CpuBackend cpu;

    @BeforeEach
    void open() {
        model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
        cpu = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(8L << 20).withMaxBatchTokens(256));
    }

    @AfterEach
    void close() {
        cpu.close();
        model.close();
    }

    /**
     * A GPU-style double: picks greedy tokens itself from the inner backend's logits, with its own argmax scan (not
     * the host sampler), and records per step which path the engine took: 'P' forwardPlain, 'H' forward.
     */
    private static final class DeviceSamplingDouble extends ForwardingBackend {
        final StringBuilder paths = new StringBuilder();

        DeviceSamplingDouble(ModelBackend inner) {
            super(inner);
        }

        @Override
        public MemorySegment forward(ForwardBatch b) {
            synchronized (paths) {
                paths.append('H');
            }
            return inner.forward(b);
        }

        @Override
        public void forwardPlain(ForwardBatch b, PlainRows rows, int[] out) {
            synchronized (paths) {
                paths.append('P');
            }
            assertEquals(b.numLogits(), rows.size());
            assertTrue(rows.allGreedy(), "this double argmaxes only");
            MemorySegment logits = inner.forward(b);
            int v = vocabSize();
            for (int r = 0; r < rows.size(); r++) {
                int best = 0;
                for (int i = 1; i < v; i++) {
                    if (logits.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * v + i) > logits.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * v + best)) {
                        best = i;
                    }
                }
                out[r] = best;
            }
        }

        String paths() {
            synchronized (paths) {
                return paths.toString();
            }
        }

        @Override public String describe() { return "device-sampling double over " + inner.describe(); }
        @Override public void close() {}
    }

    private static List<int[]> prompts(int count, long seed) {
        Random r = new Random(seed);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] p = new int[3 + r.nextInt(60)];
            for (int j = 0; j < p.length; j++) {
                p[j] = r.nextInt(507);
            }
            prompts.add(p);
        }
        return prompts;
    }

    private static List<int[]> generate(Engine e, List<int[]> prompts, SamplingParams params) throws Exception {
        List<Completion> all = new ArrayList<>();
        for (int[] p : prompts) {
            Completion c = new Completion();
            e.submit(p, params, c);
            all.add(c);
        }
        List<int[]> tokens = new ArrayList<>();
        for (Completion c : all) {
            tokens.add(c.await().tokens());
        }
        return tokens;
    }

    @Test
    void shouldGiveTheSameGreedyTokensWhenTheBackendPicksThemAsWhenTheHostSamplerDoes() throws Exception {
        List<int[]> prompts = prompts(6, 5);
        List<int[]> host;
        try (Engine e = new Engine(model, cpu, EngineConfig.defaults().withMaxNumBatchedTokens(64))) {
            host = generate(e, prompts, GREEDY_20); // the CPU backend's forwardPlain: forward + the host sampler
        }
        DeviceSamplingDouble device = new DeviceSamplingDouble(cpu);
        List<int[]> picked;
        try (Engine e = new Engine(model, device, EngineConfig.defaults().withMaxNumBatchedTokens(64))) {
            picked = generate(e, prompts, GREEDY_20);
        }
        for (int i = 0; i < prompts.size(); i++) {
            assertEquals(20, host.get(i).length);
            assertArrayEquals(host.get(i), picked.get(i), "prompt " + i);
        }
        assertTrue(device.paths().matches("P+"), "every step on the backend's path: " + device.paths());
    }

    @Test
    void shouldTakeTheHostPathForTheStepsWhereMinTokensStillSuppressesStopTokens() throws Exception {
        DeviceSamplingDouble device = new DeviceSamplingDouble(cpu);
        SamplingParams min3 = SamplingParams.builder().temperature(0).maxTokens(6).minTokens(3).ignoreEos(true).build();
        try (Engine e = new Engine(model, device, EngineConfig.defaults())) {
            Completion c = new Completion();
            e.submit(new int[] {5, 9, 200, 17}, min3, c);
            assertEquals(6, c.await().tokens().length);
        }
        // tokens 1-3 are sampled with 0, 1, 2 output tokens (< min_tokens): host; tokens 4-6: plain
        assertEquals("HHHPPP", device.paths());
    }

    @Test
    void shouldSampleEveryStepOnTheHostWhileARowWithLogprobsOrPenaltiesShares() throws Exception {
        DeviceSamplingDouble device = new DeviceSamplingDouble(cpu);
        SamplingParams logprobs = SamplingParams.builder().temperature(0).maxTokens(4).ignoreEos(true).logprobs(2).build();
        SamplingParams penalty = SamplingParams.builder().temperature(0).maxTokens(4).ignoreEos(true).repetitionPenalty(1.3).build();
        List<int[]> alone = new ArrayList<>();
        try (Engine e = new Engine(model, cpu, EngineConfig.defaults())) {
            alone.add(generate(e, List.of(new int[] {7, 8, 9}), GREEDY_20).getFirst());
        }
        try (Engine e = new Engine(model, device, EngineConfig.defaults())) {
            Completion plain = new Completion();
            Completion withLogprobs = new Completion();
            Completion withPenalty = new Completion();
            e.submit(new int[] {7, 8, 9}, GREEDY_20, plain); // one command each, but the first step may start between
            e.submit(new int[] {3, 4}, logprobs, withLogprobs);
            e.submit(new int[] {30, 40, 50}, penalty, withPenalty);
            assertArrayEquals(alone.getFirst(), plain.await().tokens());
            assertEquals(4, withLogprobs.await().tokens().length);
            assertTrue(Float.isFinite(withLogprobs.chunks.getFirst().logprob()), "logprobs come from the host sampler");
            assertEquals(4, withPenalty.await().tokens().length);
        }
        String paths = device.paths();
        // one step per token of the greedy request (the others end sooner): the host while another request samples in
        // the step (4 steps if they start together; up to 6 if the engine starts a step between the submits), then 'P'
        assertEquals(20, paths.length(), paths);
        assertTrue(paths.matches("P?H{4,6}P+"), paths);
    }

    @Test
    void shouldCallOnlyUnseededOrGreedyRowsWithoutPenaltiesLogprobsOrPendingMinTokensPlain() {
        SamplingParams greedy = SamplingParams.greedy(8);
        assertTrue(PlainRows.isPlain(greedy, 0));
        assertTrue(PlainRows.isPlain(greedy.toBuilder().seed(3).build(), 0), "a seed changes nothing for the argmax");
        assertTrue(PlainRows.isPlain(SamplingParams.builder().temperature(0.8).topK(40).topP(0.9).minP(0.05).build(), 0));
        assertEquals(false, PlainRows.isPlain(SamplingParams.builder().temperature(0.8).seed(3).build(), 0),
                "a seeded draw stays with the request's own generator on the host");
        assertEquals(false, PlainRows.isPlain(greedy.toBuilder().presencePenalty(0.5).build(), 5));
        assertEquals(false, PlainRows.isPlain(greedy.toBuilder().frequencyPenalty(0.5).build(), 5));
        assertEquals(false, PlainRows.isPlain(greedy.toBuilder().repetitionPenalty(1.1).build(), 5));
        assertEquals(false, PlainRows.isPlain(greedy.toBuilder().logprobs(0).build(), 5));
        assertEquals(false, PlainRows.isPlain(greedy.toBuilder().minTokens(3).build(), 2));
        assertTrue(PlainRows.isPlain(greedy.toBuilder().minTokens(3).build(), 3));
    }
}
