package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.FL;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Decode-style attention over a paged KV cache, one query token and one KV head (with its group of query heads)
 * per call.
 *
 * <p>Cache layout, per layer: K and V are each {@code numBlocks * blockSize * numKvHeads * headDim} FP32.
 * Logical position {@code p} of a sequence lives in slot {@code blockTable[p / blockSize] * blockSize +
 * p % blockSize}; the row of KV head {@code h} in slot {@code s} starts at element
 * {@code (s * numKvHeads + h) * headDim}.
 */
public final class PagedAttention {
    private PagedAttention() {
    }

    /**
     * Stores one token's K and V ({@code numKvHeads * headDim} floats each, at kOff / vOff) in slot {@code slot}.
     */
    public static void writeKv(MemorySegment kCache, MemorySegment vCache, int slot, MemorySegment k, long kOff,
            MemorySegment v, long vOff, int numKvHeads, int headDim) {
        long rowFloats = (long) numKvHeads * headDim;
        long dst = slot * rowFloats * Float.BYTES;
        MemorySegment.copy(k, kOff * Float.BYTES, kCache, dst, rowFloats * Float.BYTES);
        MemorySegment.copy(v, vOff * Float.BYTES, vCache, dst, rowFloats * Float.BYTES);
    }

    /** Element offset of the K (or V) row of {@code kvHead} at logical position {@code p}. */
    static long rowOffset(int[] blockTable, int blockSize, int p, int numKvHeads, int kvHead, int headDim) {
        long slot = (long) blockTable[p / blockSize] * blockSize + p % blockSize;
        return (slot * numKvHeads + kvHead) * headDim;
    }

    /**
     * Attention of query heads {@code kvHead*groupSize .. +groupSize} (sharing KV head {@code kvHead}) of one token
     * over positions {@code [0, contextLen)}: {@code out[h] = softmax(scale * q[h] K^T) V}, written at
     * {@code outOff + h*headDim}. Each K and V row is read from memory once for the whole group; scores, softmax
     * (max-subtracted) and sums are FP32. {@code scoresScratch} holds at least {@code groupSize * contextLen}.
     */
    public static void attendGroup(MemorySegment q, long qOff, int kvHead, int groupSize, MemorySegment kCache,
            MemorySegment vCache, int[] blockTable, int blockSize, int contextLen, int numKvHeads, int headDim,
            float scale, MemorySegment out, long outOff, float[] scoresScratch) {
        check(groupSize, blockTable, blockSize, contextLen, scoresScratch);
        long q0 = qOff + (long) kvHead * groupSize * headDim;
        long o0 = outOff + (long) kvHead * groupSize * headDim;
        long rowStride = (long) numKvHeads * headDim;
        long headInRow = (long) kvHead * headDim;
        for (int p0 = 0; p0 < contextLen; p0 += blockSize) {
            long row = (long) blockTable[p0 / blockSize] * blockSize * rowStride + headInRow;
            int pEnd = Math.min(contextLen, p0 + blockSize);
            for (int p = p0; p < pEnd; p++, row += rowStride) {
                for (int g = 0; g < groupSize; g++) {
                    float s = CpuKernels.dot(q, q0 + (long) g * headDim, kCache, row, headDim);
                    scoresScratch[g * contextLen + p] = s * scale;
                }
            }
        }
        for (int g = 0; g < groupSize; g++) {
            softmaxInPlace(scoresScratch, g * contextLen, contextLen);
            CpuKernels.fill(out, o0 + (long) g * headDim, headDim, 0f);
        }
        for (int p0 = 0; p0 < contextLen; p0 += blockSize) {
            long row = (long) blockTable[p0 / blockSize] * blockSize * rowStride + headInRow;
            int pEnd = Math.min(contextLen, p0 + blockSize);
            for (int p = p0; p < pEnd; p++, row += rowStride) {
                for (int g = 0; g < groupSize; g++) {
                    CpuKernels.axpy(scoresScratch[g * contextLen + p], vCache, row, out, o0 + (long) g * headDim,
                            headDim);
                }
            }
        }
    }

    private static void check(int groupSize, int[] blockTable, int blockSize, int contextLen, float[] scores) {
        if (groupSize < 1 || blockSize < 1 || contextLen < 1) {
            throw new IllegalArgumentException("groupSize, blockSize and contextLen must be >= 1");
        }
        Objects.checkFromIndexSize(0, (contextLen + blockSize - 1) / blockSize, blockTable.length);
        Objects.checkFromIndexSize(0, (long) groupSize * contextLen, scores.length);
    }

    /** {@code s[off..off+n) = softmax(s[off..off+n))}, max-subtracted, in FP32. */
    static void softmaxInPlace(float[] s, int off, int n) {
        int bound = F.loopBound(n);
        float max = Float.NEGATIVE_INFINITY;
        int i = 0;
        if (bound > 0) {
            FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (; i < bound; i += FL) {
                m = m.max(FloatVector.fromArray(F, s, off + i));
            }
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) {
            max = Math.max(max, s[off + i]);
        }
        FloatVector sum = FloatVector.zero(F);
        for (i = 0; i < bound; i += FL) {
            FloatVector e = FloatVector.fromArray(F, s, off + i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(s, off + i);
            sum = sum.add(e);
        }
        float total = sum.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = (float) Math.exp(s[off + i] - max);
            s[off + i] = e;
            total += e;
        }
        float inv = 1f / total;
        for (i = 0; i < bound; i += FL) {
            FloatVector.fromArray(F, s, off + i).mul(inv).intoArray(s, off + i);
        }
        for (; i < n; i++) {
            s[off + i] *= inv;
        }
    }
}
