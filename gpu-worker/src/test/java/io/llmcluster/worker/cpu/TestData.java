package io.llmcluster.worker.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Random FP32 test data in segments, and the error measure of the kernel tests.
 *
 * <p>Relative error is {@code ||actual - expected||_2 / ||expected||_2} over one output vector (a token's output
 * row, a head's output, a normalized vector); expected values are never all zero.
 */
final class TestData {
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    /** Lengths around the vector widths (4, 8, 16 lanes) and larger odd ones. */
    static final int[] SIZES = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257, 1000, 4099};

    private TestData() {
    }

    /** {@code n} floats uniform in [lo, hi), with {@code pad} extra floats before them (so offsets are tested). */
    static MemorySegment random(Arena arena, SplittableRandom random, long pad, long n, double lo, double hi) {
        MemorySegment s = arena.allocate((pad + n) * Float.BYTES);
        for (long i = 0; i < pad + n; i++) {
            s.setAtIndex(FLOAT, i, (float) random.nextDouble(lo, hi));
        }
        return s;
    }

    static float[] floats(MemorySegment s, long off, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = s.getAtIndex(FLOAT, off + i);
        }
        return a;
    }

    static MemorySegment copy(Arena arena, MemorySegment s) {
        MemorySegment c = arena.allocate(s.byteSize());
        MemorySegment.copy(s, 0, c, 0, s.byteSize());
        return c;
    }

    static double relErr(float[] actual, float[] expected) {
        double[] e = new double[expected.length];
        for (int i = 0; i < e.length; i++) {
            e[i] = expected[i];
        }
        return relErr(actual, e);
    }

    static double relErr(float[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new IllegalArgumentException("lengths differ: " + actual.length + " vs " + expected.length);
        }
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = actual[i] - expected[i];
            diff += d * d;
            norm += expected[i] * expected[i];
        }
        if (norm == 0) {
            throw new IllegalArgumentException("expected vector is all zeros: the comparison would mean nothing");
        }
        return Math.sqrt(diff / norm);
    }
}
