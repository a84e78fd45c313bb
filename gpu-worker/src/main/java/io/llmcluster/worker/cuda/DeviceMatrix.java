package io.llmcluster.worker.cuda;

/**
 * One projection's weights on the device, row-major [rows = out][cols = in]: in the run dtype ({@code group == 0},
 * {@code scales == 0}), or INT8 weight-only as offset-binary bytes {@code q + 128} at {@code data} with FP32
 * scales [rows][ceil(cols / group)] at {@code scales} (see {@link Int8Rows}). {@code shape} numbers the model's
 * distinct projection shapes (the autotuner's choices are looked up by it).
 */
record DeviceMatrix(long data, long scales, int rows, int cols, int group, int shape) {
    boolean int8() {
        return group > 0;
    }

    int groups() {
        return int8() ? (cols + group - 1) / group : 0;
    }

    /** Bytes a pass over the matrix reads (weights plus scales). */
    long bytesRead(int elementBytes) {
        return int8() ? (long) rows * cols + 4L * rows * groups() : (long) rows * cols * elementBytes;
    }
}
