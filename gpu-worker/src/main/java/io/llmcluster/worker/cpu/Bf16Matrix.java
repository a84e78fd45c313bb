package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.FL;
import static io.llmcluster.worker.cpu.Simd.FLOAT;
import static io.llmcluster.worker.cpu.Simd.I;
import static io.llmcluster.worker.cpu.Simd.LE;
import static io.llmcluster.worker.cpu.Simd.S;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.S2I;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;

/** A bfloat16 weight matrix over a segment it does not own (for example a memory-mapped safetensors tensor). */
public final class Bf16Matrix extends MatrixKernels implements WeightMatrix {
    /** Bytes per element. */
    private static final long EB = 2;

    /** [rows][cols] BF16, little-endian, row-major; any byte alignment. */
    private final MemorySegment data;

    Bf16Matrix(MemorySegment data, int rows, int cols) {
        super(data, rows, cols, (int) EB, true);
        this.data = data;
    }

    /** The wrapped weight bytes. */
    public MemorySegment data() {
        return data;
    }

    @Override
    public DType dtype() {
        return DType.BF16;
    }

    @Override
    public long bytes() {
        return data.byteSize();
    }

    @Override
    public float get(int row, int col) {
        Objects.checkIndex(row, rows);
        Objects.checkIndex(col, cols);
        return w(((long) row * cols + col) * EB);
    }

