package io.llmcluster.worker.cuda;

/**
 * Typed launches of the W8A8 kernels (kernels/src/main/cuda/w8a8.cu) for one run dtype; twins in {@link W8a8Rows}.
 * Kept apart from {@link CudaKernels}: only W8A8 loads and steps use them.
 */
final class W8a8Kernels {
    private final CudaContext ctx;
    private final CudaDtype dtype;
    private final KernelCall colAbsmax;
    private final KernelCall quantizeWeights;
    private final KernelCall quantizeActivations;
    private final KernelCall epilogue;
    private final KernelCall siluMul;

    W8a8Kernels(CudaContext ctx, CudaDtype dtype) {
        this.ctx = ctx;
        this.dtype = dtype;
        String s = "_" + dtype.suffix();
        colAbsmax = new KernelCall(ctx, "col_absmax" + s, "ppii");
        quantizeWeights = new KernelCall(ctx, "quantize_w8s" + s, "ppppii");
        quantizeActivations = new KernelCall(ctx, "quantize_act" + s, "pppi");
        epilogue = new KernelCall(ctx, "w8a8_epilogue", "pppii");
        siluMul = new KernelCall(ctx, "w8a8_silu_mul" + s, "ppppii");
    }

    CudaDtype dtype() {
        return dtype;
    }

    /** {@code out[c] = max(out[c], max_r |x[r][c]|)} for x [rows][cols] in the run dtype; out FP32, ≥ 0 on entry. */
    void colAbsmax(long x, long out, int rows, int cols) {
        colAbsmax.p(0, x).p(1, out).i(2, rows).i(3, cols)
                .launch(ctx, (cols + 255) / 256, Math.max(1, Math.min(rows, 256)), 1, 256, 0);
    }

    /** Rows [rows][cols] (run dtype) times {@code smooth[c]} (FP32, 0 = none) to signed INT8 {@code q} and {@code scales[rows]}. */
    void quantizeWeights(long w, long smooth, long q, long scales, int rows, int cols) {
        quantizeWeights.p(0, w).p(1, smooth).p(2, q).p(3, scales).i(4, rows).i(5, cols)
                .launch(ctx, (rows + 7) / 8, 1, 1, 256, 0);
    }

    /** x [tokens][cols] (run dtype, cols % 8 == 0) to signed INT8 {@code q} and {@code scales[tokens]}. */
    void quantizeActivations(long x, long q, long scales, int tokens, int cols) {
        quantizeActivations.p(0, x).p(1, q).p(2, scales).i(3, cols).launch(ctx, tokens, 1, 1, 256, 0);
    }

    /** In place over y [tokens][out] (out % 4 == 0): INT32 → FP32 {@code acc * tokenScales[t] * channelScales[o]}. */
    void epilogue(long y, long tokenScales, long channelScales, int tokens, int out) {
        long quads = (long) tokens * (out / 4);
        int grid = (int) Math.min((quads + 255) / 256, 132L * 16);
        epilogue.p(0, y).p(1, tokenScales).p(2, channelScales).i(3, tokens).i(4, out).launch(ctx, grid, 1, 1, 256, 0);
    }

    /**
     * The gate|up epilogue fused into SwiGLU: acc [tokens][2·inter] INT32 → act [tokens][inter] (run dtype) =
     * silu(gate) · up, bit for bit what {@link #epilogue} followed by {@code silu_mul} gives (inter % 4 == 0).
     */
    void siluMul(long acc, long tokenScales, long channelScales, long act, int tokens, int inter) {
        long quads = (long) tokens * (inter / 4);
        int grid = (int) Math.min((quads + 255) / 256, 132L * 16);
        siluMul.p(0, acc).p(1, tokenScales).p(2, channelScales).p(3, act).i(4, tokens).i(5, inter)
                .launch(ctx, grid, 1, 1, 256, 0);
    }
}
