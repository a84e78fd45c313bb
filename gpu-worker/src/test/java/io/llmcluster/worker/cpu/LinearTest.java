package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.TestData.FLOAT;
import static io.llmcluster.worker.cpu.TestData.floats;
import static io.llmcluster.worker.cpu.TestData.random;
import static io.llmcluster.worker.cpu.TestData.relErr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class LinearTest {

    @ParameterizedTest
    @EnumSource(DType.class)
    void shouldGiveTheSameBitsOnOneTwoOrThreeThreads(DType dtype) {
        try (Arena arena = Arena.ofShared()) {
            int rows = 203;
            int cols = 129;
            WeightMatrix w = WeightMatrixTest.randomMatrix(arena, dtype, rows, cols, 21);
            MemorySegment bias = random(arena, new SplittableRandom(22), 0, rows, -1, 1);
            for (int tokens : new int[] {1, 3, 6}) {
                MemorySegment x = random(arena, new SplittableRandom(tokens), 1, (long) tokens * cols, -1, 1);
                float[] single = null;
                for (int threads = 1; threads <= 3; threads++) {
                    try (CpuThreadPool pool = new CpuThreadPool(threads)) {
                        MemorySegment out = arena.allocate((long) tokens * rows * 4);
                        new Linear(w, bias, pool).forward(x, 1, tokens, out, 0);
                        float[] result = floats(out, 0, tokens * rows);
                        if (single == null) {
                            single = result;
                        } else {
                            assertArrayEquals(single, result, threads + " threads, " + tokens + " tokens");
                        }
                    }
                }
            }
        }
    }

    @Test
    void shouldAddTheBiasToEveryTokenRow() {
        try (Arena arena = Arena.ofShared(); CpuThreadPool pool = new CpuThreadPool(2)) {
            int rows = 1000;
            int cols = 67;
            int tokens = 5;
            WeightMatrix w = WeightMatrixTest.randomMatrix(arena, DType.BF16, rows, cols, 23);
            MemorySegment bias = random(arena, new SplittableRandom(24), 0, rows, -1, 1);
            MemorySegment x = random(arena, new SplittableRandom(25), 0, (long) tokens * cols, -1, 1);
            MemorySegment out = arena.allocate((3 + (long) tokens * rows) * 4);
            Linear linear = new Linear(w, bias, pool);
            for (int rep = 0; rep < 3; rep++) {
                linear.forward(x, 0, tokens, out, 3);
            }
            for (int t = 0; t < tokens; t++) {
                double[] expected = WeightMatrixTest.reference(w, x, (long) t * cols);
                for (int r = 0; r < rows; r++) {
                    expected[r] += bias.getAtIndex(FLOAT, r);
                }
                double err = relErr(floats(out, 3 + (long) t * rows, rows), expected);
                assertTrue(err <= 1e-5, "token " + t + ": " + err);
            }
        }
    }

    @Test
    void shouldRejectABiasShorterThanTheRows() {
        try (Arena arena = Arena.ofConfined(); CpuThreadPool pool = new CpuThreadPool(1)) {
            WeightMatrix w = WeightMatrix.wrap(arena.allocate(8 * 4 * 4), DType.F32, 8, 4);
            assertThrows(IllegalArgumentException.class, () -> new Linear(w, arena.allocate(7 * 4), pool));
        }
    }
}
