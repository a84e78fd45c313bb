package io.llmcluster.worker.cuda;

/**
 * The INT8 weight-only rule of the CUDA backend in plain Java: the twin of {@code quantize_w8_*} and of the
 * INT8 GEMV's dequantization (kernels/src/main/cuda/gemv.cu). Per group of {@code group} columns of a row
 * (the last may be shorter): {@code scale = max|w| / 127}, {@code q = rint(w / scale)} clamped to ±127 (0 for an
 * all-zero group) — the CPU backend's {@code Int8Matrix} rule, which is per row ({@code group == cols}). Stored
 * as offset-binary {@code u = q + 128}: the kernel turns a byte into an exact float with one byte permute.
 */
final class Int8Rows {
    private static final int Q_MAX = 127;

    private Int8Rows() {}

    static int groups(int cols, int group) {
        return (cols + group - 1) / group;
    }

    /** Quantizes {@code row[0..cols)}: bytes to {@code packed[off..]}, scales to {@code scales[sOff..]}. */
    static void quantize(float[] row, int cols, int group, byte[] packed, int off, float[] scales, int sOff) {
        for (int g = 0, c0 = 0; c0 < cols; g++, c0 += group) {
            int c1 = Math.min(cols, c0 + group);
            float maxAbs = 0;
            for (int c = c0; c < c1; c++) {
                maxAbs = Math.max(maxAbs, Math.abs(row[c]));
            }
            float scale = maxAbs / Q_MAX;
            scales[sOff + g] = scale;
            for (int c = c0; c < c1; c++) {
                int q = scale == 0 ? 0 : (int) Math.rint(row[c] / scale);
                packed[off + c] = (byte) (Math.clamp(q, -Q_MAX, Q_MAX) + 128);
            }
        }
    }

    /** The weight a packed byte and its scale stand for. */
    static float dequantize(byte packed, float scale) {
        return ((packed & 0xFF) - 128) * scale;
    }
}
