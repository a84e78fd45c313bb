package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The matmul loop shared by the {@link WeightMatrix} implementations: bounds checks, then either the decode
 * path (one token; 4 rows per weight pass, 2 for F16, sharing each activation load) or the batched path (tiles
 * of 4 tokens by 4 rows, 1 row for F16: each weight load reused by 4 tokens and each activation load by 4 rows;
 * blocked so the weight rows of a block and the activations of a token block stay in L2 while they are reused).
 * The 4x4 tile is what makes batched decode compute-bound rather than load-bound: with 2 rows per tile, a
 * 32-token step re-streamed the activations from L2 for every row pair and ran at about half the FMA rate
 * (53 vs 97 GFLOP/s on one Zen 4 core, BF16 8192x2048, 32 tokens).
 *
 * <p>Each subclass supplies the two vector kernels for its element type. Tails reuse them with a row or token
 * repeated (a repeated row's result is simply stored twice), so no kernel has a special case for short blocks.
 * The kernels are separate methods of each final class, so they are compiled per dtype and never share a
 * megamorphic inner loop.
 *
 * <p>Keeping C2 able to compile a kernel whole is what makes it fast and allocation-free: a Vector API call
 * that C2 does not inline (or whose intrinsic it gives up on) runs the Java fallback and boxes its vectors, and
 * C2 stops inlining once a method's IR passes a node budget that the Vector API's layers fill quickly. So the
 * kernel shapes are small (F16's 4-row decode and 2x4 prefill kernels ran out of budget under some profiles,
 * leaving a load per iteration boxed), a kernel's method holds only its vector loop, and the lane sums (through
 * a per-thread scratch array, {@link Simd#laneSum}), the scalar column tail and the stores live in a separate
 * tail method. Vector code calls no helper method of ours that takes or returns a vector: C2 declines to inline
 * a method that already has a big compiled body of its own (a shared helper gets one once it is hot), and the
 * vector then crosses a real call, boxed. The widening loads are therefore written out in each kernel.
 *
 * <p>Every output is accumulated the same way whichever kernel computes it (one FMA chain per row and token in
 * column order, a fixed lane-sum tree, then the scalar tail), so a token's result has the same bits alone or in
 * a batch, in any row range, and so on any thread count. {@code HotPathAllocationTest} guards all of this.
 */
abstract class MatrixKernels {
    /** Bytes of weight rows per prefill row block (re-read from L2 by each token tile of the block). */
    private static final long ROW_BLOCK_BYTES = 128 * 1024;
    /** Bytes of activations per prefill token block (re-read from L2 by each row block). */
    private static final long TOKEN_BLOCK_BYTES = 512 * 1024;

    /** Per-thread room for the lanes of 16 accumulators, reduced by {@link Simd#laneSum} in the kernels' tails. */
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[16 * Simd.FL]);

    final int rows;
    final int cols;
    private final boolean wide;
    private final int rowBlock;
    private final int tokenBlock;

    /**
     * {@code wide}: the subclass's widening is short enough for the wider kernels, {@link #dot4x1} for decode
     * (4 concurrent weight streams per thread draw more memory bandwidth than 2) and {@link #dot2x4} for prefill
     * (each activation load shared by 2 rows); F16's is not (4 inlined copies of it exceed C2's node budget).
     */
    MatrixKernels(MemorySegment data, int rows, int cols, int bytesPerElement, boolean wide) {
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
        this.wide = wide;
        long rowBytes = (long) cols * bytesPerElement;
        this.rowBlock = (int) Math.max(4, Math.min(rows, ROW_BLOCK_BYTES / rowBytes)) & ~3;
        this.tokenBlock = (int) Math.max(8, TOKEN_BLOCK_BYTES / (cols * 4L)) & ~3;
    }

    public final int rows() {
        return rows;
    }

    public final int cols() {
        return cols;
    }

    /** Rows r..r+3 times one token (as {@link #dot2x1}); only called when wide. */
    void dot4x1(int r, MemorySegment x, long xb, MemorySegment out, long ob, float[] lanes) {
        throw new UnsupportedOperationException("no 4-row decode kernel");
    }

    /** Rows r..r+3 times four tokens (as {@link #dot1x4}): 16 accumulators; only called when wide. */
    void dot4x4(int r, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out, long ob,
            long tokenStride, int valid, float[] lanes) {
        throw new UnsupportedOperationException("no 4x4 prefill kernel");
    }

    /** Rows r and r+1 times four tokens (as {@link #dot1x4}); only called when wide. */
    void dot2x4(int r, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out, long ob,
            long tokenStride, int valid, float[] lanes) {
        throw new UnsupportedOperationException("no 2x4 prefill kernel");
    }

    /**
     * Rows ra, rb (maybe equal) times one token at byte offset xb; out[r] at byte ob + 4r. {@code lanes} holds
     * 8 * FL floats of scratch for the final lane sums.
     */
    abstract void dot2x1(int ra, int rb, MemorySegment x, long xb, MemorySegment out, long ob, float[] lanes);

    /**
     * Row r times the tokens at byte offsets x0..x3 (maybe repeated); stores the first {@code valid} tokens'
     * results at {@code ob + k*tokenStride + 4r}.
     */
    abstract void dot1x4(int r, MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment out, long ob,
            long tokenStride, int valid, float[] lanes);

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
        if (wide) {
            for (; r + 4 <= rowEnd; r += 4) {
                dot4x1(r, x, xb, out, ob, lanes);
            }
        }
        for (; r < rowEnd; r += 2) {
            dot2x1(r, Math.min(r + 1, rowEnd - 1), x, xb, out, ob, lanes);
        }
    }

    /** Tokens [t0, t1) times rows [r0, r1), in tiles of 4 tokens by 4 rows (wide; 2 and 1 for the tail) or 1 row. */
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
            if (wide) {
                for (; r + 4 <= r1; r += 4) {
                    dot4x4(r, x, xa, xbb, xc, xd, out, o, tokenStride, valid, lanes);
                }
                for (; r + 2 <= r1; r += 2) {
                    dot2x4(r, x, xa, xbb, xc, xd, out, o, tokenStride, valid, lanes);
                }
            }
            for (; r < r1; r++) {
                dot1x4(r, x, xa, xbb, xc, xd, out, o, tokenStride, valid, lanes);
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

    /** Stores the first {@code valid} of row r's four token results. */
    static void store1x4(MemorySegment out, long ob, long tokenStride, int valid, int r, float s0, float s1,
            float s2, float s3) {
        long o = ob + 4L * r;
        out.set(FLOAT, o, s0);
        if (valid > 1) {
            out.set(FLOAT, o + tokenStride, s1);
        }
        if (valid > 2) {
            out.set(FLOAT, o + 2 * tokenStride, s2);
        }
        if (valid > 3) {
            out.set(FLOAT, o + 3 * tokenStride, s3);
        }
    }
}
