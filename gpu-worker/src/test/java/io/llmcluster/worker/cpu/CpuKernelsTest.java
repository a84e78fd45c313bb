package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.TestData.FLOAT;
import static io.llmcluster.worker.cpu.TestData.floats;
import static io.llmcluster.worker.cpu.TestData.random;
import static io.llmcluster.worker.cpu.TestData.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Each vector kernel against its scalar twin, on random data, lengths around the vector widths, odd offsets. */
class CpuKernelsTest {
    private static final double TOLERANCE = 2e-6;

    static IntStream sizes() {
        return IntStream.of(TestData.SIZES);
    }

    @ParameterizedTest
    @MethodSource("sizes")
    void rmsNormShouldMatchItsScalarTwin(int n) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(n);
            MemorySegment x = random(arena, r, 3, n, -2, 2);
            MemorySegment w = random(arena, r, 5, n, 0.5, 1.5);
            MemorySegment vec = arena.allocate((n + 1) * 4L);
            MemorySegment sca = arena.allocate((n + 1) * 4L);
            CpuKernels.rmsNorm(x, 3, w, 5, vec, 1, n, 1e-5f);
            ScalarKernels.rmsNorm(x, 3, w, 5, sca, 1, n, 1e-5f);
            assertTrue(relErr(floats(vec, 1, n), floats(sca, 1, n)) <= TOLERANCE);
            double ss = 0;
            for (int i = 0; i < n; i++) {
                double v = x.getAtIndex(FLOAT, 3 + i);
                ss += v * v;
            }
            double inv = 1 / Math.sqrt(ss / n + 1e-5);
            double[] exact = new double[n];
            for (int i = 0; i < n; i++) {
                exact[i] = x.getAtIndex(FLOAT, 3 + i) * inv * w.getAtIndex(FLOAT, 5 + i);
            }
            assertTrue(relErr(floats(vec, 1, n), exact) <= 1e-6, "vs double reference");
        }
    }

    @ParameterizedTest
    @MethodSource("sizes")
    void rmsNormShouldWorkInPlace(int n) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(n + 100);
            MemorySegment x = random(arena, r, 0, n, -3, 1);
            MemorySegment w = random(arena, r, 0, n, 0.5, 1.5);
            MemorySegment expected = arena.allocate(n * 4L);
            ScalarKernels.rmsNorm(x, 0, w, 0, expected, 0, n, 1e-6f);
            CpuKernels.rmsNorm(x, 0, w, 0, x, 0, n, 1e-6f);
            assertTrue(relErr(floats(x, 0, n), floats(expected, 0, n)) <= TOLERANCE);
        }
    }

    @ParameterizedTest
    @MethodSource("sizes")
    void addShouldMatchItsScalarTwin(int n) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(n);
            MemorySegment src = random(arena, r, 2, n, -1, 1);
            MemorySegment vec = random(arena, r, 1, n, -1, 1);
            MemorySegment sca = TestData.copy(arena, vec);
            CpuKernels.add(vec, 1, src, 2, n);
            ScalarKernels.add(sca, 1, src, 2, n);
            assertEquals(0, relErr(floats(vec, 0, n + 1), floats(sca, 0, n + 1)));
        }
    }

    @ParameterizedTest
    @MethodSource("sizes")
    void siluMulShouldMatchItsScalarTwinIncludingLargeGates(int n) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(n);
            MemorySegment gate = random(arena, r, 1, n, -30, 30);
            MemorySegment up = random(arena, r, 2, n, -2, 2);
            MemorySegment vec = arena.allocate(n * 4L);
            MemorySegment sca = arena.allocate(n * 4L);
            CpuKernels.siluMul(gate, 1, up, 2, vec, 0, n);
            ScalarKernels.siluMul(gate, 1, up, 2, sca, 0, n);
            assertTrue(relErr(floats(vec, 0, n), floats(sca, 0, n)) <= TOLERANCE);
            double[] exact = new double[n];
            for (int i = 0; i < n; i++) {
                double g = gate.getAtIndex(FLOAT, 1 + i);
                exact[i] = g / (1 + Math.exp(-g)) * up.getAtIndex(FLOAT, 2 + i);
            }
            assertTrue(relErr(floats(vec, 0, n), exact) <= TOLERANCE, "vs double reference");
        }
    }

    @ParameterizedTest
    @MethodSource("sizes")
    void dotShouldMatchItsScalarTwinWithinTheConditioningOfTheSum(int n) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(n);
            MemorySegment a = random(arena, r, 3, n, -1, 1);
            MemorySegment b = random(arena, r, 0, n, -1, 1);
            float vec = CpuKernels.dot(a, 3, b, 0, n);
            float sca = ScalarKernels.dot(a, 3, b, 0, n);
            double exact = 0;
            double magnitude = 0;
            for (int i = 0; i < n; i++) {
                double p = (double) a.getAtIndex(FLOAT, 3 + i) * b.getAtIndex(FLOAT, i);
                exact += p;
                magnitude += Math.abs(p);
            }
            assertEquals(sca, vec, 1e-6 * magnitude);
            assertEquals(exact, vec, 1e-6 * magnitude);
        }
    }

    @ParameterizedTest
    @MethodSource("sizes")
    void axpyShouldMatchItsScalarTwin(int n) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(n);
            MemorySegment x = random(arena, r, 1, n, -1, 1);
            MemorySegment vec = random(arena, r, 0, n, -1, 1);
            MemorySegment sca = TestData.copy(arena, vec);
            CpuKernels.axpy(0.37f, x, 1, vec, 0, n);
            ScalarKernels.axpy(0.37f, x, 1, sca, 0, n);
            assertTrue(relErr(floats(vec, 0, n), floats(sca, 0, n)) <= TOLERANCE);
        }
    }

    @ParameterizedTest
    @MethodSource("sizes")
    void scaleAndFillShouldMatchTheirScalarTwins(int n) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(n);
            MemorySegment vec = random(arena, r, 2, n + 2, -1, 1);
            MemorySegment sca = TestData.copy(arena, vec);
            CpuKernels.scale(vec, 2, n, -1.7f);
            ScalarKernels.scale(sca, 2, n, -1.7f);
            assertEquals(0, relErr(floats(vec, 0, n + 4), floats(sca, 0, n + 4)));
            CpuKernels.fill(vec, 1, n, 0.25f);
            ScalarKernels.fill(sca, 1, n, 0.25f);
            assertEquals(0, relErr(floats(vec, 0, n + 4), floats(sca, 0, n + 4)));
        }
    }
}
