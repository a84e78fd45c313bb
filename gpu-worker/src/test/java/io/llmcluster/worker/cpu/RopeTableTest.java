package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.TestData.floats;
import static io.llmcluster.worker.cpu.TestData.random;
import static io.llmcluster.worker.cpu.TestData.relErr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.cpu.RopeTable.Llama3Scaling;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** RoPE against a straightforward double-precision transcription of the Hugging Face formulas. */
class RopeTableTest {
    private static final Llama3Scaling LLAMA3_SMALL = new Llama3Scaling(8, 1, 4, 64);
    private static final int[] POSITIONS = {0, 1, 2, 7, 63, 64, 100, 255};

    /** transformers: default inv_freq, then _compute_llama3_parameters, in double. */
    static double[] invFreq(int headDim, double theta, Llama3Scaling s) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1 / Math.pow(theta, 2.0 * i / headDim);
            if (s != null) {
                double wavelen = 2 * Math.PI / inv[i];
                double lowFreqWavelen = s.originalMaxPositions() / s.lowFreqFactor();
                double highFreqWavelen = s.originalMaxPositions() / s.highFreqFactor();
                if (wavelen > lowFreqWavelen) {
                    inv[i] /= s.factor();
                } else if (wavelen >= highFreqWavelen) {
                    double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor())
                            / (s.highFreqFactor() - s.lowFreqFactor());
                    inv[i] = (1 - smooth) * inv[i] / s.factor() + smooth * inv[i];
                }
            }
        }
        return inv;
    }

    /** q * cos + rotate_half(q) * sin for one head, in double. */
    static double[] rotate(float[] x, double[] inv, int position) {
        int half = inv.length;
        double[] out = new double[2 * half];
        for (int i = 0; i < half; i++) {
            double c = Math.cos(position * inv[i]);
            double s = Math.sin(position * inv[i]);
            out[i] = x[i] * c - x[i + half] * s;
            out[i + half] = x[i + half] * c + x[i] * s;
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 16, 64, 128})
    void invFreqShouldMatchTheDefaultFormula(int headDim) {
        RopeTable rope = new RopeTable(headDim, 4, 10000, null);
        double[] expected = invFreq(headDim, 10000, null);
        for (int i = 0; i < headDim / 2; i++) {
            assertEquals(expected[i], rope.invFreq(i), 2e-7 * expected[i], "i=" + i);
        }
    }

    @Test
    void llama3ScalingShouldKeepHighDivideLowAndSmoothMediumFrequencies() {
        RopeTable rope = new RopeTable(16, 256, 500000, LLAMA3_SMALL);
        double[] plain = invFreq(16, 500000, null);
        double[] expected = invFreq(16, 500000, LLAMA3_SMALL);
        int high = 0;
        int medium = 0;
        int low = 0;
        for (int i = 0; i < 8; i++) {
            assertEquals(expected[i], rope.invFreq(i), 1e-6 * expected[i], "i=" + i);
            double wavelen = 2 * Math.PI / plain[i];
            if (wavelen < 16) {
                high++;
                assertEquals(plain[i], expected[i]);
            } else if (wavelen > 64) {
                low++;
                assertEquals(plain[i] / 8, expected[i], 1e-15);
            } else {
                medium++;
                assertTrue(expected[i] < plain[i] && expected[i] > plain[i] / 8);
            }
        }
        assertTrue(high > 0 && medium > 0 && low > 0, "the config exercises all three bands");
    }

    @ParameterizedTest
    @ValueSource(ints = {16, 64, 128})
    void applyShouldMatchTheDoubleFormulaForEveryHead(int headDim) {
        checkApply(new RopeTable(headDim, 256, 10000, null), invFreq(headDim, 10000, null), headDim);
    }

    @Test
    void applyShouldMatchTheDoubleFormulaWithLlama3Scaling() {
        checkApply(new RopeTable(16, 256, 500000, LLAMA3_SMALL), invFreq(16, 500000, LLAMA3_SMALL), 16);
    }

    private static void checkApply(RopeTable rope, double[] inv, int headDim) {
        int heads = 3;
        try (Arena arena = Arena.ofConfined()) {
            for (int position : POSITIONS) {
                MemorySegment x = random(arena, new SplittableRandom(position), 2, (long) heads * headDim, -1, 1);
                float[] before = floats(x, 2, heads * headDim);
                rope.apply(x, 2, heads, headDim, position);
                for (int h = 0; h < heads; h++) {
                    float[] head = new float[headDim];
                    System.arraycopy(before, h * headDim, head, 0, headDim);
                    double err = relErr(floats(x, 2 + (long) h * headDim, headDim), rotate(head, inv, position));
                    // float32 angles (as in transformers) carry ~position * 1e-7 rad of rounding
                    assertTrue(err <= 1e-6 + position * 2e-7, "pos " + position + " head " + h + ": " + err);
                }
            }
        }
    }

    @Test
    void applyShouldPreserveTheNormOfEveryHeadAndBeTheIdentityAtPositionZero() {
        RopeTable rope = new RopeTable(64, 1024, 500000, new Llama3Scaling(32, 1, 4, 256));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = random(arena, new SplittableRandom(3), 0, 4 * 64, -2, 2);
            float[] before = floats(x, 0, 256);
            rope.apply(x, 0, 4, 64, 0);
            assertArrayEquals(before, floats(x, 0, 256));
            for (int position : new int[] {1, 17, 1023}) {
                rope.apply(x, 0, 4, 64, position);
                for (int h = 0; h < 4; h++) {
                    double n0 = 0;
                    double n1 = 0;
                    float[] now = floats(x, h * 64L, 64);
                    for (int i = 0; i < 64; i++) {
                        n0 += before[h * 64 + i] * (double) before[h * 64 + i];
                        n1 += now[i] * (double) now[i];
                    }
                    assertEquals(Math.sqrt(n0), Math.sqrt(n1), 1e-6 * Math.sqrt(n0), "pos " + position);
                }
                before = floats(x, 0, 256);
            }
        }
    }

    @Test
    void shouldRejectAHeadDimOrPositionOutsideTheTable() {
        RopeTable rope = new RopeTable(8, 10, 10000, null);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(64 * 4);
            assertThrows(IllegalArgumentException.class, () -> rope.apply(x, 0, 1, 16, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> rope.apply(x, 0, 1, 8, 10));
            assertThrows(IllegalArgumentException.class, () -> new RopeTable(7, 10, 10000, null));
        }
    }
}
