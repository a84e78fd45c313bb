package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class W8a8RowsTest {
    @Test
    void shouldQuantizeEachTokenWithItsOwnScale() {
        // halves round to even, as rintf does
        float[] x = {127f, -63.5f, 0.4f, 0f, /* token 2 */ 0, 0, 0, 0, /* token 3 */ -254f, 127f, 1f, 0.4f};
        byte[] q = new byte[12];
        float[] scales = new float[3];
        W8a8Rows.quantizeActivations(x, 3, 4, q, scales);
        assertArrayEquals(new float[] {1f, 0f, 2f}, scales);
        assertArrayEquals(new byte[] {127, -64, 0, 0, 0, 0, 0, 0, -127, 64, 0, 0}, q);
    }

    @Test
    void shouldMultiplyColumnsBySmoothingFactorsBeforeQuantizingEachRow() {
        float[] w = {1f, 3f, -4f, /* row 2 */ 0.5f, 0.5f, 0.5f};
        float[] s = {4f, 0.5f, 1f};
        byte[] q = new byte[6];
        float[] scales = new float[2];
        W8a8Rows.quantizeWeights(w, 2, 3, s, q, scales);
        // row 1 smoothed: 4, 1.5, -4 -> max 4 (1.5 -> 47.6); row 2: 2, 0.25, 0.5 -> max 2
        assertArrayEquals(new float[] {4f / 127f, 2f / 127f}, scales);
        assertArrayEquals(new byte[] {127, 48, -127, 127, 16, 32}, q);
        W8a8Rows.quantizeWeights(w, 2, 3, null, q, scales);
        assertArrayEquals(new byte[] {32, 95, -127, 127, 127, 127}, q);
    }

    @Test
    void shouldStayWithinHalfAStepOfEveryValueOnRandomData() {
        Random r = new Random(11);
        int tokens = 5;
        int cols = 300;
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * (i % 37 == 0 ? 40 : 1));
        }
        byte[] q = new byte[x.length];
        float[] scales = new float[tokens];
        W8a8Rows.quantizeActivations(x, tokens, cols, q, scales);
        for (int i = 0; i < x.length; i++) {
            float scale = scales[i / cols];
            assertTrue(Math.abs(x[i] - q[i] * scale) <= scale * 0.5f * (1 + 1e-5f), "element " + i);
        }
        assertEquals(4f, W8a8Rows.epilogue(2, 0.5f, 4f));
    }
}
