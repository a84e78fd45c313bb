package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The matmul loop shared by the {@link WeightMatrix} implementations: bounds checks, then either the decode
 * path (one token; 4 rows per weight pass) or the prefill path (tiles of 4 tokens by 2 rows, blocked so the
 * weight rows of a block and the activations of a token block stay in L2 while they are reused).
 *
 * <p>Each subclass supplies two vector kernels for its element type. Tails reuse them with a row or token
 * repeated (a repeated row's result is simply stored twice), so no kernel has a special case for short blocks.
 * The kernels are separate methods of each final class, so they are compiled per dtype and never share a
 * megamorphic inner loop.
 */
abstract class MatrixKernels {
    /** Bytes of weight rows per prefill row block (re-read from L2 by each token tile of the block). */
    private static final long ROW_BLOCK_BYTES = 128 * 1024;
    /** Bytes of activations per prefill token block (re-read from L2 by each row block). */
    private static final long TOKEN_BLOCK_BYTES = 512 * 1024;

    /** Per-thread room for the lanes of 8 accumulators, reduced by {@link Simd#laneSum} in the kernels' tails. */
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[8 * Simd.FL]);

    final int rows;
    final int cols;
    /** Kernels with a long widening (F16) use the narrow shapes: 2 rows per decode pass, 1 row per prefill tile. */
    private final boolean narrow;
    private final int rowBlock;
    private final int tokenBlock;

    MatrixKernels(MemorySegment data, int rows, int cols, int bytesPerElement) {
        this(data, rows, cols, bytesPerElement, false);
    }

    /**
     * {@code narrow}: the subclass's widening is long enough that C2 cannot inline four copies of it in one
     * method (its node budget runs out, and a widening left as a call boxes a vector per iteration), so the
     * loops call {@link #dot2x1} and {@link #dot1x4} instead of {@link #dot4x1} and {@link #dot2x4}.
     */
    MatrixKernels(MemorySegment data, int rows, int cols, int bytesPerElement, boolean narrow) {
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("matrix shape must be positive: " + rows + "x" + cols);
        }
        long expected = (long) rows * cols * bytesPerElement;
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("weight data of a " + rows + "x" + cols + " matrix with "
                    + bytesPerElement + " bytes per element must hold " + expected + " bytes, not " + data.byteSize());
        }
        this.rows = rows;
        this.cols = cols;
        this.narrow = narrow;
        long rowBytes = (long) cols * bytesPerElement;
        this.rowBlock = (int) Math.max(2, Math.min(rows, ROW_BLOCK_BYTES / rowBytes)) & ~1;
        this.tokenBlock = (int) Math.max(8, TOKEN_BLOCK_BYTES / (cols * 4L)) & ~3;
    }

    public final int rows() {
        return rows;
    }

    public final int cols() {
        return cols;
    }

    /**
     * Rows ra..rd (maybe repeated) times one token at byte offset xb; out[r] at byte ob + 4r. {@code lanes} holds
     * 8 * FL floats of scratch for the final lane sums.
     */
    abstract void dot4x1(int ra, int rb, int rc, int rd, MemorySegment x, long xb, MemorySegment out, long ob,
            float[] lanes);

    /**
     * Rows ra, rb (maybe equal) times tokens at byte offsets x0..x3 (maybe repeated); stores the first
     * {@code valid} tokens' results at {@code ob + k*tokenStride + 4r}.
     */
    abstract void dot2x4(int ra, int rb, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out,
            long ob, long tokenStride, int valid, float[] lanes);

    /** Two rows (maybe equal) times one token; only called for narrow kernels. */
    void dot2x1(int ra, int rb, MemorySegment x, long xb, MemorySegment out, long ob, float[] lanes) {
        dot4x1(ra, rb, ra, rb, x, xb, out, ob, lanes);
    }

    /** One row times four tokens (as {@link #dot2x4}); only called for narrow kernels. */
    void dot1x4(int r, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out, long ob,
            long tokenStride, int valid, float[] lanes) {
        dot2x4(r, r, x, x0, x1, x2, x3, out, ob, tokenStride, valid, lanes);
    }

    public final void multiply(MemorySegment x, long xOffset, int tokens, MemorySegment out, long outOffset,
            int rowStart, int rowEnd) {
        checkMultiply(x, xOffset, tokens, out, outOffset, rowStart, rowEnd);
        if (tokens == 0 || rowStart == rowEnd) {
            return;
        }
        long xb = xOffset * Float.BYTES;
        long ob = outOffset * Float.BYTES;
        float[] lanes = LANES.get();
        if (tokens == 1) {
            multiplyOneToken(x, xb, out, ob, rowStart, rowEnd, lanes);
        } else {
            for (int t = 0; t < tokens; t += tokenBlock) {
                int tEnd = Math.min(tokens, t + tokenBlock);
                for (int r = rowStart; r < rowEnd; r += rowBlock) {
                    multiplyBlock(x, xb, out, ob, t, tEnd, r, Math.min(rowEnd, r + rowBlock), lanes);
                }
            }
        }
    }

    private void multiplyOneToken(MemorySegment x, long xb, MemorySegment out, long ob, int rowStart, int rowEnd,
            float[] lanes) {
        int r = rowStart;
        if (narrow) {
            for (; r < rowEnd; r += 2) {
                dot2x1(r, Math.min(r + 1, rowEnd - 1), x, xb, out, ob, lanes);
            }
            return;
        }
        for (; r + 4 <= rowEnd; r += 4) {
            dot4x1(r, r + 1, r + 2, r + 3, x, xb, out, ob, lanes);
        }
        if (r < rowEnd) {
            int last = rowEnd - 1;
            dot4x1(r, Math.min(r + 1, last), Math.min(r + 2, last), last, x, xb, out, ob, lanes);
        }
    }

    /** Tokens [t0, t1) times rows [r0, r1), in tiles of 4 tokens by 2 rows. */
    private void multiplyBlock(MemorySegment x, long xb, MemorySegment out, long ob, int t0, int t1, int r0, int r1,
            float[] lanes) {
        long xStride = (long) cols * Float.BYTES;
        long tokenStride = (long) rows * Float.BYTES;
        for (int t = t0; t < t1; t += 4) {
            int last = t1 - 1;
            long xa = xb + t * xStride;
            long xbb = xb + Math.min(t + 1, last) * xStride;
            long xc = xb + Math.min(t + 2, last) * xStride;
            long xd = xb + Math.min(t + 3, last) * xStride;
            int valid = Math.min(4, t1 - t);
            long o = ob + t * tokenStride;
            int r = r0;
            if (narrow) {
                for (; r < r1; r++) {
                    dot1x4(r, x, xa, xbb, xc, xd, out, o, tokenStride, valid, lanes);
                }
                continue;
            }
            for (; r + 2 <= r1; r += 2) {
                dot2x4(r, r + 1, x, xa, xbb, xc, xd, out, o, tokenStride, valid, lanes);
            }
            if (r < r1) {
                dot2x4(r, r, x, xa, xbb, xc, xd, out, o, tokenStride, valid, lanes);
            }
        }
    }

    private void checkMultiply(MemorySegment x, long xOffset, int tokens, MemorySegment out, long outOffset,
            int rowStart, int rowEnd) {
        Objects.checkFromToIndex(rowStart, rowEnd, rows);
        if (tokens < 0 || xOffset < 0 || outOffset < 0) {
            throw new IndexOutOfBoundsException("negative tokens or offset");
        }
        if (tokens == 0 || rowStart == rowEnd) {
            return;
        }
        Objects.checkFromIndexSize(xOffset * Float.BYTES, (long) tokens * cols * Float.BYTES, x.byteSize());
        long lastOut = outOffset + (long) (tokens - 1) * rows + rowEnd;
        Objects.checkFromToIndex(outOffset + rowStart, lastOut, out.byteSize() / Float.BYTES);
    }

    final void checkRow(int row, MemorySegment dst, long dstOffset) {
        Objects.checkIndex(row, rows);
        Objects.checkFromIndexSize(dstOffset, cols, dst.byteSize() / Float.BYTES);
    }

    static void store4(MemorySegment out, long ob, int ra, int rb, int rc, int rd, float a, float b, float c,
            float d) {
        out.set(FLOAT, ob + 4L * ra, a);
        out.set(FLOAT, ob + 4L * rb, b);
        out.set(FLOAT, ob + 4L * rc, c);
        out.set(FLOAT, ob + 4L * rd, d);
    }

    /** Stores the first {@code valid} tokens' results of rows ra and rb. */
    static void store2x4(MemorySegment out, long ob, long tokenStride, int valid, int ra, int rb, float a0,
            float b0, float a1, float b1, float a2, float b2, float a3, float b3) {
        long oa = ob + 4L * ra;
        long obb = ob + 4L * rb;
        out.set(FLOAT, oa, a0);
        out.set(FLOAT, obb, b0);
        if (valid > 1) {
            out.set(FLOAT, oa + tokenStride, a1);
            out.set(FLOAT, obb + tokenStride, b1);
        }
        if (valid > 2) {
            out.set(FLOAT, oa + 2 * tokenStride, a2);
            out.set(FLOAT, obb + 2 * tokenStride, b2);
        }
        if (valid > 3) {
            out.set(FLOAT, oa + 3 * tokenStride, a3);
            out.set(FLOAT, obb + 3 * tokenStride, b3);
        }
    }
}
