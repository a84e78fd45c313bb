package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.TestData.FLOAT;
import static io.llmcluster.worker.cpu.TestData.SHORT;
import static io.llmcluster.worker.cpu.TestData.floats;
import static io.llmcluster.worker.cpu.TestData.random;
import static io.llmcluster.worker.cpu.TestData.relErr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link WeightMatrix#multiply} for every dtype against a double-accumulated reference computed from
 * {@link WeightMatrix#get} (so it checks the kernels, not the quantization), per token output row:
 * {@code ||out - ref|| / ||ref|| <= 1e-5}. Weight data always starts at an odd byte offset.
 */
class WeightMatrixTest {
    private static final double TOLERANCE = 1e-5;
    private static final int[][] SHAPES = {{1, 1}, {3, 7}, {5, 17}, {4, 16}, {13, 33}, {9, 64}, {37, 257},
        {6, 300}, {37, 8192}};

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (DType dtype : DType.values()) {
            for (int[] shape : SHAPES) {
                for (int tokens : new int[] {1, 2, 3, 5, 9}) {
                    cases.add(Arguments.of(dtype, shape[0], shape[1], tokens));
                }
            }
        }
        return cases.stream();
    }

    /** A rows x cols matrix of random weights in {@code dtype}, its data at byte offset 3 of a larger segment. */
    static WeightMatrix randomMatrix(Arena arena, DType dtype, int rows, int cols, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long n = (long) rows * cols;
        MemorySegment f32 = random(arena, r, 0, n, -1, 1);
        if (dtype == DType.INT8) {
            try (CpuThreadPool pool = new CpuThreadPool(2)) {
                return Int8Matrix.quantize(WeightMatrix.wrap(f32, DType.F32, rows, cols), arena, pool);
            }
        }
        long bytes = n * dtype.bytesPerElement();
        MemorySegment data = arena.allocate(bytes + 3).asSlice(3, bytes);
        for (long i = 0; i < n; i++) {
            float v = f32.getAtIndex(FLOAT, i);
            switch (dtype) {
                case F32 -> data.set(FLOAT, i * 4, v);
                case F16 -> data.set(SHORT, i * 2, Float.floatToFloat16(v));
                case BF16 -> data.set(SHORT, i * 2, (short) (Float.floatToRawIntBits(v) >>> 16));
                default -> throw new AssertionError(dtype);
            }
        }
        return WeightMatrix.wrap(data, dtype, rows, cols);
    }

    static double[] reference(WeightMatrix w, MemorySegment x, long xOffset) {
        double[] out = new double[w.rows()];
        for (int r = 0; r < w.rows(); r++) {
            double s = 0;
            for (int c = 0; c < w.cols(); c++) {
                s += (double) w.get(r, c) * x.getAtIndex(FLOAT, xOffset + c);
            }
            out[r] = s;
        }
        return out;
    }

    @ParameterizedTest(name = "{0} {1}x{2} tokens={3}")
    @MethodSource("cases")
    void multiplyShouldMatchADoubleReferenceForEveryTokenRow(DType dtype, int rows, int cols, int tokens) {
        try (Arena arena = Arena.ofShared()) {
            WeightMatrix w = randomMatrix(arena, dtype, rows, cols, rows * 31L + cols);
            MemorySegment x = random(arena, new SplittableRandom(tokens), 3, (long) tokens * cols, -1, 1);
            MemorySegment out = arena.allocate((2 + (long) tokens * rows) * 4);
            w.multiply(x, 3, tokens, out, 2, 0, rows);
            for (int t = 0; t < tokens; t++) {
                double[] expected = reference(w, x, 3 + (long) t * cols);
                double err = relErr(floats(out, 2 + (long) t * rows, rows), expected);
                assertTrue(err <= TOLERANCE, "token " + t + " rel err " + err);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void multiplyShouldWriteOnlyTheRequestedRows(DType dtype) {
        try (Arena arena = Arena.ofShared()) {
            int rows = 23;
            int cols = 40;
            int tokens = 3;
            WeightMatrix w = randomMatrix(arena, dtype, rows, cols, 5);
            MemorySegment x = random(arena, new SplittableRandom(6), 0, (long) tokens * cols, -1, 1);
            MemorySegment out = arena.allocate((long) tokens * rows * 4);
            out.fill((byte) 0x7f);
            w.multiply(x, 0, tokens, out, 0, 5, 16);
            for (int t = 0; t < tokens; t++) {
                double[] expected = reference(w, x, (long) t * cols);
                for (int r = 0; r < rows; r++) {
                    float v = out.getAtIndex(FLOAT, (long) t * rows + r);
                    if (r >= 5 && r < 16) {
                        assertEquals(expected[r], v, 1e-5 * Math.abs(expected[r]) + 1e-6);
                    } else {
                        assertEquals(0x7f7f7f7f, Float.floatToRawIntBits(v), "row " + r + " was written");
                    }
                }
            }
        }
    }

    /** Same accumulation order and a fixed scalar lane-sum tree: the same bits in every JIT tier and batch. */
    @ParameterizedTest
    @EnumSource(DType.class)
    void shouldGiveEachTokenTheSameBitsAloneOrInABatch(DType dtype) {
        try (Arena arena = Arena.ofShared()) {
            int rows = 19;
            int cols = 203;
            int tokens = 7;
            WeightMatrix w = randomMatrix(arena, dtype, rows, cols, 9);
            MemorySegment x = random(arena, new SplittableRandom(10), 0, (long) tokens * cols, -1, 1);
            MemorySegment batch = arena.allocate((long) tokens * rows * 4);
            MemorySegment alone = arena.allocate((long) tokens * rows * 4);
            w.multiply(x, 0, tokens, batch, 0, 0, rows);
            for (int t = 0; t < tokens; t++) {
                w.multiply(x, (long) t * cols, 1, alone, (long) t * rows, 0, rows);
            }
            assertArrayEquals(floats(alone, 0, tokens * rows), floats(batch, 0, tokens * rows));
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void copyRowToShouldWriteTheRowAsGetSeesIt(DType dtype) {
        try (Arena arena = Arena.ofShared()) {
            int rows = 5;
            int cols = 77;
            WeightMatrix w = randomMatrix(arena, dtype, rows, cols, 11);
            MemorySegment dst = arena.allocate((cols + 1) * 4L);
            for (int r = 0; r < rows; r++) {
                w.copyRowTo(r, dst, 1);
                for (int c = 0; c < cols; c++) {
                    assertEquals(w.get(r, c), dst.getAtIndex(FLOAT, 1 + c), "row " + r + " col " + c);
                }
            }
        }
    }

    @Test
    void f16ShouldWidenEveryFiniteHalfExactly() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 0;
            MemorySegment data = arena.allocate(65536 * 2 + 1).asSlice(1, 65536 * 2);
            for (int bits = 0; bits < 65536; bits++) {
                if ((bits & 0x7c00) != 0x7c00) {
                    data.set(SHORT, n++ * 2L, (short) bits);
                }
            }
            assertEquals(63488, n);
            WeightMatrix w = WeightMatrix.wrap(data.asSlice(0, n * 2L), DType.F16, 1, n);
            MemorySegment out = arena.allocate(n * 4L);
            w.copyRowTo(0, out, 0);
            for (int i = 0; i < n; i++) {
                short h = data.get(SHORT, i * 2L);
                int expected = Float.floatToRawIntBits(Float.float16ToFloat(h));
                assertEquals(expected, out.getAtIndex(ValueLayout.JAVA_INT, i), "half bits " + (h & 0xffff));
                assertEquals(Float.float16ToFloat(h), w.get(0, i));
            }
        }
    }

    @Test
    void bf16ShouldWidenEveryBitPatternToTheHighHalfOfAFloat() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(65536 * 2 + 3).asSlice(3, 65536 * 2);
            for (int bits = 0; bits < 65536; bits++) {
                data.set(SHORT, bits * 2L, (short) bits);
            }
            WeightMatrix w = WeightMatrix.wrap(data, DType.BF16, 1, 65536);
            MemorySegment out = arena.allocate(65536 * 4L);
            w.copyRowTo(0, out, 0);
            for (int bits = 0; bits < 65536; bits++) {
                assertEquals(bits << 16, out.getAtIndex(ValueLayout.JAVA_INT, bits), "bf16 bits " + bits);
            }
        }
    }

    @Test
    void int8ShouldKeepEveryWeightWithinHalfAStepOfItsRowScale() {
        try (Arena arena = Arena.ofShared(); CpuThreadPool pool = new CpuThreadPool(3)) {
            int rows = 29;
            int cols = 301;
            SplittableRandom r = new SplittableRandom(12);
            MemorySegment f32 = random(arena, r, 0, (long) rows * cols, -1, 1);
            for (int row = 0; row < rows; row++) {
                double rowScale = Math.pow(10, row % 7 - 3);
                for (int c = 0; c < cols; c++) {
                    long i = (long) row * cols + c;
                    f32.setAtIndex(FLOAT, i, (float) (f32.getAtIndex(FLOAT, i) * rowScale));
                }
            }
            WeightMatrix source = WeightMatrix.wrap(f32, DType.F32, rows, cols);
            Int8Matrix q = Int8Matrix.quantize(source, arena, pool);
            assertEquals(DType.INT8, q.dtype());
            assertEquals((long) rows * cols + rows * 4L, q.bytes());
            for (int row = 0; row < rows; row++) {
                float maxAbs = 0;
                int maxQ = 0;
                for (int c = 0; c < cols; c++) {
                    maxAbs = Math.max(maxAbs, Math.abs(source.get(row, c)));
                    maxQ = Math.max(maxQ, Math.abs(q.quantized(row, c)));
                }
                assertEquals(maxAbs / 127, q.scale(row));
                assertEquals(127, maxQ, "the largest weight maps to +-127");
                for (int c = 0; c < cols; c++) {
                    double error = Math.abs((double) source.get(row, c) - q.get(row, c));
                    assertTrue(error <= q.scale(row) * 0.5 * (1 + 1e-5), "row " + row + " col " + c + ": " + error);
                }
            }
        }
    }

    @Test
    void int8ProductShouldStayWithinTheQuantizationBoundOfTheFp32Product() {
        try (Arena arena = Arena.ofShared(); CpuThreadPool pool = new CpuThreadPool(2)) {
            int rows = 64;
            int cols = 1000;
            int tokens = 3;
            WeightMatrix source = randomMatrix(arena, DType.F32, rows, cols, 13);
            Int8Matrix q = Int8Matrix.quantize(source, arena, pool);
            MemorySegment x = random(arena, new SplittableRandom(14), 0, (long) tokens * cols, -1, 1);
            MemorySegment out = arena.allocate((long) tokens * rows * 4);
            q.multiply(x, 0, tokens, out, 0, 0, rows);
            double worstRatio = 0;
            for (int t = 0; t < tokens; t++) {
                double[] exact = reference(source, x, (long) t * cols);
                for (int r = 0; r < rows; r++) {
                    double sumAbsX = 0;
                    for (int c = 0; c < cols; c++) {
                        sumAbsX += Math.abs(x.getAtIndex(FLOAT, (long) t * cols + c));
                    }
                    double bound = 0.5 * q.scale(r) * sumAbsX;
                    double error = Math.abs(out.getAtIndex(FLOAT, (long) t * rows + r) - exact[r]);
                    assertTrue(error <= bound * (1 + 1e-4) + 1e-5, "token " + t + " row " + r);
                    worstRatio = Math.max(worstRatio, error / bound);
                }
                double relative = relErr(floats(out, (long) t * rows, rows), exact);
                assertTrue(relative < 0.02, "random-weight int8 rel err " + relative);
            }
            assertTrue(worstRatio < 0.5, "errors are random, far below the worst case: " + worstRatio);
        }
    }

    @Test
    void int8ShouldQuantizeAnAllZeroRowToZeroScale() {
        try (Arena arena = Arena.ofShared(); CpuThreadPool pool = new CpuThreadPool(1)) {
            MemorySegment f32 = random(arena, new SplittableRandom(15), 0, 2 * 9, 1, 2);
            f32.asSlice(9 * 4, 9 * 4).fill((byte) 0);
            Int8Matrix q = Int8Matrix.quantize(WeightMatrix.wrap(f32, DType.F32, 2, 9), arena, pool);
            assertEquals(0f, q.scale(1));
            assertTrue(q.scale(0) > 0);
        }
    }

    @Test
    void wrapShouldRejectDataOfTheWrongSizeAndInt8WithoutScales() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(4 * 6 * 2);
            assertEquals(DType.BF16, WeightMatrix.wrap(data, DType.BF16, 4, 6).dtype());
            assertEquals(48, WeightMatrix.wrap(data, DType.F16, 4, 6).bytes());
            assertThrows(IllegalArgumentException.class, () -> WeightMatrix.wrap(data, DType.F32, 4, 6));
            assertThrows(IllegalArgumentException.class, () -> WeightMatrix.wrap(data, DType.INT8, 6, 8));
            assertThrows(IllegalArgumentException.class, () -> WeightMatrix.wrap(data, DType.BF16, 0, 6));
        }
    }

    @Test
    void multiplyShouldRejectActivationsOrOutputsThatAreTooSmall() {
        try (Arena arena = Arena.ofConfined()) {
            WeightMatrix w = WeightMatrix.wrap(arena.allocate(4 * 6 * 4), DType.F32, 4, 6);
            MemorySegment x = arena.allocate(2 * 6 * 4);
            MemorySegment out = arena.allocate(2 * 4 * 4);
            w.multiply(x, 0, 2, out, 0, 0, 4);
            assertThrows(IndexOutOfBoundsException.class, () -> w.multiply(x, 1, 2, out, 0, 0, 4));
            assertThrows(IndexOutOfBoundsException.class, () -> w.multiply(x, 0, 2, out, 1, 0, 4));
            assertThrows(IndexOutOfBoundsException.class, () -> w.multiply(x, 0, 1, out, 0, 0, 5));
        }
    }

    @Test
    void dtypeShouldKnowItsSizeAndSafetensorsName() {
        assertEquals(4, DType.F32.bytesPerElement());
        assertEquals(2, DType.BF16.bytesPerElement());
        assertEquals(2, DType.F16.bytesPerElement());
        assertEquals(1, DType.INT8.bytesPerElement());
        assertEquals(DType.BF16, DType.fromSafetensors("BF16"));
        assertEquals(DType.INT8, DType.fromSafetensors("I8"));
        assertThrows(IllegalArgumentException.class, () -> DType.fromSafetensors("F64"));
    }
}
