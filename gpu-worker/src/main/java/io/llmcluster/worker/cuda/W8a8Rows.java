package io.llmcluster.worker.cuda;

/**
 * The W8A8 rules in plain Java, twin of kernels/src/main/cuda/w8a8.cu: weights per output row after multiplying
 * column j by the smoothing factor {@code s_j} ({@code quantize_w8s}), activations per token
 * ({@code quantize_act}); both symmetric, {@code scale = max|v| / 127}, {@code q = rint(v / scale)} clamped to ±127
 * (0 for an all-zero row), stored as signed bytes. FP32 arithmetic in the kernels' order, so bytes and scales
 * match bit for bit. {@link #epilogue} is the twin of {@code w8a8_epilogue}.
 */
final class W8a8Rows {
    private static final float Q_MAX = 127f;

    private W8a8Rows() {}

    /** Weights [rows][cols] (as the device holds them) times {@code smooth[c]} (null = 1) to {@code q} and {@code scales[rows]}. */
    static void quantizeWeights(float[] w, int rows, int cols, float[] smooth, byte[] q, float[] scales) {
        float[] v = new float[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                v[c] = smooth == null ? w[r * cols + c] : w[r * cols + c] * smooth[c];
            }
            scales[r] = quantizeRow(v, q, r * cols);
        }
    }

    /** Activations [tokens][cols] to {@code q} and one scale per token. */
    static void quantizeActivations(float[] x, int tokens, int cols, byte[] q, float[] scales) {
        float[] v = new float[cols];
        for (int t = 0; t < tokens; t++) {
            System.arraycopy(x, t * cols, v, 0, cols);
            scales[t] = quantizeRow(v, q, t * cols);
        }
    }

    private static float quantizeRow(float[] v, byte[] q, int off) {
        float max = 0;
        for (float f : v) {
            max = Math.max(max, Math.abs(f));
        }
        float scale = max / Q_MAX;
        for (int c = 0; c < v.length; c++) {
            q[off + c] = scale == 0 ? 0 : (byte) (int) Math.clamp(Math.rint(v[c] / scale), -Q_MAX, Q_MAX);
        }
        return scale;
    }

    /** {@code (float) acc * tokenScale * channelScale}, the epilogue's order of FP32 roundings. */
    static float epilogue(int acc, float tokenScale, float channelScale) {
        return (float) acc * tokenScale * channelScale;
    }
}
