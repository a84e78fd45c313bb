package io.llmcluster.worker.cuda;

/**
 * One projection's weights on the device, row-major [rows = out][cols = in]: in the run dtype ({@code group == 0},
 * {@code scales == 0}), or INT8 weight-only as offset-binary bytes {@code q + 128} at {@code data} with FP32
 * scales [rows][ceil(cols / group)] at {@code scales} (see {@link Int8Rows}), or ({@code w8a8}) W8A8 SmoothQuant
 * weights: signed INT8 (two's complement, what cuBLAS's INT8 GEMM reads) with one FP32 scale per row
 * ({@code group == cols}; see {@link W8a8Rows}). {@code shape} numbers the model's distinct projection shapes (the
 * autotuner's choices are looked up by it).
 */
record DeviceMatrix(long data, long scales, int rows, int cols, int group, int shape, boolean w8a8) {
    DeviceMatrix(long data, long scales, int rows, int cols, int group, int shape) {
        this(data, scales, rows, cols, group, shape, false);
    }

    /** INT8 weight-only (offset-binary bytes for the GEMV, skinny and dequantize kernels). */
    boolean int8() {
        return group > 0 && !w8a8;
    }

    int groups() {
        return group > 0 ? (cols + group - 1) / group : 0;
    }

    /** Bytes a pass over the matrix reads (weights plus scales). */
    long bytesRead(int elementBytes) {
        return group > 0 ? (long) rows * cols + 4L * rows * groups() : (long) rows * cols * elementBytes;
    }
}
