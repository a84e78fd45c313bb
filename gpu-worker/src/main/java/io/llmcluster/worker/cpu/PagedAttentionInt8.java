package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.B;
import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.FL;
import static io.llmcluster.worker.cpu.Simd.FLOAT;
import static io.llmcluster.worker.cpu.Simd.LE;
import static jdk.incubator.vector.VectorOperators.B2F;

import io.llmcluster.worker.backend.Int8Kv;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@link PagedAttention} over an INT8 KV cache ({@code --kv-cache-dtype int8}, {@link Int8Kv}'s rule): per layer K and
 * V as signed bytes {@code [slot][numKvHeads][headDim]} and FP32 scales {@code [slot][numKvHeads]}. The scales are
 * applied in FP32 where they cost one multiply per position: a K row's to its dot product with q, a V row's to its
 * softmax weight; the bytes widen to floats in registers ({@link MatrixKernels}' B2F load). So this is exactly the
 * FP32 attention on the dequantized cache, up to rounding order. Byte segments must have {@link Simd#I8_OVERREAD}
 * bytes of slack past their last row ({@link KvCacheArena} allocates it).
 */
public final class PagedAttentionInt8 {
    private PagedAttentionInt8() {
    }

    /** Quantizes one token's K and V rows (per kv head) into slot {@code slot}: bytes and scales. */
    public static void writeKv(MemorySegment kCache, MemorySegment vCache, MemorySegment kScales, MemorySegment vScales,
            int slot, MemorySegment k, long kOff, MemorySegment v, long vOff, int numKvHeads, int headDim) {
        for (int h = 0; h < numKvHeads; h++) {
            long row = (long) slot * numKvHeads + h;
            kScales.setAtIndex(ValueLayout.JAVA_FLOAT, row, Int8Kv.quantize(k, kOff + (long) h * headDim, headDim, kCache,
                    row * headDim));
            vScales.setAtIndex(ValueLayout.JAVA_FLOAT, row, Int8Kv.quantize(v, vOff + (long) h * headDim, headDim, vCache,
                    row * headDim));
        }
    }

    /**
     * {@link PagedAttention#attendGroup} reading the INT8 cache: query heads {@code kvHead*groupSize .. +groupSize} of
     * one token over positions {@code [0, contextLen)}, out at {@code outOff + h*headDim}. Heads four at a time (a tail
     * repeats its last head). {@code scoresScratch} holds at least {@code groupSize * contextLen}.
     */
    public static void attendGroup(MemorySegment q, long qOff, int kvHead, int groupSize, MemorySegment kCache,
            MemorySegment vCache, MemorySegment kScales, MemorySegment vScales, int[] blockTable, int blockSize,
            int contextLen, int numKvHeads, int headDim, float scale, MemorySegment out, long outOff,
            float[] scoresScratch) {
        if (groupSize < 1 || blockSize < 1 || contextLen < 1) {
            throw new IllegalArgumentException("groupSize, blockSize and contextLen must be >= 1");
        }
        Objects.checkFromIndexSize(0, (contextLen + blockSize - 1) / blockSize, blockTable.length);
        Objects.checkFromIndexSize(0, (long) groupSize * contextLen, scoresScratch.length);
        long q0 = qOff + (long) kvHead * groupSize * headDim;
        long o0 = outOff + (long) kvHead * groupSize * headDim;
        for (int g = 0; g < groupSize; g += 4) {
            int gb = Math.min(g + 1, groupSize - 1);
            int gc = Math.min(g + 2, groupSize - 1);
            int gd = Math.min(g + 3, groupSize - 1);
            for (int p = 0; p < contextLen; p++) {
                long row = ((long) blockTable[p / blockSize] * blockSize + p % blockSize) * numKvHeads + kvHead;
                float s = scale * kScales.getAtIndex(ValueLayout.JAVA_FLOAT, row);
                scores4(q, (q0 + (long) g * headDim) * Float.BYTES, (q0 + (long) gb * headDim) * Float.BYTES,
                        (q0 + (long) gc * headDim) * Float.BYTES, (q0 + (long) gd * headDim) * Float.BYTES, kCache,
                        row * headDim, headDim, s, scoresScratch, g * contextLen + p, gb * contextLen + p,
                        gc * contextLen + p, gd * contextLen + p);
            }
        }
        for (int g = 0; g < groupSize; g++) {
            PagedAttention.softmaxInPlace(scoresScratch, g * contextLen, contextLen);
        }
        for (int g = 0; g < groupSize; g += 4) {
            int gb = Math.min(g + 1, groupSize - 1);
            int gc = Math.min(g + 2, groupSize - 1);
            int gd = Math.min(g + 3, groupSize - 1);
            weightedSum4(scoresScratch, g * contextLen, gb * contextLen, gc * contextLen, gd * contextLen, contextLen,
                    vCache, vScales, kvHead, numKvHeads, headDim, blockTable, blockSize, out, o0 + (long) g * headDim,
                    o0 + (long) gb * headDim, o0 + (long) gc * headDim, o0 + (long) gd * headDim);
        }
    }

    /** Dot products of four query heads (byte offsets qa..qd) with the byte K row at byte {@code k}, times {@code s}. */
    private static void scores4(MemorySegment q, long qa, long qb, long qc, long qd, MemorySegment kCache, long k,
            int headDim, float s, float[] scores, int sa, int sb, int sc, int sd) {
        FloatVector a = FloatVector.zero(F);
        FloatVector b = FloatVector.zero(F);
        FloatVector c = FloatVector.zero(F);
        FloatVector d = FloatVector.zero(F);
        int bound = F.loopBound(headDim);
        int i = 0;
        for (; i < bound; i += FL) {
            long e = i * 4L;
            FloatVector kv = (FloatVector) ByteVector.fromMemorySegment(B, kCache, k + i, LE).convertShape(B2F, F, 0);
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
            float kv = kCache.get(ValueLayout.JAVA_BYTE, k + i);
            ra += kv * q.get(FLOAT, qa + e);
            rb += kv * q.get(FLOAT, qb + e);
            rc += kv * q.get(FLOAT, qc + e);
            rd += kv * q.get(FLOAT, qd + e);
        }
        scores[sa] = ra * s;
        scores[sb] = rb * s;
        scores[sc] = rc * s;
        scores[sd] = rd * s;
    }

    /**
     * Four heads' outputs {@code out_x = sum_p scores[sx + p] * vScale[p] * V[p]}, one FL-float slice at a time in
     * registers (float element offsets oa..od), then the head dims past the last whole vector in scalar code.
     */
    private static void weightedSum4(float[] scores, int sa, int sb, int sc, int sd, int contextLen, MemorySegment vCache,
            MemorySegment vScales, int kvHead, int numKvHeads, int headDim, int[] blockTable, int blockSize,
            MemorySegment out, long oa, long ob, long oc, long od) {
        int bound = F.loopBound(headDim);
        for (int col = 0; col < bound; col += FL) {
            FloatVector a = FloatVector.zero(F);
            FloatVector b = FloatVector.zero(F);
            FloatVector c = FloatVector.zero(F);
            FloatVector d = FloatVector.zero(F);
            for (int p = 0; p < contextLen; p++) {
                long row = ((long) blockTable[p / blockSize] * blockSize + p % blockSize) * numKvHeads + kvHead;
                float vs = vScales.getAtIndex(ValueLayout.JAVA_FLOAT, row);
                FloatVector v = (FloatVector) ByteVector.fromMemorySegment(B, vCache, row * headDim + col, LE)
                        .convertShape(B2F, F, 0);
                a = v.fma(FloatVector.broadcast(F, scores[sa + p] * vs), a);
                b = v.fma(FloatVector.broadcast(F, scores[sb + p] * vs), b);
                c = v.fma(FloatVector.broadcast(F, scores[sc + p] * vs), c);
                d = v.fma(FloatVector.broadcast(F, scores[sd + p] * vs), d);
            }
            a.intoMemorySegment(out, (oa + col) * Float.BYTES, LE);
            b.intoMemorySegment(out, (ob + col) * Float.BYTES, LE);
            c.intoMemorySegment(out, (oc + col) * Float.BYTES, LE);
            d.intoMemorySegment(out, (od + col) * Float.BYTES, LE);
        }
        for (int col = bound; col < headDim; col++) {
            float xa = 0;
            float xb = 0;
            float xc = 0;
            float xd = 0;
            for (int p = 0; p < contextLen; p++) {
                long row = ((long) blockTable[p / blockSize] * blockSize + p % blockSize) * numKvHeads + kvHead;
                float v = vCache.get(ValueLayout.JAVA_BYTE, row * headDim + col) * vScales.getAtIndex(ValueLayout.JAVA_FLOAT, row);
                xa += scores[sa + p] * v;
                xb += scores[sb + p] * v;
                xc += scores[sc + p] * v;
                xd += scores[sd + p] * v;
            }
            out.setAtIndex(ValueLayout.JAVA_FLOAT, oa + col, xa);
            out.setAtIndex(ValueLayout.JAVA_FLOAT, ob + col, xb);
            out.setAtIndex(ValueLayout.JAVA_FLOAT, oc + col, xc);
            out.setAtIndex(ValueLayout.JAVA_FLOAT, od + col, xd);
        }
    }
}
