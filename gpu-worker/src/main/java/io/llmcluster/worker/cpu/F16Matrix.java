package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.F16_MIN_NORMAL;
import static io.llmcluster.worker.cpu.Simd.F16_REBIAS;
import static io.llmcluster.worker.cpu.Simd.FL;
import static io.llmcluster.worker.cpu.Simd.FLOAT;
import static io.llmcluster.worker.cpu.Simd.I;
import static io.llmcluster.worker.cpu.Simd.LE;
import static io.llmcluster.worker.cpu.Simd.S;
import static io.llmcluster.worker.cpu.Simd.SIGN_BIT;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.S2I;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;

/**
 * An IEEE half-precision (FP16) weight matrix over a segment it does not own (for example a memory-mapped
 * safetensors tensor). Weights must be finite (the vector widening does not map inf/NaN).
 */
public final class F16Matrix extends MatrixKernels implements WeightMatrix {
    /** Bytes per element. */
    private static final long EB = 2;

    /** [rows][cols] F16, little-endian, row-major; any byte alignment. */
    private final MemorySegment data;

    F16Matrix(MemorySegment data, int rows, int cols) {
        super(data, rows, cols, (int) EB, false);
        this.data = data;
    }

    /** The wrapped weight bytes. */
    public MemorySegment data() {
        return data;
    }

    @Override
    public DType dtype() {
        return DType.F16;
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
            IntVector vh = (IntVector) ShortVector.fromMemorySegment(S, data, wb + c * EB, LE).convertShape(S2I, I, 0);
            IntVector vm = vh.and(0x7fff).lanewise(LSHL, 13).add(F16_REBIAS);
            FloatVector v = vm.min(vm.reinterpretAsFloats().fma(2f, -F16_MIN_NORMAL).reinterpretAsInts())
                    .or(vh.and(SIGN_BIT)).reinterpretAsFloats();
            v.intoMemorySegment(dst, db + c * 4L, LE);
        }
        for (; c < cols; c++) {
            dst.set(FLOAT, db + c * 4L, w(wb + c * EB));
        }
    }

    /** The weight at byte offset {@code b} of data. */
    private float w(long b) {
        return Simd.f16ToFloat(data.get(Simd.SHORT, b));
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
            IntVector vah = (IntVector) ShortVector.fromMemorySegment(S, data, wa + e, LE).convertShape(S2I, I, 0);
            IntVector vam = vah.and(0x7fff).lanewise(LSHL, 13).add(F16_REBIAS);
            FloatVector va = vam.min(vam.reinterpretAsFloats().fma(2f, -F16_MIN_NORMAL).reinterpretAsInts())
                    .or(vah.and(SIGN_BIT)).reinterpretAsFloats();
            IntVector vbh = (IntVector) ShortVector.fromMemorySegment(S, data, wb + e, LE).convertShape(S2I, I, 0);
            IntVector vbm = vbh.and(0x7fff).lanewise(LSHL, 13).add(F16_REBIAS);
            FloatVector vb = vbm.min(vbm.reinterpretAsFloats().fma(2f, -F16_MIN_NORMAL).reinterpretAsInts())
                    .or(vbh.and(SIGN_BIT)).reinterpretAsFloats();
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
            IntVector vh = (IntVector) ShortVector.fromMemorySegment(S, data, wr + c * EB, LE).convertShape(S2I, I, 0);
            IntVector vm = vh.and(0x7fff).lanewise(LSHL, 13).add(F16_REBIAS);
            FloatVector v = vm.min(vm.reinterpretAsFloats().fma(2f, -F16_MIN_NORMAL).reinterpretAsInts())
                    .or(vh.and(SIGN_BIT)).reinterpretAsFloats();
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
