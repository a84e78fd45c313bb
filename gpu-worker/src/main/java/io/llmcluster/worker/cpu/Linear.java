package io.llmcluster.worker.cpu;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A linear layer {@code out[t] = W x[t] (+ bias)} run on a {@link CpuThreadPool}, parallel over chunks of output
 * rows. x is [tokens][cols], out [tokens][rows], both FP32 (offsets in floats). One preallocated task: a call
 * allocates nothing. Not thread-safe (one caller at a time, like the pool).
 *
 * <p>Grain: a multiple of 4 rows (whole decode row pairs) and at least ~64 KiB of weights, so each chunk
 * streams long contiguous runs; the pool then cuts the rows into up to 8 chunks per thread, which keeps two
 * threads even when one of them starts late.
 */
public final class Linear {
    /** Minimum weight bytes per chunk. */
    private static final long MIN_CHUNK_BYTES = 64 * 1024;

    private final WeightMatrix weight;
    /** [rows] FP32, or null. */
    private final MemorySegment bias;
    private final CpuThreadPool pool;
    private final int grain;
    private final RangeTask rowsTask = this::forwardRows;

    private MemorySegment x;
    private long xOffset;
    private int tokens;
    private MemorySegment out;
    private long outOffset;

    public Linear(WeightMatrix weight, MemorySegment biasOrNull, CpuThreadPool pool) {
        this.weight = Objects.requireNonNull(weight, "weight");
        this.pool = Objects.requireNonNull(pool, "pool");
        if (biasOrNull != null && biasOrNull.byteSize() < (long) weight.rows() * Float.BYTES) {
            throw new IllegalArgumentException("bias must hold " + weight.rows() + " floats");
        }
        this.bias = biasOrNull;
        long rowBytes = Math.max(1, weight.bytes() / weight.rows());
        int rowsPerChunk = (int) Math.min(weight.rows(), Math.max(1, MIN_CHUNK_BYTES / rowBytes));
        this.grain = Math.max(4, (rowsPerChunk + 3) & ~3);
    }

    public WeightMatrix weight() {
        return weight;
    }

    /** The bias, or null. */
    public MemorySegment bias() {
        return bias;
    }

    /** Output features. */
    public int rows() {
        return weight.rows();
    }

    /** Input features. */
    public int cols() {
        return weight.cols();
    }

    /** {@code out[outOffset + t*rows + r] = sum_c W[r][c] x[xOffset + t*cols + c] + bias[r]}. */
    public void forward(MemorySegment x, long xOffset, int tokens, MemorySegment out, long outOffset) {
        this.x = x;
        this.xOffset = xOffset;
        this.tokens = tokens;
        this.out = out;
        this.outOffset = outOffset;
        try {
            pool.parallelFor(weight.rows(), grain, rowsTask);
        } finally {
            this.x = null;
            this.out = null;
        }
    }

    private void forwardRows(int workerIndex, int start, int end) {
        weight.multiply(x, xOffset, tokens, out, outOffset, start, end);
        if (bias != null) {
            int rows = weight.rows();
            for (int t = 0; t < tokens; t++) {
                CpuKernels.add(out, outOffset + (long) t * rows + start, bias, start, end - start);
            }
        }
    }
}
