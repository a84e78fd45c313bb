package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class SmoothingFactorsTest {
    @Test
    void shouldBalanceActivationAndWeightMaximaWithAlphaOneHalf() {
        // s = sqrt(a) / sqrt(w): a = 16, w = 1 -> 4; a = 1, w = 16 -> 0.25; a = w -> 1
        assertArrayEquals(new float[] {4f, 0.25f, 1f}, SmoothingFactors.of(new float[] {16, 1, 9}, new float[] {1, 16, 9}, 0.5));
    }

    @Test
    void shouldMoveEverythingToTheWeightsAtAlphaOneAndNothingAtAlphaZero() {
        assertArrayEquals(new float[] {8f, 0.5f}, SmoothingFactors.of(new float[] {8, 0.5f}, new float[] {3, 7}, 1.0));
        assertArrayEquals(new float[] {0.25f, 2f}, SmoothingFactors.of(new float[] {8, 0.5f}, new float[] {4, 0.5f}, 0.0));
    }

    @Test
    void shouldKeepOneForDegenerateColumnsAndClampExtremes() {
        float[] s = SmoothingFactors.of(new float[] {0, 5, Float.NaN, 1e30f, 1e-30f}, new float[] {2, 0, 1, 1e-30f, 1e30f}, 0.5);
        assertArrayEquals(new float[] {1f, 1f, 1f, (float) SmoothingFactors.MAX_FACTOR, (float) SmoothingFactors.MIN_FACTOR}, s);
    }

    @Test
    void shouldFoldTheInverseFactorsIntoTheNormWeight() {
        assertArrayEquals(new float[] {0.5f, 4f, -3f}, SmoothingFactors.foldIntoNorm(new float[] {2, 1, -3}, new float[] {4, 0.25f, 1}));
    }

    @Test
    void shouldRejectMismatchedColumnsAndAlphaOutsideZeroToOne() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SmoothingFactors.of(new float[2], new float[3], 0.5));
        assertEquals("column counts differ: 2 activation maxima, 3 weight maxima", e.getMessage());
        assertEquals("alpha must be in [0, 1], got 1.5", assertThrows(IllegalArgumentException.class,
                () -> SmoothingFactors.of(new float[1], new float[1], 1.5)).getMessage());
    }
}