    @Override
    public void copyRowTo(int row, MemorySegment dst, long dstOffset) {
        checkRow(row, dst, dstOffset);
        long wb = (long) row * cols * EB;
        long db = dstOffset * Float.BYTES;
        int bound = F.loopBound(cols);
        int c = 0;
        for (; c < bound; c += FL) {
            long e = wb + c * EB;
            FloatVector v = ((IntVector) ShortVector.fromMemorySegment(S, data, e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            v.intoMemorySegment(dst, db + c * 4L, LE);
        }
        for (; c < cols; c++) {
            dst.set(FLOAT, db + c * 4L, w(wb + c * EB));
        }
    }

    /** The weight at byte offset {@code b} of data. */
    private float w(long b) {
        return Simd.bf16ToFloat(data.get(Simd.SHORT, b));
    }

    @Override
    void dot4x1(int r, MemorySegment x, long xb, MemorySegment out, long ob, float[] lanes) {
        long rowBytes = cols * EB;
        long wa = r * rowBytes;
        long wb = wa + rowBytes;
        long wc = wb + rowBytes;
        long wd = wc + rowBytes;
        FloatVector sa = FloatVector.zero(F);
        FloatVector sb = FloatVector.zero(F);
        FloatVector sc = FloatVector.zero(F);
        FloatVector sd = FloatVector.zero(F);
        int bound = F.loopBound(cols);
        int c = 0;
        for (; c < bound; c += FL) {
            long e = c * EB;
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xb + c * 4L, LE);
            FloatVector va = ((IntVector) ShortVector.fromMemorySegment(S, data, wa + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            sa = va.fma(xv, sa);
            FloatVector vb = ((IntVector) ShortVector.fromMemorySegment(S, data, wb + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            sb = vb.fma(xv, sb);
            FloatVector vc = ((IntVector) ShortVector.fromMemorySegment(S, data, wc + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            sc = vc.fma(xv, sc);
            FloatVector vd = ((IntVector) ShortVector.fromMemorySegment(S, data, wd + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            sd = vd.fma(xv, sd);
        }
        sa.intoArray(lanes, 0);
        sb.intoArray(lanes, FL);
        sc.intoArray(lanes, 2 * FL);
        sd.intoArray(lanes, 3 * FL);
        tail4x1(r, c, x, xb, out, ob, lanes);
    }

    /** The lane sums of {@link #dot4x1}'s accumulators, its columns [c, cols) in scalar code, then the stores. */
    private void tail4x1(int r, int c, MemorySegment x, long xb, MemorySegment out, long ob, float[] lanes) {
        long rowBytes = cols * EB;
        for (int k = 0; k < 4; k++) {
            float s = Simd.laneSum(lanes, k * FL);
            long w0 = (r + k) * rowBytes;
            for (int i = c; i < cols; i++) {
                s += w(w0 + i * EB) * x.get(FLOAT, xb + i * 4L);
            }
            out.set(FLOAT, ob + 4L * (r + k), s);
        }
    }

    @Override
    void dot2x1(int ra, int rb, MemorySegment x, long xb, MemorySegment out, long ob, float[] lanes) {
        long rowBytes = cols * EB;
        long wa = ra * rowBytes;
        long wb = rb * rowBytes;
        FloatVector sa = FloatVector.zero(F);
        FloatVector sb = FloatVector.zero(F);
        int bound = F.loopBound(cols);
        int c = 0;
        for (; c < bound; c += FL) {
            long e = c * EB;
            FloatVector va = ((IntVector) ShortVector.fromMemorySegment(S, data, wa + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector vb = ((IntVector) ShortVector.fromMemorySegment(S, data, wb + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xb + c * 4L, LE);
            sa = va.fma(xv, sa);
            sb = vb.fma(xv, sb);
        }
        sa.intoArray(lanes, 0);
        sb.intoArray(lanes, FL);
        tail2x1(ra, rb, c, x, xb, out, ob, lanes);
    }

    /**
     * The lane sums of {@link #dot2x1}'s accumulators, its columns [c, cols) in scalar code, then the stores;
     * kept out of the vector method, whose C2 inlining budget goes to the vector loop.
     */
    private void tail2x1(int ra, int rb, int c, MemorySegment x, long xb, MemorySegment out, long ob,
            float[] lanes) {
        float a = Simd.laneSum(lanes, 0);
        float b = Simd.laneSum(lanes, FL);
        long rowBytes = cols * EB;
        for (; c < cols; c++) {
            float xv = x.get(FLOAT, xb + c * 4L);
            a += w(ra * rowBytes + c * EB) * xv;
            b += w(rb * rowBytes + c * EB) * xv;
        }
        out.set(FLOAT, ob + 4L * ra, a);
        out.set(FLOAT, ob + 4L * rb, b);
    }

    @Override
    void dot4x4(int r, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out, long ob,
            long tokenStride, int valid, float[] lanes) {
        long rowBytes = cols * EB;
        long wa = r * rowBytes;
        long wb = wa + rowBytes;
        long wc = wb + rowBytes;
        long wd = wc + rowBytes;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F);
        FloatVector b1 = FloatVector.zero(F);
        FloatVector b2 = FloatVector.zero(F);
        FloatVector b3 = FloatVector.zero(F);
        FloatVector c0 = FloatVector.zero(F);
        FloatVector c1 = FloatVector.zero(F);
        FloatVector c2 = FloatVector.zero(F);
        FloatVector c3 = FloatVector.zero(F);
        FloatVector d0 = FloatVector.zero(F);
        FloatVector d1 = FloatVector.zero(F);
        FloatVector d2 = FloatVector.zero(F);
        FloatVector d3 = FloatVector.zero(F);
        int bound = F.loopBound(cols);
        int c = 0;
        for (; c < bound; c += FL) {
            long e = c * EB;
            long f = c * 4L;
            FloatVector va = ((IntVector) ShortVector.fromMemorySegment(S, data, wa + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector vb = ((IntVector) ShortVector.fromMemorySegment(S, data, wb + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector vc = ((IntVector) ShortVector.fromMemorySegment(S, data, wc + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector vd = ((IntVector) ShortVector.fromMemorySegment(S, data, wd + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector xv = FloatVector.fromMemorySegment(F, x, x0 + f, LE);
            a0 = va.fma(xv, a0);
            b0 = vb.fma(xv, b0);
            c0 = vc.fma(xv, c0);
            d0 = vd.fma(xv, d0);
            xv = FloatVector.fromMemorySegment(F, x, x1 + f, LE);
            a1 = va.fma(xv, a1);
            b1 = vb.fma(xv, b1);
            c1 = vc.fma(xv, c1);
            d1 = vd.fma(xv, d1);
            xv = FloatVector.fromMemorySegment(F, x, x2 + f, LE);
            a2 = va.fma(xv, a2);
            b2 = vb.fma(xv, b2);
            c2 = vc.fma(xv, c2);
            d2 = vd.fma(xv, d2);
            xv = FloatVector.fromMemorySegment(F, x, x3 + f, LE);
            a3 = va.fma(xv, a3);
            b3 = vb.fma(xv, b3);
            c3 = vc.fma(xv, c3);
            d3 = vd.fma(xv, d3);
        }
        a0.intoArray(lanes, 0);
        a1.intoArray(lanes, FL);
        a2.intoArray(lanes, 2 * FL);
        a3.intoArray(lanes, 3 * FL);
        b0.intoArray(lanes, 4 * FL);
        b1.intoArray(lanes, 5 * FL);
        b2.intoArray(lanes, 6 * FL);
        b3.intoArray(lanes, 7 * FL);
        c0.intoArray(lanes, 8 * FL);
        c1.intoArray(lanes, 9 * FL);
        c2.intoArray(lanes, 10 * FL);
        c3.intoArray(lanes, 11 * FL);
        d0.intoArray(lanes, 12 * FL);
        d1.intoArray(lanes, 13 * FL);
        d2.intoArray(lanes, 14 * FL);
        d3.intoArray(lanes, 15 * FL);
        for (int k = 0; k < 4; k++) {
            tail1x4(r + k, c, x, x0, x1, x2, x3, out, ob, tokenStride, valid, lanes, 4 * k * FL);
        }
    }

    @Override
    void dot2x4(int r, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out, long ob,
            long tokenStride, int valid, float[] lanes) {
        long wa = r * cols * EB;
        long wb = wa + cols * EB;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F);
        FloatVector b1 = FloatVector.zero(F);
        FloatVector b2 = FloatVector.zero(F);
        FloatVector b3 = FloatVector.zero(F);
        int bound = F.loopBound(cols);
        int c = 0;
        for (; c < bound; c += FL) {
            long e = c * EB;
            long f = c * 4L;
            FloatVector va = ((IntVector) ShortVector.fromMemorySegment(S, data, wa + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector vb = ((IntVector) ShortVector.fromMemorySegment(S, data, wb + e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector xv = FloatVector.fromMemorySegment(F, x, x0 + f, LE);
            a0 = va.fma(xv, a0);
            b0 = vb.fma(xv, b0);
            xv = FloatVector.fromMemorySegment(F, x, x1 + f, LE);
            a1 = va.fma(xv, a1);
            b1 = vb.fma(xv, b1);
            xv = FloatVector.fromMemorySegment(F, x, x2 + f, LE);
            a2 = va.fma(xv, a2);
            b2 = vb.fma(xv, b2);
            xv = FloatVector.fromMemorySegment(F, x, x3 + f, LE);
            a3 = va.fma(xv, a3);
            b3 = vb.fma(xv, b3);
        }
        a0.intoArray(lanes, 0);
        a1.intoArray(lanes, FL);
        a2.intoArray(lanes, 2 * FL);
        a3.intoArray(lanes, 3 * FL);
        b0.intoArray(lanes, 4 * FL);
        b1.intoArray(lanes, 5 * FL);
        b2.intoArray(lanes, 6 * FL);
        b3.intoArray(lanes, 7 * FL);
        tail1x4(r, c, x, x0, x1, x2, x3, out, ob, tokenStride, valid, lanes, 0);
        tail1x4(r + 1, c, x, x0, x1, x2, x3, out, ob, tokenStride, valid, lanes, 4 * FL);
    }

    @Override
    void dot1x4(int r, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out, long ob,
            long tokenStride, int valid, float[] lanes) {
        long wr = r * cols * EB;
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = FloatVector.zero(F);
        FloatVector s2 = FloatVector.zero(F);
        FloatVector s3 = FloatVector.zero(F);
        int bound = F.loopBound(cols);
        int c = 0;
        for (; c < bound; c += FL) {
            long f = c * 4L;
            long e = wr + c * EB;
            FloatVector v = ((IntVector) ShortVector.fromMemorySegment(S, data, e, LE).convertShape(S2I, I, 0))
                    .lanewise(LSHL, 16).reinterpretAsFloats();
            s0 = v.fma(FloatVector.fromMemorySegment(F, x, x0 + f, LE), s0);
            s1 = v.fma(FloatVector.fromMemorySegment(F, x, x1 + f, LE), s1);
            s2 = v.fma(FloatVector.fromMemorySegment(F, x, x2 + f, LE), s2);
            s3 = v.fma(FloatVector.fromMemorySegment(F, x, x3 + f, LE), s3);
        }
        s0.intoArray(lanes, 0);
        s1.intoArray(lanes, FL);
        s2.intoArray(lanes, 2 * FL);
        s3.intoArray(lanes, 3 * FL);
        tail1x4(r, c, x, x0, x1, x2, x3, out, ob, tokenStride, valid, lanes, 0);
    }

    /**
     * The lane sums of row r's 4 accumulators (at {@code lanes[lanesOff ..]}) from {@link #dot1x4} or
     * {@code dot2x4}, its columns [c, cols) in scalar code, then the stores.
     */
    private void tail1x4(int r, int c, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out,
            long ob, long tokenStride, int valid, float[] lanes, int lanesOff) {
        float s0 = Simd.laneSum(lanes, lanesOff);
        float s1 = Simd.laneSum(lanes, lanesOff + FL);
        float s2 = Simd.laneSum(lanes, lanesOff + 2 * FL);
        float s3 = Simd.laneSum(lanes, lanesOff + 3 * FL);
        long wr = r * cols * EB;
        for (; c < cols; c++) {
            long f = c * 4L;
            float wv = w(wr + c * EB);
            s0 += wv * x.get(FLOAT, x0 + f);
            s1 += wv * x.get(FLOAT, x1 + f);
            s2 += wv * x.get(FLOAT, x2 + f);
            s3 += wv * x.get(FLOAT, x3 + f);
        }
        store1x4(out, ob, tokenStride, valid, r, s0, s1, s2, s3);
    }
}
