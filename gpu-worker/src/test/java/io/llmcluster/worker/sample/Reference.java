package io.llmcluster.worker.sample;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/** Test data and double-precision references for the sampler. */
final class Reference {
    private Reference() {}

    /** A native segment holding {@code rows}, one after the other. */
    static MemorySegment segmentOf(float[]... rows) {
        int total = 0;
        for (float[] r : rows) {
            total += r.length;
        }
        MemorySegment s = Arena.ofAuto().allocate(ValueLayout.JAVA_FLOAT, total);
        long at = 0;
        for (float[] r : rows) {
            MemorySegment.copy(r, 0, s, ValueLayout.JAVA_FLOAT, at * Float.BYTES, r.length);
            at += r.length;
        }
        return s;
    }

    /** Gaussian logits with standard deviation {@code scale} and a nonzero mean, reproducible by seed. */
    static float[] gaussianLogits(int n, double scale, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) {
            l[i] = (float) (1.5 + scale * r.nextGaussian());
        }
        return l;
    }

    /** Logits whose softmax is {@code probs} (up to float rounding), shifted by 3 so none is zero. */
    static float[] logitsOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            l[i] = (float) (Math.log(probs[i]) + 3);
        }
        return l;
    }

    static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double s = 0;
        for (float l : logits) {
            s += Math.exp(l - max);
        }
        double lse = max + Math.log(s);
        double[] out = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            out[i] = logits[i] - lse;
        }
        return out;
    }

    /** Token ids by logit descending, ties to the lowest id. */
    static int[] ranking(float[] logits) {
        return IntStream.range(0, logits.length).boxed()
                .sorted(Comparator.<Integer>comparingDouble(i -> -logits[i]).thenComparingInt(i -> i))
                .mapToInt(Integer::intValue).toArray();
    }

    /**
     * The distribution the sampler must draw from, in double: softmax(logits / T), then top-k, top-p (smallest
     * best-first prefix whose mass is >= p of what top-k kept), min-p (>= minP * largest), renormalized.
     * {@code topK <= 0} means off.
     */
    static double[] filtered(float[] logits, double temperature, int topK, double topP, double minP) {
        int[] order = ranking(logits);
        double max = logits[order[0]];
        double[] w = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            w[i] = Math.exp((logits[i] - max) / temperature);
        }
        int n = topK > 0 ? Math.min(topK, logits.length) : logits.length;
        double z = 0;
        for (int i = 0; i < n; i++) {
            z += w[order[i]];
        }
        if (topP < 1) {
            double acc = 0;
            int i = 0;
            while (i < n) {
                acc += w[order[i++]];
                if (acc >= topP * z) {
                    break;
                }
            }
            n = i;
        }
        double[] p = new double[logits.length];
        double kept = 0;
        for (int i = 0; i < n; i++) {
            int id = order[i];
            if (w[id] >= minP) { // the largest weight is 1
                p[id] = w[id];
                kept += w[id];
            }
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= kept;
        }
        return p;
    }
}
