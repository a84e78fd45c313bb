package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.FL;
import static io.llmcluster.worker.cpu.Simd.FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import jdk.incubator.vector.FloatVector;

/** An FP32 weight matrix over a segment it does not own (for example a memory-mapped safetensors tensor). */
public final class F32Matrix extends MatrixKernels implements WeightMatrix {
    /** Bytes per element. */
    private static final long EB = 4;

    /** [rows][cols] F32, little-endian, row-major; any byte alignment. */
    private final MemorySegment data;

    F32Matrix(MemorySegment data, int rows, int cols) {
        super(data, rows, cols, (int) EB);
        this.data = data;
    }

    /** The wrapped weight bytes. */
    public MemorySegment data() {
        return data;
    }

    @Override
    public DType dtype() {
        return DType.F32;
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
            load(wb + c * EB).intoMemorySegment(dst, db + c * 4L, Simd.LE);
        }
        for (; c < cols; c++) {
            dst.set(FLOAT, db + c * 4L, w(wb + c * EB));
        }
    }

    /** FL weights from byte offset {@code b} of data, as floats. */
    private FloatVector load(long b) {
        return Simd.loadF32(data, b);
    }

    /** The weight at byte offset {@code b} of data. */
    private float w(long b) {
        return data.get(FLOAT, b);
    }

    @Override
    void dot4x1(int ra, int rb, int rc, int rd, MemorySegment x, long xb, MemorySegment out, long ob,
            float[] lanes) {
        long rowBytes = cols * EB;
        long wa = ra * rowBytes;
        long wb = rb * rowBytes;
        long wc = rc * rowBytes;
        long wd = rd * rowBytes;
        FloatVector sa = FloatVector.zero(F);
        FloatVector sb = FloatVector.zero(F);
        FloatVector sc = FloatVector.zero(F);
        FloatVector sd = FloatVector.zero(F);
        int bound = F.loopBound(cols);
        int c = 0;
        for (; c < bound; c += FL) {
            long e = c * EB;
            FloatVector xv = Simd.loadF32(x, xb + c * 4L);
            sa = load(wa + e).fma(xv, sa);
            sb = load(wb + e).fma(xv, sb);
            sc = load(wc + e).fma(xv, sc);
            sd = load(wd + e).fma(xv, sd);
        }
        sa.intoArray(lanes, 0);
        sb.intoArray(lanes, FL);
        sc.intoArray(lanes, 2 * FL);
        sd.intoArray(lanes, 3 * FL);
        tail4x1(ra, rb, rc, rd, c, x, xb, out, ob, lanes);
    }

    /**
     * The lane sums of {@link #dot4x1}'s accumulators, its columns [c, cols) in scalar code, then the stores;
     * kept out of the vector method, whose inlining budget in C2 goes to the vector loop.
     */
    private void tail4x1(int ra, int rb, int rc, int rd, int c, MemorySegment x, long xb, MemorySegment out, long ob,
            float[] lanes) {
        float a = Simd.laneSum(lanes, 0);
        float b = Simd.laneSum(lanes, FL);
        float cc = Simd.laneSum(lanes, 2 * FL);
        float d = Simd.laneSum(lanes, 3 * FL);
        long rowBytes = cols * EB;
        long wa = ra * rowBytes;
        long wb = rb * rowBytes;
        long wc = rc * rowBytes;
        long wd = rd * rowBytes;
        for (; c < cols; c++) {
            long e = c * EB;
            float xv = x.get(FLOAT, xb + c * 4L);
            a += w(wa + e) * xv;
            b += w(wb + e) * xv;
            cc += w(wc + e) * xv;
            d += w(wd + e) * xv;
        }
        store4(out, ob, ra, rb, rc, rd, a, b, cc, d);
    }

    @Override
    void dot2x4(int ra, int rb, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out, long ob,
            long tokenStride, int valid, float[] lanes) {
        long rowBytes = cols * EB;
        long wa = ra * rowBytes;
        long wb = rb * rowBytes;
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
            FloatVector va = load(wa + e);
            FloatVector vb = load(wb + e);
            FloatVector xv = Simd.loadF32(x, x0 + f);
            a0 = va.fma(xv, a0);
            b0 = vb.fma(xv, b0);
            xv = Simd.loadF32(x, x1 + f);
            a1 = va.fma(xv, a1);
            b1 = vb.fma(xv, b1);
            xv = Simd.loadF32(x, x2 + f);
            a2 = va.fma(xv, a2);
            b2 = vb.fma(xv, b2);
            xv = Simd.loadF32(x, x3 + f);
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
        tail2x4(ra, rb, c, x, x0, x1, x2, x3, out, ob, tokenStride, valid, lanes);
    }

    /** Columns [c, cols) of {@link #dot2x4} in scalar code, then the stores (see {@link #tail4x1}). */
    private void tail2x4(int ra, int rb, int c, MemorySegment x, long x0, long x1, long x2, long x3,
            MemorySegment out, long ob, long tokenStride, int valid, float[] lanes) {
        float sa0 = Simd.laneSum(lanes, 0);
        float sa1 = Simd.laneSum(lanes, FL);
        float sa2 = Simd.laneSum(lanes, 2 * FL);
        float sa3 = Simd.laneSum(lanes, 3 * FL);
        float sb0 = Simd.laneSum(lanes, 4 * FL);
        float sb1 = Simd.laneSum(lanes, 5 * FL);
        float sb2 = Simd.laneSum(lanes, 6 * FL);
        float sb3 = Simd.laneSum(lanes, 7 * FL);
        long rowBytes = cols * EB;
        long wa = ra * rowBytes;
        long wb = rb * rowBytes;
        for (; c < cols; c++) {
            long e = c * EB;
            long f = c * 4L;
            float wA = w(wa + e);
            float wB = w(wb + e);
            float xv = x.get(FLOAT, x0 + f);
            sa0 += wA * xv;
            sb0 += wB * xv;
            xv = x.get(FLOAT, x1 + f);
            sa1 += wA * xv;
            sb1 += wB * xv;
            xv = x.get(FLOAT, x2 + f);
            sa2 += wA * xv;
            sb2 += wB * xv;
            xv = x.get(FLOAT, x3 + f);
            sa3 += wA * xv;
            sb3 += wB * xv;
        }
        store2x4(out, ob, tokenStride, valid, ra, rb, sa0, sb0, sa1, sb1, sa2, sb2, sa3, sb3);
    }
}
