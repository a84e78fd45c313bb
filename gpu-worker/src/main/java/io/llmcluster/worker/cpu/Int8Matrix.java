package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.BYTE;
import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.FL;
import static io.llmcluster.worker.cpu.Simd.FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import jdk.incubator.vector.FloatVector;

/**
 * A weight-only INT8 matrix: {@code W[r][c] ~= q[r][c] * scale[r]} with symmetric per-output-channel (per-row)
 * scales {@code scale[r] = max_c |W[r][c]| / 127} and {@code q = round-half-even(W / scale)} in [-127, 127].
 *
 * <p>Error bound: every weight is within half a step, {@code |W[r][c] - q*scale[r]| <= scale[r] / 2} (up to the
 * float rounding of the division), so a product row is within {@code scale[r]/2 * sum_c |x[c]|} of the FP32 one.
 * {@link #multiply} dequantizes on the fly: it accumulates {@code sum q*x} in FP32 and multiplies by the row's
 * scale once.
 */
public final class Int8Matrix extends MatrixKernels implements WeightMatrix {
    /** Bytes per element. */
    private static final long EB = 1;
    private static final int Q_MAX = 127;

    /** [rows][cols] int8, row-major. */
    private final MemorySegment data;
    /** [rows] FP32 little-endian scales. */
    private final MemorySegment scales;

    private Int8Matrix(MemorySegment data, MemorySegment scales, int rows, int cols) {
        super(data, rows, cols, (int) EB);
        if (scales.byteSize() != (long) rows * Float.BYTES) {
            throw new IllegalArgumentException("scales of " + rows + " rows must hold " + rows * 4L + " bytes, not "
                    + scales.byteSize());
        }
        this.data = data;
        this.scales = scales;
    }

    /** Wraps already quantized weights {@code data} ([rows][cols] int8) and their scales ([rows] FP32), no copy. */
    public static Int8Matrix of(MemorySegment data, MemorySegment scales, int rows, int cols) {
        return new Int8Matrix(data, scales, rows, cols);
    }

    /**
     * Quantizes {@code source} row by row on {@code pool}, into segments allocated from {@code arena}. The arena
     * (and the source's data) must be reachable from the pool's threads (a shared, global or automatic arena)
     * when the pool has more than one thread. Load time only: this allocates per-thread scratch.
     */
    public static Int8Matrix quantize(WeightMatrix source, Arena arena, CpuThreadPool pool) {
        int rows = source.rows();
        int cols = source.cols();
        MemorySegment q = arena.allocate((long) rows * cols, 64);
        MemorySegment s = arena.allocate((long) rows * Float.BYTES, 64);
        float[][] scratch = new float[pool.threads()][cols];
        pool.parallelFor(rows, 1, (worker, start, end) -> {
            float[] row = scratch[worker];
            MemorySegment rowSegment = MemorySegment.ofArray(row);
            for (int r = start; r < end; r++) {
                source.copyRowTo(r, rowSegment, 0);
                quantizeRow(row, q, (long) r * cols, s, r);
            }
        });
        return new Int8Matrix(q, s, rows, cols);
    }

    private static void quantizeRow(float[] row, MemorySegment q, long qOffset, MemorySegment s, int r) {
        float maxAbs = 0;
        for (float v : row) {
            maxAbs = Math.max(maxAbs, Math.abs(v));
        }
        float scale = maxAbs / Q_MAX;
        s.set(FLOAT, (long) r * Float.BYTES, scale);
        for (int c = 0; c < row.length; c++) {
            int v = scale == 0 ? 0 : (int) Math.rint(row[c] / scale);
            q.set(BYTE, qOffset + c, (byte) Math.clamp(v, -Q_MAX, Q_MAX));
        }
    }

    /** The quantized weights, [rows][cols] int8. */
    public MemorySegment data() {
        return data;
    }

    /** The per-row scales, [rows] FP32. */
    public MemorySegment scales() {
        return scales;
    }

    /** The scale of row {@code row}. */
    public float scale(int row) {
        return scales.get(FLOAT, (long) row * Float.BYTES);
    }

    /** The quantized weight {@code q[row][col]}. */
    public byte quantized(int row, int col) {
        Objects.checkIndex(row, rows);
        Objects.checkIndex(col, cols);
        return data.get(BYTE, (long) row * cols + col);
    }

    @Override
    public DType dtype() {
        return DType.INT8;
    }

    @Override
    public long bytes() {
        return data.byteSize() + scales.byteSize();
    }

    @Override
    public float get(int row, int col) {
        return quantized(row, col) * scale(row);
    }

    @Override
    public void copyRowTo(int row, MemorySegment dst, long dstOffset) {
        checkRow(row, dst, dstOffset);
        float k = scale(row);
        long wb = (long) row * cols * EB;
        long db = dstOffset * Float.BYTES;
        int bound = F.loopBound(Math.max(0, cols - Simd.I8_OVERREAD));
        int c = 0;
        for (; c < bound; c += FL) {
            load(wb + c * EB).mul(k).intoMemorySegment(dst, db + c * 4L, Simd.LE);
        }
        for (; c < cols; c++) {
            dst.set(FLOAT, db + c * 4L, w(wb + c * EB) * k);
        }
    }

    /** FL quantized weights from byte offset {@code b} of data, as floats. */
    private FloatVector load(long b) {
        return Simd.loadI8(data, b);
    }

    /** The quantized weight at byte offset {@code b} of data, as a float. */
    private float w(long b) {
        return data.get(BYTE, b);
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
        int bound = F.loopBound(Math.max(0, cols - Simd.I8_OVERREAD));
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
        store4(out, ob, ra, rb, rc, rd, a * scale(ra), b * scale(rb), cc * scale(rc), d * scale(rd));
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
        int bound = F.loopBound(Math.max(0, cols - Simd.I8_OVERREAD));
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
        float ka = scale(ra);
        float kb = scale(rb);
        store2x4(out, ob, tokenStride, valid, ra, rb, sa0 * ka, sb0 * kb, sa1 * ka, sb1 * kb, sa2 * ka, sb2 * kb,
                sa3 * ka, sb3 * kb);
    }
}
