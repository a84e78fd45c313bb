package io.llmcluster.worker.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The INT8 KV rule in plain Java (the twin the GPU test compares the kernel with byte for byte). */
class Int8KvTest {
    @Test
    void shouldMapTheLargestMagnitudeTo127AndRoundHalvesToEven() {
        float[] x = {-63.5f, 127f, 0.5f, 1.5f, -2.5f, 0f, -127f, 3.25f};
        byte[] q = new byte[10];
        float scale = Int8Kv.quantize(x, 0, 8, q, 1);
        assertEquals(1f, scale);
        assertArrayEquals(new byte[] {0, -64, 127, 0, 2, -2, 0, -127, 3, 0}, q);
        float[] y = {-254f, 100f};
        assertEquals(2f, Int8Kv.quantize(y, 0, 2, q, 0));
        assertEquals(-127, q[0]);
        assertEquals(50, q[1]);
    }

    @Test
    void shouldGiveAnAllZeroRowScaleZeroAndZeroBytes() {
        byte[] q = {5, 5, 5};
        assertEquals(0f, Int8Kv.quantize(new float[3], 0, 3, q, 0));
        assertArrayEquals(new byte[3], q);
    }

    @Test
    void shouldStayWithinHalfAStepOfEveryValue() {
        Random r = new Random(11);
        float[] x = new float[128];
        byte[] q = new byte[128];
        for (int round = 0; round < 200; round++) {
            float amp = (float) Math.exp(r.nextGaussian() * 3);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian() * amp;
            }
            float scale = Int8Kv.quantize(x, 0, x.length, q, 0);
            for (int i = 0; i < x.length; i++) {
                float err = Math.abs(Int8Kv.dequantize(q[i], scale) - x[i]);
                assertTrue(err <= scale * 0.5f * (1 + 1e-5f), "element " + i + ": error " + err + " > half of " + scale);
            }
        }
    }

    @Test
    void shouldRotateLikeRotateHalfWithBias() {
        float[] x = {9, 1, 2, 3, 4, 9};
        float[] bias = {0, 0.5f, -1, 0, 1, 0};
        float[] out = new float[4];
        Int8Kv.ropeK(x, 1, bias, 1, 4, new float[] {1, 0.5f}, new float[] {0, 0.25f}, 0, out);
        // x + bias = {1.5, 1, 3, 5}; pairs (1.5, 3) with cos 1 / sin 0, (1, 5) with cos 0.5 / sin 0.25
        assertArrayEquals(new float[] {1.5f, 1 * 0.5f - 5 * 0.25f, 3f, 5 * 0.5f + 1 * 0.25f}, out);
    }
}
