package io.llmcluster.worker.cuda;

/**
 * SmoothQuant's per-input-column smoothing: {@code s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)}, where
 * {@code max|X_j|} is the column's activation maximum seen in calibration and {@code max|W_j|} the weight column's
 * maximum over every output row of the projection. The projection computes {@code (X diag(1/s)) (diag(s) Wᵀ)}:
 * the same product, with activation outliers moved into the weights, which quantize per output row and tolerate
 * them. For q|k|v and gate|up, {@code 1/s} is folded into the preceding RMSNorm's weight, so the normed activations
 * come out already smoothed and nothing is added to a step.
 */
final class SmoothingFactors {
    /** Bounds on a factor: beyond them a column is degenerate (never active, or all-zero weights), not an outlier. */
    static final double MIN_FACTOR = 1e-4;
    static final double MAX_FACTOR = 1e4;

    private SmoothingFactors() {}

    /** One factor per column; a column whose activation or weight maximum is 0 (or not finite) keeps 1. */
    static float[] of(float[] activationMax, float[] weightMax, double alpha) {
        if (activationMax.length != weightMax.length) {
            throw new IllegalArgumentException("column counts differ: " + activationMax.length + " activation maxima, "
                    + weightMax.length + " weight maxima");
        }
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("alpha must be in [0, 1], got " + alpha);
        }
        float[] s = new float[activationMax.length];
        for (int j = 0; j < s.length; j++) {
            s[j] = factor(activationMax[j], weightMax[j], alpha);
        }
        return s;
    }

    static float factor(float activationMax, float weightMax, double alpha) {
        if (!(activationMax > 0) || !(weightMax > 0) || Float.isInfinite(activationMax) || Float.isInfinite(weightMax)) {
            return 1f;
        }
        double s = Math.pow(activationMax, alpha) / Math.pow(weightMax, 1 - alpha);
        return (float) Math.clamp(s, MIN_FACTOR, MAX_FACTOR);
    }

    /** The RMSNorm weight that yields smoothed activations: {@code g_j / s_j} (FP32 division). */
    static float[] foldIntoNorm(float[] normWeight, float[] s) {
        if (normWeight.length != s.length) {
            throw new IllegalArgumentException("norm has " + normWeight.length + " columns, factors " + s.length);
        }
        float[] g = new float[s.length];
        for (int j = 0; j < g.length; j++) {
            g[j] = normWeight[j] / s[j];
        }
        return g;
    }
}
