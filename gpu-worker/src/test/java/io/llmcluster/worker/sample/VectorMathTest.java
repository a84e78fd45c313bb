package io.llmcluster.worker.sample;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class VectorMathTest {
    private static final int[] SIZES = {1, 7, 16, 17, 100, 1003, 32_000};

    private static float[] logits(int n, long seed) {
        float[] x = Reference.gaussianLogits(n, 4, seed);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < n / 50; i++) {
            x[r.nextInt(n)] = Float.NEGATIVE_INFINITY;
        }
        return x;
    }

    @Test
    void shouldFindTheSameArgmaxAsTheScalarTwinWithNanAndTies() {
        for (int n : SIZES) {
            float[] x = logits(n, n);
            SplittableRandom r = new SplittableRandom(n);
            for (int i = 0; i < n / 30; i++) {
                x[r.nextInt(n)] = Float.NaN;
            }
            int best = Reference.ranking(x.clone())[0];
            x[Math.max(0, n - 2)] = x[best]; // a later tie
            float[] y = x.clone();
            assertEquals(VectorMath.argmaxSanitizingScalar(y, n), VectorMath.argmaxSanitizing(x, n), "n=" + n);
            assertArrayEquals(y, x, "NaN replaced alike, n=" + n);
        }
    }

    @Test
    void shouldTreatPositiveInfinityAsTheLargestFloatAndReportAllMinusInfinity() {
        float[] x = {1f, Float.POSITIVE_INFINITY, Float.NaN, Float.POSITIVE_INFINITY};
        assertEquals(1, VectorMath.argmaxSanitizing(x, 4));
        assertArrayEquals(new float[] {1f, Float.MAX_VALUE, Float.NEGATIVE_INFINITY, Float.MAX_VALUE}, x);
        float[] none = new float[40];
        java.util.Arrays.fill(none, Float.NaN);
        none[3] = Float.NEGATIVE_INFINITY;
        assertEquals(-1, VectorMath.argmaxSanitizing(none, 40));
    }

    @Test
    void shouldComputeExpWithinOneUlpOfTheScalarTwin() {
        for (int n : SIZES) {
            float[] x = logits(n, 100 + n);
            float max = x[VectorMath.argmaxSanitizingScalar(x, n)];
            float[] got = new float[n];
            float[] want = new float[n];
            double sum = VectorMath.expShifted(x, n, max, 1 / 0.7f, got);
            double wantSum = VectorMath.expShiftedScalar(x, n, max, 1 / 0.7f, want);
            for (int i = 0; i < n; i++) {
                assertEquals(want[i], got[i], Math.ulp(want[i]), "i=" + i);
            }
            assertEquals(wantSum, sum, 1e-6 * wantSum);
            assertEquals(1f, got[VectorMath.argmaxSanitizingScalar(x, n)]);
        }
    }

    @Test
    void shouldSumExpCloseToTheDoubleTwin() {
        for (int n : SIZES) {
            float[] x = logits(n, 200 + n);
            float max = x[VectorMath.argmaxSanitizingScalar(x, n)];
            double want = VectorMath.sumExpShiftedScalar(x, n, max);
            assertEquals(want, VectorMath.sumExpShifted(x, n, max), 2e-7 * want, "n=" + n);
        }
    }
}
