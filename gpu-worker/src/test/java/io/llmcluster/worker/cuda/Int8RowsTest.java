package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.cpu.CpuThreadPool;
import io.llmcluster.worker.cpu.DType;
import io.llmcluster.worker.cpu.Int8Matrix;
import io.llmcluster.worker.cpu.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The CUDA backend's INT8 rule (the GPU kernels' twin) against the CPU backend's, and its own exact cases. */
class Int8RowsTest {
    @Test
    void shouldQuantizePerChannelExactlyLikeTheCpuBackend() {
        int rows = 37;
        int cols = 96;
        Random r = new Random(11);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian() * 0.2f;
        }
        byte[] packed = new byte[rows * cols];
        float[] scales = new float[rows];
        for (int row = 0; row < rows; row++) {
            float[] one = java.util.Arrays.copyOfRange(w, row * cols, (row + 1) * cols);
            Int8Rows.quantize(one, cols, cols, packed, row * cols, scales, row);
        }
        try (Arena arena = Arena.ofShared(); CpuThreadPool pool = new CpuThreadPool(1)) {
            MemorySegment data = arena.allocateFrom(ValueLayout.JAVA_FLOAT, w);
            Int8Matrix cpu = Int8Matrix.quantize(WeightMatrix.wrap(data, DType.F32, rows, cols), arena, pool);
            for (int row = 0; row < rows; row++) {
                assertEquals(cpu.scale(row), scales[row], "scale of row " + row);
                for (int c = 0; c < cols; c++) {
                    assertEquals(cpu.quantized(row, c), (byte) ((packed[row * cols + c] & 0xFF) - 128), "q[" + row + "][" + c + "]");
                }
            }
        }
    }

    @Test
    void shouldScaleEachGroupByItsOwnMaximumWithAShortLastGroup() {
        float[] row = {1.27f, -0.5f, 0, 0.01f, /* group 2 */ 0, 0, 0, 0, /* group 3, short */ -2.54f, 1.27f};
        byte[] packed = new byte[10];
        float[] scales = new float[3];
        Int8Rows.quantize(row, 10, 4, packed, 0, scales, 0);
        assertArrayEquals(new float[] {1.27f / 127, 0, 2.54f / 127}, scales);
        int[] q = new int[10];
        for (int i = 0; i < 10; i++) {
            q[i] = (packed[i] & 0xFF) - 128;
        }
        assertArrayEquals(new int[] {127, -50, 0, 1, 0, 0, 0, 0, -127, 64}, q); // 63.5 rounds to even: 64
        assertEquals(-2.54f, Int8Rows.dequantize(packed[8], scales[2]), 1e-6);
        assertEquals(3, Int8Rows.groups(10, 4));
    }

    @Test
    void shouldParseTheQuantizeFlagsLikeTheCpuBackendAndRejectBadGroups() {
        assertEquals(CudaQuantization.NONE, CudaQuantization.parse(null, 0));
        assertEquals(CudaQuantization.int8PerChannel(), CudaQuantization.parse("INT8", 0));
        assertEquals(CudaQuantization.int8Groups(128), CudaQuantization.parse("int8", 128));
        assertEquals("int8-g128", CudaQuantization.int8Groups(128).tag());
        assertEquals("int8-ch", CudaQuantization.int8PerChannel().tag());
        assertEquals(64, CudaQuantization.int8Groups(128).groupFor(64));
        assertEquals(4096, CudaQuantization.int8PerChannel().groupFor(4096));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CudaQuantization.parse("int4", 0)).getMessage()
                .contains("(int8 or w8a8)"));
        assertThrows(IllegalArgumentException.class, () -> CudaQuantization.parse("int8", 100));
        assertThrows(IllegalArgumentException.class, () -> CudaQuantization.parse(null, 128));
    }
}
