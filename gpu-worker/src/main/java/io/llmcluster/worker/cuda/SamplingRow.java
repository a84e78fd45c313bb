package io.llmcluster.worker.cuda;

import io.llmcluster.batcher.SamplingParams;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The device sampler's parameters for one logits row, as the kernel reads them ({@link CudaKernels#SAMPLE_PARAM_INTS}
 * ints): temperature (float bits; below {@link SamplingParams#GREEDY_EPSILON} means greedy), top-k (0: off), top-p
 * (float bits; 1: off), min-p (float bits; 0: off), the 64-bit seed, the 64-bit draw counter. The same seed and
 * counter give the same draw on the same logits; the counter is the request's draw index (tokens sampled so far).
 */
public final class SamplingRow {
    private SamplingRow() {}

    /** Writes row {@code row}'s parameters into {@code dst} (native int layout, 32 bytes a row). */
    public static void write(MemorySegment dst, int row, SamplingParams p, int vocabSize, long seed, long counter) {
        write(dst, row, (float) p.temperature(), p.topKEnabled(vocabSize) ? p.topK() : 0, (float) p.topP(),
                (float) p.minP(), seed, counter);
    }

    public static void write(MemorySegment dst, int row, float temperature, int topK, float topP, float minP, long seed,
            long counter) {
        long base = (long) row * CudaKernels.SAMPLE_PARAM_INTS;
        ValueLayout.OfInt I = ValueLayout.JAVA_INT;
        dst.setAtIndex(I, base, Float.floatToRawIntBits(temperature));
        dst.setAtIndex(I, base + 1, topK);
        dst.setAtIndex(I, base + 2, Float.floatToRawIntBits(topP));
        dst.setAtIndex(I, base + 3, Float.floatToRawIntBits(minP));
        dst.setAtIndex(I, base + 4, (int) seed);
        dst.setAtIndex(I, base + 5, (int) (seed >>> 32));
        dst.setAtIndex(I, base + 6, (int) counter);
        dst.setAtIndex(I, base + 7, (int) (counter >>> 32));
    }
}
