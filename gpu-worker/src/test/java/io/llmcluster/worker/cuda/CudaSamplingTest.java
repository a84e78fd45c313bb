package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.sample.KeptDistribution;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The GPU sampler (sampling_topkp.cu) against the host Sampler, its CPU twin: for one logits row, many draws on
 * the GPU (one row per draw, the same logits, the draw counter as the only difference) must fall inside the host's
 * kept set and match its renormalized probabilities within 5 standard deviations; top-k 1, a tiny top-p and
 * temperature 0 must give the argmax exactly (lowest id on ties, NaN never).
 */
@RequiresCuda
class CudaSamplingTest extends CudaDeviceTest {
    @ParameterizedTest(name = "vocab={0} T={1} topK={2} topP={3} minP={4} draws={5}")
    @CsvSource({
        "1000, 1.0, -1, 1.0, 0, 40000",
        "1000, 0.7, 50, 1.0, 0, 40000",
        "1000, 1.0, -1, 0.9, 0, 40000",
        "1000, 1.3, 100, 0.8, 0.02, 40000",
        "1000, 1.0, -1, 1.0, 0.05, 40000",
        "50000, 0.9, -1, 0.6, 0, 20000",
        "128256, 0.9, -1, 0.9, 0, 8000",
        "128256, 0.7, 40, 0.95, 0.02, 20000",
        "128256, 1.0, 2000, 0.97, 0, 8000"
    })
    void shouldDrawFromTheHostSamplersFilteredDistribution(int vocab, double t, int k, double p, double minP, int draws) {
        Random r = new Random(SEED ^ vocab ^ k);
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) (r.nextGaussian() * 2.5);
        }
        SamplingParams params = SamplingParams.builder().temperature(t).topK(k).topP(p).minP(minP).build();
        TreeMap<Integer, Double> want = KeptDistribution.of(logits, params);
        int[] got = drawOnGpu(logits, params, draws, r.nextLong());
        int[] counts = new int[vocab];
        for (int g : got) {
            assertTrue(want.containsKey(g), "drew token " + g + " outside the host's kept set of " + want.size() + seed());
            counts[g]++;
        }
        // Tokens with an expected count of at least 50 alone, the rest in groups of consecutive (by probability)
        // tokens whose expected count reaches 50: each within 5 sigma (+ 2 draws of slack) of its probability.
        double worstSigma = 0;
        Integer[] ids = want.keySet().toArray(new Integer[0]);
        java.util.Arrays.sort(ids, (a, b) -> Double.compare(want.get(b), want.get(a)));
        double q = 0;
        long c = 0;
        int members = 0;
        for (int i = 0; i < ids.length; i++) {
            q += want.get(ids[i]);
            c += counts[ids[i]];
            members++;
            if (q * draws >= 50 || i == ids.length - 1) {
                double f = (double) c / draws;
                double sigma = Math.sqrt(q * (1 - q) / draws) + 1e-12;
                worstSigma = Math.max(worstSigma, Math.abs(f - q) / sigma);
                assertTrue(Math.abs(f - q) <= 5 * sigma + 2.0 / draws, members + " token(s) from " + ids[i - members + 1]
                        + ": frequency " + f + " vs probability " + q + " over " + draws + " draws" + seed());
                q = 0;
                c = 0;
                members = 0;
            }
        }
        System.out.printf("[sampling] vocab %d T %.1f top-k %d top-p %.2f min-p %.2f: %d kept, %d draws, worst %.2f sigma%n",
                vocab, t, k, p, minP, want.size(), draws, worstSigma);
    }

    @Test
    void shouldGiveTheArgmaxForTopKOneTinyTopPAndZeroTemperature() {
        Random r = new Random(SEED ^ 99);
        int vocab = 128256;
        for (int rep = 0; rep < 6; rep++) {
            float[] logits = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                logits[i] = (float) (r.nextGaussian() * 3);
            }
            if (rep == 1) {
                logits[77] = 40;
                logits[70000] = 40; // tie: the lower id
            }
            if (rep == 2) {
                logits[5] = Float.NaN;
                logits[vocab - 1] = 30;
            }
            if (rep == 3) {
                java.util.Arrays.fill(logits, 1.25f); // all equal: id 0
            }
            int best = 0;
            for (int i = 1; i < vocab; i++) {
                if (logits[i] > logits[best] || Float.isNaN(logits[best])) {
                    best = i;
                }
            }
            for (SamplingParams p : new SamplingParams[] {
                SamplingParams.builder().temperature(0.7).topK(1).build(),
                SamplingParams.builder().temperature(5).topK(1).build(),
                SamplingParams.builder().temperature(1).topP(1e-7).build(),
                SamplingParams.builder().temperature(0).build()}) {
                for (int g : drawOnGpu(logits, p, 64, r.nextLong())) {
                    assertEquals(best, g, "rep " + rep + " " + p + seed());
                }
            }
        }
    }

    @Test
    void shouldRepeatADrawForTheSameSeedAndCounter() {
        float[] logits = new float[3000];
        Random r = new Random(SEED ^ 5);
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) r.nextGaussian();
        }
        SamplingParams p = SamplingParams.builder().temperature(1).topP(0.95).build();
        int[] a = drawOnGpu(logits, p, 500, 42);
        int[] b = drawOnGpu(logits, p, 500, 42);
        int[] c = drawOnGpu(logits, p, 500, 43);
        assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
        assertTrue(!java.util.Arrays.equals(a, c), "another seed gave the same 500 draws" + seed());
    }

    /** {@code draws} rows over one logits row (stride 0), row i with draw counter i. */
    static int[] drawOnGpu(float[] logits, SamplingParams p, int draws, long seed) {
        try (Dev d = new Dev(ctx, CudaDtype.F16, 64L << 20); Arena host = Arena.ofConfined()) {
            MemorySegment params = host.allocate(4L * CudaKernels.SAMPLE_PARAM_INTS * draws, 64);
            for (int i = 0; i < draws; i++) {
                SamplingRow.write(params, i, p, logits.length, seed, i);
            }
            long l = d.floats(logits);
            long pa = d.ints(params.toArray(ValueLayout.JAVA_INT));
            long out = d.poisoned(4L * draws);
            new CudaKernels(ctx, CudaDtype.F16).sample(l, 0, draws, logits.length, pa, out);
            return d.readInts(out, draws);
        }
    }
}
