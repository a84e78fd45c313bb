package io.llmcluster.worker.reference;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Relative error as the tests define it: ||actual - expected||₂ / ||expected||₂ over one row. */
public final class Errors {
    private Errors() {}

    public static double relativeError(MemorySegment actual, long offset, float[] expected) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            double a = actual.getAtIndex(ValueLayout.JAVA_FLOAT, offset + i);
            diff += (a - expected[i]) * (a - expected[i]);
            norm += (double) expected[i] * expected[i];
        }
        return Math.sqrt(diff / norm);
    }

    public static int argmax(MemorySegment logits, long offset, int n) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            float v = logits.getAtIndex(ValueLayout.JAVA_FLOAT, offset + i);
            if (v > bestValue) {
                bestValue = v;
                best = i;
            }
        }
        return best;
    }
}
