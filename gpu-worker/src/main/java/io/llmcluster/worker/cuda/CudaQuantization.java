package io.llmcluster.worker.cuda;

/**
 * How the CUDA backend stores the projection weights (q|k|v, o, gate|up, down, LM head; embeddings and norms
 * keep their dtype): in the run dtype, or INT8 weight-only, quantized at load with the CPU backend's rule
 * ({@code --quantize int8}: symmetric, {@code scale = max|w| / 127}, round to nearest) per output channel
 * ({@code groupSize == 0}, the CPU backend's semantics) or per group of {@code groupSize} input columns.
 *
 * @param int8 INT8 weight-only
 * @param groupSize columns per scale; 0 = one scale per output channel (row)
 */
public record CudaQuantization(boolean int8, int groupSize) {
    public static final CudaQuantization NONE = new CudaQuantization(false, 0);

    public CudaQuantization {
        if (groupSize < 0 || groupSize % 16 != 0 || (!int8 && groupSize != 0)) {
            throw new IllegalArgumentException("INT8 group size must be 0 (per output channel) or a positive multiple "
                    + "of 16, got " + groupSize);
        }
    }

    public static CudaQuantization int8PerChannel() {
        return new CudaQuantization(true, 0);
    }

    public static CudaQuantization int8Groups(int groupSize) {
        return new CudaQuantization(true, groupSize);
    }

    /**
     * From the CLI: {@code null} or "none" = 16-bit; "int8" with {@code groupSize} 0 (per channel) or a multiple of 16.
     */
    public static CudaQuantization parse(String quantize, int groupSize) {
        if (quantize == null || quantize.equalsIgnoreCase("none")) {
            if (groupSize != 0) {
                throw new IllegalArgumentException("--int8-group-size needs --quantize int8");
            }
            return NONE;
        }
        if (!quantize.equalsIgnoreCase("int8")) {
            throw new IllegalArgumentException("--quantize " + quantize + " is not supported (only int8)");
        }
        return new CudaQuantization(true, groupSize);
    }

    /** Columns per scale for a matrix of {@code cols} input columns: the group size, or all columns. */
    public int groupFor(int cols) {
        return groupSize == 0 || groupSize > cols ? cols : groupSize;
    }

    /** Short tag for logs and autotune keys: "none", "int8-ch" or "int8-g128". */
    public String tag() {
        return !int8 ? "none" : groupSize == 0 ? "int8-ch" : "int8-g" + groupSize;
    }
}
