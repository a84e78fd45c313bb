package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.FL;
import static io.llmcluster.worker.cpu.Simd.FLOAT;
import static io.llmcluster.worker.cpu.Simd.LE;

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
     * {@code outOff + h*headDim}. Heads go four at a time (a tail repeats its last head, whose result is simply
     * computed twice), so each K and V vector is loaded once for four heads; scores, softmax (max-subtracted)
     * and sums are FP32. The output pass runs over one 16-float slice of the head at a time with four
     * accumulators in registers, so the output is written once instead of being read and written per position.
     * {@code scoresScratch} holds at least {@code groupSize * contextLen}.
     */
    public static void attendGroup(MemorySegment q, long qOff, int kvHead, int groupSize, MemorySegment kCache,
            MemorySegment vCache, int[] blockTable, int blockSize, int contextLen, int numKvHeads, int headDim,
            float scale, MemorySegment out, long outOff, float[] scoresScratch) {
        check(groupSize, blockTable, blockSize, contextLen, scoresScratch);
        long q0 = qOff + (long) kvHead * groupSize * headDim;
        long o0 = outOff + (long) kvHead * groupSize * headDim;
        long rowStride = (long) numKvHeads * headDim;
        long headInRow = (long) kvHead * headDim;
        for (int g = 0; g < groupSize; g += 4) {
            int ga = g;
            int gb = quadHead(g, 1, groupSize);
            int gc = quadHead(g, 2, groupSize);
            int gd = quadHead(g, 3, groupSize);
            long qa = (q0 + (long) ga * headDim) * Float.BYTES;
            long qb = (q0 + (long) gb * headDim) * Float.BYTES;
            long qc = (q0 + (long) gc * headDim) * Float.BYTES;
            long qd = (q0 + (long) gd * headDim) * Float.BYTES;
            for (int p0 = 0; p0 < contextLen; p0 += blockSize) {
                long row = (long) blockTable[p0 / blockSize] * blockSize * rowStride + headInRow;
                int pEnd = Math.min(contextLen, p0 + blockSize);
                for (int p = p0; p < pEnd; p++, row += rowStride) {
                    scores4(q, qa, qb, qc, qd, kCache, row * Float.BYTES, headDim, scale, scoresScratch,
                            ga * contextLen + p, gb * contextLen + p, gc * contextLen + p, gd * contextLen + p);
                }
            }
        }
        for (int g = 0; g < groupSize; g++) {
            softmaxInPlace(scoresScratch, g * contextLen, contextLen);
        }
        int vectorDims = F.loopBound(headDim);
        for (int g = 0; g < groupSize; g += 4) {
            int ga = g;
            int gb = quadHead(g, 1, groupSize);
            int gc = quadHead(g, 2, groupSize);
            int gd = quadHead(g, 3, groupSize);
            for (int d = 0; d < vectorDims; d += FL) {
                weightedSum4(scoresScratch, ga * contextLen, gb * contextLen, gc * contextLen, gd * contextLen,
                        contextLen, vCache, headInRow + d, rowStride, blockTable, blockSize, out,
                        (o0 + (long) ga * headDim + d) * Float.BYTES, (o0 + (long) gb * headDim + d) * Float.BYTES,
                        (o0 + (long) gc * headDim + d) * Float.BYTES, (o0 + (long) gd * headDim + d) * Float.BYTES);
            }
            for (int gg = g; gg <= gd; gg++) { // the dims past the last whole vector, if any
                weightedSumTail(scoresScratch, gg * contextLen, contextLen, vCache, headInRow, rowStride,
                        blockTable, blockSize, vectorDims, headDim, out, o0 + (long) gg * headDim);
            }
        }
    }

    /** Head {@code k} (0..3) of the quad starting at head g; past the group's end, its last head again. */
    private static int quadHead(int g, int k, int groupSize) {
        return Math.min(g + k, groupSize - 1);
    }

    /** Scaled dot products of four query heads (byte offsets qa..qd in q) with one K row (byte offset k). */
    private static void scores4(MemorySegment q, long qa, long qb, long qc, long qd, MemorySegment kCache, long k,
            int headDim, float scale, float[] scores, int sa, int sb, int sc, int sd) {
        FloatVector a = FloatVector.zero(F);
        FloatVector b = FloatVector.zero(F);
        FloatVector c = FloatVector.zero(F);
        FloatVector d = FloatVector.zero(F);
        int bound = F.loopBound(headDim);
        int i = 0;
        for (; i < bound; i += FL) {
            long e = i * 4L;
            FloatVector kv = FloatVector.fromMemorySegment(F, kCache, k + e, LE);
            a = kv.fma(FloatVector.fromMemorySegment(F, q, qa + e, LE), a);
            b = kv.fma(FloatVector.fromMemorySegment(F, q, qb + e, LE), b);
            c = kv.fma(FloatVector.fromMemorySegment(F, q, qc + e, LE), c);
            d = kv.fma(FloatVector.fromMemorySegment(F, q, qd + e, LE), d);
        }
        float ra = a.reduceLanes(VectorOperators.ADD);
        float rb = b.reduceLanes(VectorOperators.ADD);
        float rc = c.reduceLanes(VectorOperators.ADD);
        float rd = d.reduceLanes(VectorOperators.ADD);
        for (; i < headDim; i++) {
            long e = i * 4L;
            float kv = kCache.get(FLOAT, k + e);
            ra += kv * q.get(FLOAT, qa + e);
            rb += kv * q.get(FLOAT, qb + e);
            rc += kv * q.get(FLOAT, qc + e);
            rd += kv * q.get(FLOAT, qd + e);
        }
        scores[sa] = ra * scale;
        scores[sb] = rb * scale;
        scores[sc] = rc * scale;
        scores[sd] = rd * scale;
    }

    /**
     * One FL-float slice (element {@code col} of each V row, relative to the row start) of four heads' outputs:
     * {@code out_x = sum_p scores[sx + p] * V[p][col ..]}, stored at byte offsets oa..od.
     */
    private static void weightedSum4(float[] scores, int sa, int sb, int sc, int sd, int contextLen,
            MemorySegment vCache, long col, long rowStride, int[] blockTable, int blockSize, MemorySegment out,
            long oa, long ob, long oc, long od) {
        FloatVector a = FloatVector.zero(F);
        FloatVector b = FloatVector.zero(F);
        FloatVector c = FloatVector.zero(F);
        FloatVector d = FloatVector.zero(F);
        for (int p0 = 0; p0 < contextLen; p0 += blockSize) {
            long row = ((long) blockTable[p0 / blockSize] * blockSize * rowStride + col) * Float.BYTES;
            int pEnd = Math.min(contextLen, p0 + blockSize);
            for (int p = p0; p < pEnd; p++, row += rowStride * Float.BYTES) {
                FloatVector v = FloatVector.fromMemorySegment(F, vCache, row, LE);
                a = v.fma(FloatVector.broadcast(F, scores[sa + p]), a);
                b = v.fma(FloatVector.broadcast(F, scores[sb + p]), b);
                c = v.fma(FloatVector.broadcast(F, scores[sc + p]), c);
                d = v.fma(FloatVector.broadcast(F, scores[sd + p]), d);
            }
        }
        a.intoMemorySegment(out, oa, LE);
        b.intoMemorySegment(out, ob, LE);
        c.intoMemorySegment(out, oc, LE);
        d.intoMemorySegment(out, od, LE);
    }

    /** Elements [from, headDim) of one head's output in scalar code (head sizes that are not a multiple of FL). */
    private static void weightedSumTail(float[] scores, int s0, int contextLen, MemorySegment vCache, long headInRow,
            long rowStride, int[] blockTable, int blockSize, int from, int headDim, MemorySegment out, long o) {
        for (int e = from; e < headDim; e++) {
            float acc = 0;
            for (int p = 0; p < contextLen; p++) {
                long row = ((long) blockTable[p / blockSize] * blockSize + p % blockSize) * rowStride + headInRow;
                acc += scores[s0 + p] * vCache.get(FLOAT, (row + e) * Float.BYTES);
            }
            out.set(FLOAT, (o + e) * Float.BYTES, acc);
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
