package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Plain scalar twins of {@link CpuKernels} and {@link PagedAttention}, with the same signatures and the same
 * FP32 arithmetic in a sequential order: the oracles of the kernel tests.
 */
public final class ScalarKernels {
    private ScalarKernels() {
    }

    public static void rmsNorm(MemorySegment x, long xOff, MemorySegment weight, long wOff, MemorySegment out,
            long outOff, int n, float eps) {
        float ss = 0;
        for (int i = 0; i < n; i++) {
            float v = get(x, xOff + i);
            ss += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) {
            set(out, outOff + i, get(weight, wOff + i) * (get(x, xOff + i) * inv));
        }
    }

    public static void add(MemorySegment dst, long dstOff, MemorySegment src, long srcOff, int n) {
        for (int i = 0; i < n; i++) {
            set(dst, dstOff + i, get(dst, dstOff + i) + get(src, srcOff + i));
        }
    }

    public static void siluMul(MemorySegment gate, long gOff, MemorySegment up, long uOff, MemorySegment out,
            long outOff, int n) {
        for (int i = 0; i < n; i++) {
            float g = get(gate, gOff + i);
            set(out, outOff + i, g / (1f + (float) Math.exp(-g)) * get(up, uOff + i));
        }
    }

    public static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            s += get(a, aOff + i) * get(b, bOff + i);
        }
        return s;
    }

    public static void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, int n) {
        for (int i = 0; i < n; i++) {
            set(y, yOff + i, get(y, yOff + i) + alpha * get(x, xOff + i));
        }
    }

    public static void scale(MemorySegment x, long xOff, int n, float alpha) {
        for (int i = 0; i < n; i++) {
            set(x, xOff + i, get(x, xOff + i) * alpha);
        }
    }

    public static void fill(MemorySegment x, long xOff, int n, float value) {
        for (int i = 0; i < n; i++) {
            set(x, xOff + i, value);
        }
    }

    /** Scalar twin of {@link PagedAttention#attendGroup}: one query head at a time, position by position. */
    public static void attendGroup(MemorySegment q, long qOff, int kvHead, int groupSize, MemorySegment kCache,
            MemorySegment vCache, int[] blockTable, int blockSize, int contextLen, int numKvHeads, int headDim,
            float scale, MemorySegment out, long outOff, float[] scoresScratch) {
        for (int g = 0; g < groupSize; g++) {
            int head = kvHead * groupSize + g;
            long qh = qOff + (long) head * headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int p = 0; p < contextLen; p++) {
                long k = PagedAttention.rowOffset(blockTable, blockSize, p, numKvHeads, kvHead, headDim);
                float s = dot(q, qh, kCache, k, headDim) * scale;
                scoresScratch[p] = s;
                max = Math.max(max, s);
            }
            float sum = 0;
            for (int p = 0; p < contextLen; p++) {
                float e = (float) Math.exp(scoresScratch[p] - max);
                scoresScratch[p] = e;
                sum += e;
            }
            long oh = outOff + (long) head * headDim;
            for (int d = 0; d < headDim; d++) {
                float acc = 0;
                for (int p = 0; p < contextLen; p++) {
                    long v = PagedAttention.rowOffset(blockTable, blockSize, p, numKvHeads, kvHead, headDim);
                    acc += scoresScratch[p] / sum * get(vCache, v + d);
                }
                set(out, oh + d, acc);
            }
        }
    }

    private static float get(MemorySegment s, long index) {
        return s.get(FLOAT, index * 4);
    }

    private static void set(MemorySegment s, long index, float v) {
        s.set(FLOAT, index * 4, v);
    }
}
