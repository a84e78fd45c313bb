package io.llmcluster.worker.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ForwardingBackend;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The prefill cap while decoding, through the engine on the tiny reference Llama: resolved, applied, output unchanged. */
class EnginePrefillCapTest {
    private static final SamplingParams GREEDY_24 = SamplingParams.builder().temperature(0).maxTokens(24).ignoreEos(true).build();

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

    /** Per step: prompt tokens (entries other than a sampled single token) and whether a decode (sampled single token) ran. */
    private static final class RecordingBackend extends ForwardingBackend {
        final int preferred;
        final List<int[]> steps = new ArrayList<>(); // {promptTokens, decodes}

        RecordingBackend(ModelBackend inner, int preferred) {
            super(inner);
            this.preferred = preferred;
        }

        @Override
        public MemorySegment forward(ForwardBatch b) {
            int[] count = new int[b.numSequences()];
            boolean[] sampled = new boolean[b.numSequences()];
            for (int t = 0; t < b.numTokens(); t++) {
                count[b.sequenceOfToken(t)]++;
            }
            for (int r = 0; r < b.numLogits(); r++) {
                sampled[b.sequenceOfToken(b.logitToken(r))] = true;
            }
            int prompt = 0;
            int decodes = 0;
            for (int s = 0; s < count.length; s++) {
                if (count[s] == 1 && sampled[s]) {
                    decodes++;
                } else {
                    prompt += count[s];
                }
            }
            synchronized (steps) {
                steps.add(new int[] {prompt, decodes});
            }
            return inner.forward(b);
        }

        @Override public int preferredPrefillTokensWhileDecoding() { return preferred; }
        @Override public String describe() { return "recording " + inner.describe(); }
        @Override public void close() {}
    }

    @Test
    void shouldTakeTheBackendsCapWhenAutoAndTheConfiguredOneOtherwise() {
        try (Engine e = new Engine(model, cpu, EngineConfig.defaults())) {
            assertEquals(0, e.maxPrefillTokensWhileDecoding()); // the CPU backend's choice: no cap
        }
        try (Engine e = new Engine(model, new RecordingBackend(cpu, 32), EngineConfig.defaults())) {
            assertEquals(32, e.maxPrefillTokensWhileDecoding());
        }
        try (Engine e = new Engine(model, new RecordingBackend(cpu, 32), EngineConfig.defaults().withMaxPrefillTokensWhileDecoding(0))) {
            assertEquals(0, e.maxPrefillTokensWhileDecoding());
        }
        try (Engine e = new Engine(model, cpu, EngineConfig.defaults().withMaxPrefillTokensWhileDecoding(8))) {
            assertEquals(8, e.maxPrefillTokensWhileDecoding());
        }
    }

    private static List<int[]> prompts(int count) {
        Random r = new Random(11);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] p = new int[i == 0 ? 100 : 2 + r.nextInt(120)]; // the first fills the first step alone
            for (int j = 0; j < p.length; j++) {
                p[j] = r.nextInt(507);
            }
            prompts.add(p);
        }
        return prompts;
    }

    /** Runs the prompts all at once on a backend that prefers a cap of 8, budget 64; checks the outputs; its steps. */
    private List<int[]> runCapped(List<int[]> prompts) throws Exception {
        List<int[]> alone = new ArrayList<>();
        try (Engine e = new Engine(model, cpu, EngineConfig.defaults().withPrefixCaching(false).withMaxPrefillTokensWhileDecoding(0))) {
            for (int[] p : prompts) {
                Completion c = new Completion();
                e.submit(p, GREEDY_24, c);
                alone.add(c.await().tokens());
            }
        }
        RecordingBackend recording = new RecordingBackend(cpu, 8);
        try (Engine e = new Engine(model, recording, EngineConfig.defaults().withMaxNumBatchedTokens(64).withPrefixCaching(false))) {
            List<Completion> all = new ArrayList<>();
            for (int[] p : prompts) {
                Completion c = new Completion();
                e.submit(p, GREEDY_24, c);
                all.add(c);
            }
            for (int i = 0; i < all.size(); i++) {
                assertArrayEquals(alone.get(i), all.get(i).await().tokens(), "prompt " + i);
            }
        }
        synchronized (recording.steps) {
            return new ArrayList<>(recording.steps);
        }
    }

    @Test
    void shouldCapThePromptTokensOfEveryStepWithADecodeAndKeepTheGreedyOutputs() throws Exception {
        // 7 requests: fewer than the fill phase's threshold of 64 seats / 8, so the cap always applies
        List<int[]> steps = runCapped(prompts(7));
        int atTheCap = 0;
        int uncapped = 0;
        for (int[] s : steps) {
            if (s[1] > 0) {
                assertTrue(s[0] <= 8, s[0] + " prompt tokens next to " + s[1] + " decodes");
                atTheCap += s[0] == 8 ? 1 : 0;
            } else {
                uncapped += s[0] > 8 ? 1 : 0;
            }
        }
        assertTrue(atTheCap > 10, "steps with decodes and 8 prompt tokens: " + atTheCap);
        assertTrue(uncapped >= 1, "the first step, with no decode yet, takes the whole budget");
    }

    @Test
    void shouldAdmitABurstAtTheWholeBudgetNextToTheDecodesAndKeepTheGreedyOutputs() throws Exception {
        // 24 requests at once, 64 seats: a fill phase (threshold 8) until the queue is empty, so the steps that
        // decode carry a full budget of prompt tokens instead of 8; once all are admitted, only decodes remain
        List<int[]> steps = runCapped(prompts(24));
        int filled = 0;
        int promptTokens = 0;
        for (int[] s : steps) {
            filled += s[1] > 0 && s[0] > 8 ? 1 : 0;
            promptTokens += s[0];
        }
        assertTrue(filled >= 0.75 * promptTokens / 64 - 2, filled + " steps with decodes and more than 8 prompt tokens, "
                + promptTokens + " prompt tokens");
        int fullBudget = 0;
        for (int[] s : steps) {
            fullBudget += s[0] + s[1] == 64 ? 1 : 0;
        }
        assertTrue(fullBudget >= promptTokens / 64 - 2, fullBudget + " steps at the whole budget of 64");
    }

    @Test
    void shouldParseTheCapAsTheSettingsAndTheCommandLineSpellIt() {
        assertEquals(EngineConfig.PREFILL_CAP_AUTO, EngineConfig.parsePrefillCap("auto"));
        assertEquals(0, EngineConfig.parsePrefillCap("off"));
        assertEquals(0, EngineConfig.parsePrefillCap("0"));
        assertEquals(256, EngineConfig.parsePrefillCap(" 256 "));
        assertEquals("max-prefill-tokens-while-decoding must be auto, off, or a token count >= 0 (0 = off), got \"-3\"",
                assertThrows(IllegalArgumentException.class, () -> EngineConfig.parsePrefillCap("-3")).getMessage());
        assertEquals("max-prefill-tokens-while-decoding must be auto, off, or a token count >= 0 (0 = off), got \"lots\"",
                assertThrows(IllegalArgumentException.class, () -> EngineConfig.parsePrefillCap("lots")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> EngineConfig.defaults().withMaxPrefillTokensWhileDecoding(-2));
    }
}
