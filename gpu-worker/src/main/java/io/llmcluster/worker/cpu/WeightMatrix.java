package io.llmcluster.worker.cpu;

import java.lang.foreign.MemorySegment;

/**
 * A weight matrix {@code W[rows = out features][cols = in features]}, row-major (torch {@code Linear.weight}).
 *
 * <p>Offsets are in float elements. {@link #multiply} is the matmul of the forward pass; {@link #copyRowTo} is the
 * embedding lookup. Implementations are immutable and safe to use from several threads at once.
 */
public sealed interface WeightMatrix permits F32Matrix, F16Matrix, Bf16Matrix, Int8Matrix {

    /** Output features. */
    int rows();

    /** Input features. */
    int cols();

    DType dtype();

    /** Bytes of weight data (for INT8 also the per-row scales). */
    long bytes();

    /** One weight as a float (for INT8 the dequantized {@code q * scale}). */
    float get(int row, int col);

    /** Writes row {@code row} as {@code cols} floats to {@code dst[dstOffset ..]}. */
    void copyRowTo(int row, MemorySegment dst, long dstOffset);

    /**
     * {@code out[outOffset + t*rows + r] = sum_c W[r][c] * x[xOffset + t*cols + c]} for {@code t in [0, tokens)}
     * and {@code r in [rowStart, rowEnd)}; other elements of out are untouched. FP32 accumulation. Allocates
     * nothing. For {@code tokens > 1} each weight vector load is reused by up to 4 tokens.
     */
    void multiply(MemorySegment x, long xOffset, int tokens, MemorySegment out, long outOffset, int rowStart,
            int rowEnd);

    /**
     * Wraps {@code data} (for example a slice of a memory-mapped safetensors file, at any byte offset) as a
     * matrix without copying. {@code data.byteSize()} must be exactly {@code rows * cols * bytesPerElement}.
     * F32, F16 and BF16 only: INT8 matrices come from {@link Int8Matrix#quantize} or {@link Int8Matrix#of}.
     */
    static WeightMatrix wrap(MemorySegment data, DType dtype, int rows, int cols) {
        return switch (dtype) {
            case F32 -> new F32Matrix(data, rows, cols);
            case F16 -> new F16Matrix(data, rows, cols);
            case BF16 -> new Bf16Matrix(data, rows, cols);
            case INT8 -> throw new IllegalArgumentException(
                    "INT8 weights need per-row scales: use Int8Matrix.quantize or Int8Matrix.of");
        };
    }
}
