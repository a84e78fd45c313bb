package io.llmcluster.worker.cuda;

import java.nio.file.Path;

/**
 * How the CUDA backend stores the projection weights (q|k|v, o, gate|up, down, LM head; embeddings and norms
 * keep their dtype): in the run dtype; INT8 weight-only, quantized at load with the CPU backend's rule
 * ({@code --quantize int8}: symmetric, {@code scale = max|w| / 127}, round to nearest) per output channel
 * ({@code groupSize == 0}, the CPU backend's semantics) or per group of {@code groupSize} input columns; or W8A8
 * SmoothQuant ({@code --quantize w8a8}, {@link W8a8}): INT8 weights per output channel after smoothing, INT8
 * activations per token, INT8 tensor-core GEMMs (docs/int8.md).
 *
 * @param int8 INT8 weight-only
 * @param groupSize columns per scale; 0 = one scale per output channel (row)
 * @param w8a8 the W8A8 settings, or null when activations stay 16-bit
 */
public record CudaQuantization(boolean int8, int groupSize, W8a8 w8a8) {
    public static final CudaQuantization NONE = new CudaQuantization(false, 0);
    /** SmoothQuant's migration strength for Llama-family models. */
    public static final double DEFAULT_ALPHA = 0.5;
    /** Tokens of the calibration pass at load (a few hundred give stable column maxima). */
    public static final int DEFAULT_CALIBRATION_TOKENS = 512;

    /**
     * W8A8 SmoothQuant.
     *
     * @param alpha migration strength in [0, 1]: {@code s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)}
     * @param calibrationTokens tokens run through the 16-bit model at load to find {@code max|X_j|}
     * @param calibrationText a text file of prompts, one per line (real checkpoints); null = random token ids
     *     (random-weight models, benchmarks)
     */
    public record W8a8(double alpha, int calibrationTokens, Path calibrationText) {
        public W8a8 {
            if (!(alpha >= 0 && alpha <= 1)) {
                throw new IllegalArgumentException("--smoothquant-alpha must be in [0, 1], got " + alpha);
            }
            if (calibrationTokens < 16) {
                throw new IllegalArgumentException("--calibration-tokens must be >= 16, got " + calibrationTokens);
            }
        }
    }

    public CudaQuantization {
        if (groupSize < 0 || groupSize % 16 != 0 || (!int8 && groupSize != 0)) {
            throw new IllegalArgumentException("INT8 group size must be 0 (per output channel) or a positive multiple "
                    + "of 16, got " + groupSize);
        }
        if (int8 && w8a8 != null) {
            throw new IllegalArgumentException("INT8 weight-only and W8A8 exclude each other");
        }
    }

    public CudaQuantization(boolean int8, int groupSize) {
        this(int8, groupSize, null);
    }

    public static CudaQuantization int8PerChannel() {
        return new CudaQuantization(true, 0);
    }

    public static CudaQuantization int8Groups(int groupSize) {
        return new CudaQuantization(true, groupSize);
    }

    public static CudaQuantization w8a8(double alpha, int calibrationTokens, Path calibrationText) {
        return new CudaQuantization(false, 0, new W8a8(alpha, calibrationTokens, calibrationText));
    }

    /**
     * From the CLI: {@code null} or "none" = 16-bit; "int8" with {@code groupSize} 0 (per channel) or a multiple of 16.
     */
    public static CudaQuantization parse(String quantize, int groupSize) {
        return parse(quantize, groupSize, null, null, null);
    }

    /**
     * From the CLI, W8A8 included: {@code alpha}, {@code calibrationTokens} and {@code calibrationText} (null = not
     * given) belong to {@code w8a8} only, the group size to {@code int8} only.
     */
    public static CudaQuantization parse(String quantize, int groupSize, Double alpha, Integer calibrationTokens,
            Path calibrationText) {
        boolean w8a8 = quantize != null && quantize.equalsIgnoreCase("w8a8");
        if (!w8a8 && (alpha != null || calibrationTokens != null || calibrationText != null)) {
            throw new IllegalArgumentException("--smoothquant-alpha, --calibration-tokens and --calibration-text need "
                    + "--quantize w8a8");
        }
        if (quantize == null || quantize.equalsIgnoreCase("none")) {
            if (groupSize != 0) {
                throw new IllegalArgumentException("--int8-group-size needs --quantize int8");
            }
            return NONE;
        }
        if (w8a8) {
            if (groupSize != 0) {
                throw new IllegalArgumentException("--int8-group-size applies to --quantize int8 only (W8A8 has one scale "
                        + "per output channel and one per token)");
            }
            return w8a8(alpha == null ? DEFAULT_ALPHA : alpha,
                    calibrationTokens == null ? DEFAULT_CALIBRATION_TOKENS : calibrationTokens, calibrationText);
        }
        if (!quantize.equalsIgnoreCase("int8")) {
            throw new IllegalArgumentException("--quantize " + quantize + " is not supported (int8 or w8a8)");
        }
        return new CudaQuantization(true, groupSize);
    }

    /** Whether activations are quantized too (W8A8 SmoothQuant). */
    public boolean isW8a8() {
        return w8a8 != null;
    }

    /** Columns per scale for a matrix of {@code cols} input columns: the group size, or all columns. */
    public int groupFor(int cols) {
        return groupSize == 0 || groupSize > cols ? cols : groupSize;
    }

    /** Short tag for logs and autotune keys: "none", "int8-ch", "int8-g128" or "w8a8". */
    public String tag() {
        return w8a8 != null ? "w8a8" : !int8 ? "none" : groupSize == 0 ? "int8-ch" : "int8-g" + groupSize;
    }
}
