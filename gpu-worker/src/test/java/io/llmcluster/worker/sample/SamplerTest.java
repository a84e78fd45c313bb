package io.llmcluster.worker.sample;

import static io.llmcluster.worker.sample.Reference.filtered;
import static io.llmcluster.worker.sample.Reference.gaussianLogits;
import static io.llmcluster.worker.sample.Reference.logitsOf;
import static io.llmcluster.worker.sample.Reference.ranking;
import static io.llmcluster.worker.sample.Reference.segmentOf;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.SamplingParams;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SamplerTest {
    private static final TokenHistory NO_HISTORY = new TokenHistory();

    private static SamplingParams.Builder params() {
        return SamplingParams.builder();
    }

    private static int sample(Sampler s, float[] logits, SamplingParams p, TokenHistory h, RandomGenerator rng) {
        return s.sample(segmentOf(logits), 0, p, h, rng);
    }

    private static int argmax(float[] l) {
        return ranking(l)[0];
    }

    /** The kept tokens and their probabilities, by token id. */
    private static Map<Integer, Double> kept(Sampler s) {
        Map<Integer, Double> m = new TreeMap<>();
        for (int i = 0; i < s.keptCount(); i++) {
            m.put(s.keptToken(i), s.keptProbability(i));
        }
        return m;
    }

    private static void assertKeptEquals(double[] expected, Sampler s, double tolerance) {
        Map<Integer, Double> kept = kept(s);
        Map<Integer, Double> want = new TreeMap<>();
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] > 0) {
                want.put(i, expected[i]);
            }
        }
        assertEquals(want.keySet(), kept.keySet());
        for (Map.Entry<Integer, Double> e : want.entrySet()) {
            assertEquals(e.getValue(), kept.get(e.getKey()), tolerance * Math.max(1e-3, e.getValue()),
                    "probability of token " + e.getKey());
        }
    }

    @Test
    void shouldPickTheArgmaxWhenGreedy() {
        Sampler s = new Sampler(1000);
        for (long seed = 1; seed <= 5; seed++) {
            float[] l = gaussianLogits(1000, 2, seed);
            assertEquals(argmax(l), sample(s, l, SamplingParams.greedy(8), NO_HISTORY, new SplittableRandom(seed)));
        }
    }

    @Test
    void shouldBreakGreedyTiesToTheLowestId() {
        Sampler s = new Sampler(5);
        float[] l = {1f, 3f, 2f, 3f, -1f};
        assertEquals(1, sample(s, l, SamplingParams.greedy(8), NO_HISTORY, new SplittableRandom(1)));
        assertEquals(1, sample(s, l, params().topK(1).temperature(2).build(), NO_HISTORY, new SplittableRandom(1)));
    }

    @ParameterizedTest
    @CsvSource({"0.05", "0.7", "1.0", "5.0", "100.0"})
    void shouldEqualGreedyWhenTopKIsOneAtAnyTemperature(double temperature) {
        Sampler s = new Sampler(2000);
        SamplingParams p = params().temperature(temperature).topK(1).build();
        RandomGenerator rng = new SplittableRandom(7);
        for (long seed = 1; seed <= 20; seed++) {
            float[] l = gaussianLogits(2000, 1, seed);
            assertEquals(argmax(l), sample(s, l, p, NO_HISTORY, rng));
        }
    }

    @Test
    void shouldKeepTheSmallestSetWhoseMassReachesTopP() {
        Sampler s = new Sampler(5);
        float[] l = logitsOf(0.05, 0.4, 0.1, 0.3, 0.15);
        sample(s, l, params().topP(0.8).build(), NO_HISTORY, new SplittableRandom(1));
        // 0.4 + 0.3 = 0.7 < 0.8, + 0.15 = 0.85 >= 0.8
        assertEquals(Map.of(1, 0.4 / 0.85, 3, 0.3 / 0.85, 4, 0.15 / 0.85).keySet(), kept(s).keySet());
        assertEquals(0.4 / 0.85, kept(s).get(1), 1e-6);
        assertEquals(0.3 / 0.85, kept(s).get(3), 1e-6);
        assertEquals(0.15 / 0.85, kept(s).get(4), 1e-6);

        sample(s, l, params().topP(0.35).build(), NO_HISTORY, new SplittableRandom(1));
        assertEquals(Map.of(1, 1.0), kept(s));
    }

    @Test
    void shouldRenormalizeTopPWithinTopK() {
        Sampler s = new Sampler(5);
        float[] l = logitsOf(0.3, 0.25, 0.2, 0.15, 0.1);
        // top-3 renormalized: 0.4, 0.333, 0.267; 0.4 < 0.6 <= 0.733 keeps two (on the full mass it would keep three)
        sample(s, l, params().topK(3).topP(0.6).build(), NO_HISTORY, new SplittableRandom(1));
        assertEquals(0.3 / 0.55, kept(s).get(0), 1e-6);
        assertEquals(0.25 / 0.55, kept(s).get(1), 1e-6);
        assertEquals(2, s.keptCount());
    }

    @ParameterizedTest(name = "vocab={0} T={1} topK={2} topP={3} minP={4}")
    @CsvSource({
        "128000, 0.9, -1, 0.9, 0",      // histogram path
        "128000, 1.0, -1, 0.5, 0.01",   // histogram path with min-p
        "128000, 0.7, 40, 0.95, 0.02",  // heap path
        "5000, 1.2, 2000, 0.97, 0",     // large k: histogram path with top-k
        "5000, 1.2, 1500, 1.0, 0.05",   // large k with min-p
        "50000, 0.8, -1, 1.0, 0.001"    // min-p alone
    })
    void shouldKeepExactlyTheReferenceSetOnLargeVocabularies(int vocab, double t, int k, double p, double minP) {
        float[] l = gaussianLogits(vocab, 1.0, vocab + k);
        Sampler s = new Sampler(vocab);
        sample(s, l, params().temperature(t).topK(k).topP(p).minP(minP).build(), NO_HISTORY, new SplittableRandom(3));
        assertKeptEquals(filtered(l, t, k, p, minP), s, 1e-5);
        assertTrue(s.keptCount() > 1);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"min-p alone, -1, 1.0", "with top-k, 4, 1.0", "with top-p, -1, 0.999"})
    void shouldDropTokensBelowMinPTimesTheLargestProbability(String name, int topK, double topP) {
        Sampler s = new Sampler(5);
        double[] w = {1.0, 0.4, 0.22, 0.18, 0.2};
        double z = Arrays.stream(w).sum();
        float[] l = logitsOf(Arrays.stream(w).map(x -> x / z).toArray());
        sample(s, l, params().minP(0.21).topK(topK).topP(topP).build(), NO_HISTORY, new SplittableRandom(1));
        assertEquals(Map.of(0, 1.0 / 1.62, 1, 0.4 / 1.62, 2, 0.22 / 1.62).keySet(), kept(s).keySet());
        assertEquals(0.22 / 1.62, kept(s).get(2), 1e-6);
    }

    @Test
    void shouldChangeTheGreedyChoiceByThePresencePenalty() {
        Sampler s = new Sampler(3);
        float[] l = {2.0f, 1.9f, 0.5f};
        TokenHistory h = new TokenHistory();
        h.appendOutput(0);
        assertEquals(1, sample(s, l, params().temperature(0).presencePenalty(0.2).build(), h, new SplittableRandom(1)));
        assertEquals(0, sample(s, l, params().temperature(0).presencePenalty(0.05).build(), h, new SplittableRandom(1)));
    }

    @Test
    void shouldChangeTheGreedyChoiceByTheRepetitionPenaltyOnPromptTokens() {
        Sampler s = new Sampler(3);
        float[] l = {2.0f, 1.5f, 0.5f};
        TokenHistory h = TokenHistory.ofPrompt(0);
        assertEquals(1, sample(s, l, params().temperature(0).repetitionPenalty(1.5).build(), h, new SplittableRandom(1)));
        assertEquals(0, sample(s, l, params().temperature(0).repetitionPenalty(1.2).build(), h, new SplittableRandom(1)));
        // presence and frequency penalties ignore prompt tokens
        assertEquals(0, sample(s, l, params().temperature(0).presencePenalty(2).frequencyPenalty(2).build(), h,
                new SplittableRandom(1)));
    }

    @Test
    void shouldSampleFromThePenalizedDistribution() {
        int vocab = 300;
        float[] l = gaussianLogits(vocab, 1, 11);
        TokenHistory h = TokenHistory.ofPrompt(3, 4, 5, 250);
        for (int t : new int[] {5, 6, 6, 6, 7, 299}) {
            h.appendOutput(t);
        }
        SamplingParams p = params().repetitionPenalty(1.3).frequencyPenalty(0.4).presencePenalty(-0.3).build();
        float[] penalized = l.clone();
        for (int t : new int[] {3, 4, 5, 250, 6, 7, 299}) {
            penalized[t] = penalized[t] > 0 ? penalized[t] / 1.3f : penalized[t] * 1.3f;
        }
        for (int t : new int[] {5, 6, 7, 299}) {
            penalized[t] = penalized[t] - 0.4f * h.outputCount(t) + 0.3f;
        }
        Sampler s = new Sampler(vocab);
        sample(s, l, p, h, new SplittableRandom(1));
        assertKeptEquals(filtered(penalized, 1, -1, 1, 0), s, 1e-6);
    }

    @Test
    void shouldSuppressEosAndStopTokensUntilMinTokens() {
        float[] l = {0f, 1f, 9f, 2f, 3f, 8f, 4f, 7f, 5f, 6f}; // EOS 2 is best, stop id 5 next, then 7
        Sampler s = new Sampler(10, new int[] {2});
        SamplingParams p = params().temperature(0).minTokens(3).stopTokenIds(5).build();
        TokenHistory h = TokenHistory.ofPrompt(1, 2, 3);
        h.appendOutput(9);
        h.appendOutput(9);
        assertEquals(7, sample(s, l, p, h, new SplittableRandom(1)));
        h.appendOutput(9);
        assertEquals(2, sample(s, l, p, h, new SplittableRandom(1)));
    }

    @Test
    void shouldNeverDrawSuppressedTokensBeforeMinTokens() {
        float[] l = {0f, 1f, 9f, 2f, 3f, 8f, 4f, 7f, 5f, 6f};
        Sampler s = new Sampler(10, new int[] {2, 8});
        SamplingParams p = params().temperature(3).minTokens(1).stopTokenIds(5).build();
        RandomGenerator rng = new SplittableRandom(5);
        for (int i = 0; i < 2000; i++) {
            int t = sample(s, l, p, NO_HISTORY, rng);
            assertTrue(t != 2 && t != 5 && t != 8, "drew stop token " + t);
        }
    }

    @Test
    void shouldNotSuppressEosWhenIgnoringEos() {
        float[] l = {0f, 1f, 9f, 2f, 3f, 8f};
        Sampler s = new Sampler(6, new int[] {2});
        SamplingParams p = params().temperature(0).minTokens(3).stopTokenIds(5).ignoreEos(true).build();
        assertEquals(2, sample(s, l, p, NO_HISTORY, new SplittableRandom(1)));
    }

    @Test
    void shouldRepeatTheSequenceForTheSameSeedAndDifferForAnother() {
        assertArrayEquals(generate(42L), generate(42L));
        assertFalse(Arrays.equals(generate(42L), generate(43L)));
    }

    @Test
    void shouldDifferBetweenUnseededRequests() {
        assertFalse(Arrays.equals(generate(null), generate(null)));
    }

    private static int[] generate(Long seed) {
        int vocab = 1000;
        float[][] rows = new float[8][];
        for (int r = 0; r < rows.length; r++) {
            rows[r] = gaussianLogits(vocab, 1.5, 100 + r);
        }
        MemorySegment batch = segmentOf(rows);
        SamplingParams.Builder b = params().temperature(0.9).topP(0.95).frequencyPenalty(0.1);
        SamplingParams p = seed == null ? b.build() : b.seed(seed).build();
        RandomGenerator rng = Sampler.rngFor(p);
        Sampler s = new Sampler(vocab);
        TokenHistory h = TokenHistory.ofPrompt(1, 2, 3);
        int[] out = new int[200];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.sample(batch, (long) (i % rows.length) * vocab, p, h, rng);
            h.appendOutput(out[i]);
        }
        return out;
    }

    @ParameterizedTest(name = "T={0} topK={1} topP={2} minP={3}")
    @CsvSource({
        "0.7, 50, 0.9, 0",    // the heap path
        "0.7, -1, 0.9, 0",    // the histogram path
        "1.0, -1, 1.0, 0.02", // min-p alone
        "1.3, -1, 1.0, 0",    // no filter
        "0.5, 600, 0.97, 0"   // a large k: histogram path with top-k
    })
    void shouldDrawWithTheFrequenciesOfTheFilteredDistribution(double t, int k, double p, double minP) {
        int vocab = 1000;
        int draws = 50_000;
        float[] l = gaussianLogits(vocab, 2, 2024);
        MemorySegment seg = segmentOf(l);
        SamplingParams params = params().temperature(t).topK(k).topP(p).minP(minP).build();
        Sampler s = new Sampler(vocab);
        RandomGenerator rng = new SplittableRandom(99);
        int[] counts = new int[vocab];
        for (int i = 0; i < draws; i++) {
            counts[s.sample(seg, 0, params, NO_HISTORY, rng)]++;
        }
        assertFrequenciesMatch(filtered(l, t, k, p, minP), counts, draws);
    }

    /** Chi-square goodness of fit (bins under 5 expected draws pooled) at p = 0.0005, and no filtered token drawn. */
    private static void assertFrequenciesMatch(double[] expected, int[] counts, int draws) {
        double chi2 = 0;
        int bins = 0;
        double pooledExpected = 0;
        double pooledObserved = 0;
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] == 0) {
                assertEquals(0, counts[i], "token " + i + " was filtered out but drawn");
                continue;
            }
            double e = expected[i] * draws;
            if (e < 5) {
                pooledExpected += e;
                pooledObserved += counts[i];
            } else {
                chi2 += (counts[i] - e) * (counts[i] - e) / e;
                bins++;
            }
        }
        if (pooledExpected > 0) {
            chi2 += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected;
            bins++;
        }
        int df = bins - 1;
        assertTrue(df >= 5, "too few bins: " + bins);
        double a = 2.0 / (9 * df); // Wilson-Hilferty quantile, z = 3.29
        double critical = df * Math.pow(1 - a + 3.29 * Math.sqrt(a), 3);
        assertTrue(chi2 < critical, "chi2 " + chi2 + " >= " + critical + " with " + df + " degrees of freedom");
    }

    @ParameterizedTest(name = "T={0} topK={1} topP={2} penalties={3}")
    @CsvSource({"0.8, 40, 1.0, true", "1.0, -1, 0.9, false", "0.0, -1, 1.0, true", "1.0, -1, 1.0, false"})
    void shouldReturnRawLogprobsEqualToADoubleLogSoftmax(double t, int k, double p, boolean penalties) {
        int vocab = 32_000;
        float[] l = gaussianLogits(vocab, 3, 77);
        double[] ref = Reference.logSoftmax(l);
        TokenHistory h = TokenHistory.ofPrompt(ranking(l)[0], 5, 6);
        h.appendOutput(ranking(l)[1]);
        SamplingParams.Builder b = params().temperature(t).topK(k).topP(p);
        if (penalties) {
            b.repetitionPenalty(1.5).presencePenalty(1).frequencyPenalty(1);
        }
        Sampler s = new Sampler(vocab);
        int token = sample(s, l, b.build(), h, new SplittableRandom(4));
        assertEquals(ref[token], s.logprob(token), 1e-5);
        for (int id : new int[] {0, 5, 6, 1234, vocab - 1, ranking(l)[0], ranking(l)[vocab - 1]}) {
            assertEquals(ref[id], s.logprob(id), 2e-5, "token " + id);
        }
        int[] ids = new int[20];
        float[] lps = new float[20];
        assertEquals(20, s.topLogprobs(20, ids, lps));
        assertArrayEquals(Arrays.copyOf(ranking(l), 20), ids);
        for (int i = 0; i < 20; i++) {
            assertEquals(ref[ids[i]], lps[i], 1e-5);
        }
    }

    @Test
    void shouldCapTopLogprobsAtTheVocabularySize() {
        float[] l = {0.5f, 2f, 1f};
        Sampler s = new Sampler(3);
        sample(s, l, SamplingParams.greedy(1), NO_HISTORY, new SplittableRandom(1));
        int[] ids = new int[5];
        float[] lps = new float[5];
        assertEquals(3, s.topLogprobs(5, ids, lps));
        assertArrayEquals(new int[] {1, 2, 0, 0, 0}, ids);
        assertEquals(0, s.topLogprobs(0, ids, lps));
    }

    @Test
    void shouldNotModifyTheCallersLogits() {
        int vocab = 4000;
        float[] l = gaussianLogits(vocab, 2, 8);
        l[17] = Float.NaN;
        MemorySegment seg = segmentOf(l);
        MemorySegment copy = segmentOf(l);
        TokenHistory h = TokenHistory.ofPrompt(1, 2, 3, ranking(l)[0]);
        h.appendOutput(ranking(l)[1]);
        Sampler s = new Sampler(vocab, new int[] {ranking(l)[2]});
        SamplingParams[] all = {
            SamplingParams.greedy(4),
            params().repetitionPenalty(1.2).presencePenalty(0.5).minTokens(3).build(),
            params().temperature(0.7).topK(50).topP(0.9).frequencyPenalty(1).build(),
            params().topP(0.8).minP(0.1).build(),
            params().minP(0.1).build(),
            params().topK(2000).build()};
        for (SamplingParams p : all) {
            s.sample(seg, 0, p, h, new SplittableRandom(1));
            s.topLogprobs(5, new int[5], new float[5]);
            assertEquals(-1, seg.mismatch(copy));
        }
    }

    @Test
    void shouldSampleTheRowAtTheGivenOffset() {
        int vocab = 500;
        float[][] rows = {gaussianLogits(vocab, 1, 1), gaussianLogits(vocab, 1, 2), gaussianLogits(vocab, 1, 3)};
        MemorySegment batch = segmentOf(rows);
        Sampler s = new Sampler(vocab);
        for (int r = 0; r < 3; r++) {
            assertEquals(argmax(rows[r]), s.sample(batch, (long) r * vocab, SamplingParams.greedy(1), NO_HISTORY,
                    new SplittableRandom(1)));
        }
    }

    @Test
    void shouldTreatNanLogitsAsMinusInfinity() {
        float[] l = {Float.NaN, 1f, 2f, Float.NaN};
        Sampler s = new Sampler(4);
        assertEquals(2, sample(s, l, SamplingParams.greedy(1), NO_HISTORY, new SplittableRandom(1)));
        assertEquals(Float.NEGATIVE_INFINITY, s.logprob(0));
        assertEquals(Math.log(Math.exp(2) / (Math.exp(1) + Math.exp(2))), s.logprob(2), 1e-6);
        RandomGenerator rng = new SplittableRandom(2);
        for (int i = 0; i < 200; i++) {
            int t = sample(s, l, params().topP(0.99).build(), NO_HISTORY, rng);
            assertTrue(t == 1 || t == 2);
        }
    }

    @Test
    void shouldRejectARowWhoseEveryTokenIsSuppressed() {
        Sampler s = new Sampler(2, new int[] {0, 1});
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> sample(s, new float[] {1f, 2f}, params().minTokens(1).build(), NO_HISTORY, new SplittableRandom(1)));
        assertTrue(e.getMessage().contains("-inf"));
        assertEquals(Math.log(Math.exp(1) / (Math.exp(1) + Math.exp(2))), s.logprob(0), 1e-6); // restored row
    }

    @Test
    void shouldRefuseLogprobsBeforeTheFirstRow() {
        Sampler s = new Sampler(10);
        assertThrows(IllegalStateException.class, () -> s.logprob(1));
        assertThrows(IllegalStateException.class, () -> s.topLogprobs(1, new int[1], new float[1]));
    }

    @Test
    void shouldUseTheSeedOfTheParams() {
        SamplingParams p = params().seed(5).build();
        assertEquals(new SplittableRandom(5).nextLong(), Sampler.rngFor(p).nextLong());
        assertNotEquals(Sampler.rngFor(params().build()).nextLong(), Sampler.rngFor(params().build()).nextLong());
    }

    @Test
    void shouldNotAllocateWhileSamplingAToken() {
        int vocab = 32_000;
        MemorySegment seg = segmentOf(gaussianLogits(vocab, 2, 5));
        Sampler s = new Sampler(vocab, new int[] {2});
        TokenHistory h = TokenHistory.ofPrompt(1, 2, 3, 4, 5, 900, 901);
        for (int t = 0; t < 40; t++) {
            h.appendOutput(t * 37);
        }
        SamplingParams[] all = {
            SamplingParams.greedy(4),
            params().temperature(0.7).topK(50).topP(0.9).repetitionPenalty(1.1).maxTokens(200).minTokens(100).stopTokenIds(7).build(),
            params().topP(0.9).presencePenalty(0.5).frequencyPenalty(0.5).build(),
            params().minP(0.05).build(),
            params().temperature(1.1).build(),
            params().topK(3000).topP(0.95).build()};
        RandomGenerator rng = new SplittableRandom(1);
        int[] ids = new int[20];
        float[] lps = new float[20];
        Runnable round = () -> {
            for (SamplingParams p : all) {
                int t = s.sample(seg, 0, p, h, rng);
                s.logprob(t);
                s.topLogprobs(20, ids, lps);
            }
        };
        for (int i = 0; i < 300; i++) {
            round.run(); // warm up the JIT
        }
        com.sun.management.ThreadMXBean mx =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long thread = Thread.currentThread().threadId();
        // Under load the JIT may not have finished compiling after the warm-up: a warm batch of rounds must
        // allocate (next to) nothing, so the least of up to ten batches is what is asserted.
        long allocated = Long.MAX_VALUE;
        for (int batch = 0; batch < 10 && allocated >= 1024; batch++) {
            long before = mx.getThreadAllocatedBytes(thread);
            for (int i = 0; i < 100; i++) {
                round.run();
            }
            allocated = Math.min(allocated, mx.getThreadAllocatedBytes(thread) - before);
        }
        assertTrue(allocated < 1024, allocated + " bytes allocated for 600 tokens");
    }

    @Test
    void shouldReadTheLogitsInNativeOrderFromAnyOffset() {
        float[] l = {0.25f, -1f, 3.5f, 0f};
        MemorySegment seg = segmentOf(new float[] {9f, 9f, 9f}, l);
        Sampler s = new Sampler(4);
        assertEquals(2, s.sample(seg, 3, SamplingParams.greedy(1), NO_HISTORY, new SplittableRandom(1)));
        assertEquals(seg.getAtIndex(ValueLayout.JAVA_FLOAT, 5), 3.5f);
    }
}
