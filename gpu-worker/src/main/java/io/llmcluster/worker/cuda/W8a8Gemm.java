package io.llmcluster.worker.cuda;

/**
 * One W8A8 projection {@code y[tokens][out] = x[tokens][in] · wᵀ} on INT8 tensor cores: the 16-bit input rows
 * (already smoothed: the preceding RMSNorm carries {@code 1/s}) are quantized per token ({@code quantize_act}),
 * cuBLAS multiplies INT8 × INT8 → INT32 ({@link Cublas#gemmInt8}, the TN layout its IMMA kernels want) straight
 * into y's FP32 words, and the epilogue rescales them in place by the token's and the output channel's scale. The
 * quantized activations live in a device scratch; more tokens than it holds go through in chunks.
 */
final class W8a8Gemm {
    private final W8a8Kernels k;
    private final Cublas cublas;
    private final long scratch;
    private final long scratchBytes;
    private final int elementBytes;

    W8a8Gemm(W8a8Kernels k, Cublas cublas, long scratch, long scratchBytes) {
        this.k = k;
        this.cublas = cublas;
        this.scratch = scratch;
        this.scratchBytes = scratchBytes;
        this.elementBytes = k.dtype().bytes();
    }

    /** Whether a W8A8 matrix of this shape can run here: the kernels' vector widths and cuBLAS's INT8 alignment. */
    static boolean supports(int rows, int cols) {
        return cols % 16 == 0 && rows % 8 == 0; // rows % 8: gate|up's halves in 16-byte words (SwiGLU epilogue)
    }

    void linear(long x, DeviceMatrix w, long y, int tokens, boolean fp32Out) {
        if (!fp32Out) {
            throw new IllegalStateException("W8A8 projections write FP32 (the INT32 accumulators become FP32 in place)");
        }
        run(x, w, y, 0, tokens);
    }

    /**
     * gate|up then SwiGLU: the INT32 accumulators stay in {@code acc} ([tokens][2·inter] words) and the fused epilogue
     * writes the down projection's input {@code act} [tokens][inter] in the run dtype (no FP32 gate|up rows).
     */
    void gateUpSiluMul(long x, DeviceMatrix gateUp, long acc, long act, int tokens) {
        run(x, gateUp, acc, act, tokens);
    }

    /** act == 0: FP32 y in place; else y keeps INT32 and act gets SwiGLU (w = gate|up). */
    private void run(long x, DeviceMatrix w, long y, long act, int tokens) {
        if (tokens == 0) {
            return;
        }
        if (!w.w8a8()) {
            throw new IllegalStateException("the W8A8 path takes W8A8 weights");
        }
        int in = w.cols();
        int out = w.rows();
        int chunk = (int) Math.min(tokens, (scratchBytes - 256) / (in + 4L));
        if (chunk < 1) {
            throw new IllegalStateException("no W8A8 activation scratch for " + in + " columns");
        }
        long scales = scratch + ((long) chunk * in + 255) / 256 * 256;
        for (int t0 = 0; t0 < tokens; t0 += chunk) {
            int n = Math.min(chunk, tokens - t0);
            long yAt = y + 4L * t0 * out;
            k.quantizeActivations(x + (long) t0 * in * elementBytes, scratch, scales, n, in);
            cublas.gemmInt8(out, n, in, w.data(), scratch, yAt);
            if (act == 0) {
                k.epilogue(yAt, scales, w.scales(), n, out);
            } else {
                k.siluMul(yAt, scales, w.scales(), act + (long) t0 * (out / 2) * elementBytes, n, out / 2);
            }
        }
    }

    /**
     * Benchmark: device ms of each part of {@link #linear} for {@code tokens} (within one scratch chunk) on {@code copies}
     * (rotated so the weights come from HBM): {activation quantization, INT8 GEMM, epilogue}.
     */
    double[] timeParts(CudaBackend be, DeviceMatrix[] copies, long x, long y, int tokens) {
        DeviceMatrix w = copies[0];
        int in = w.cols();
        int out = w.rows();
        long scales = scratch + ((long) tokens * in + 255) / 256 * 256;
        if (scales + 4L * tokens > scratch + scratchBytes) {
            throw new IllegalArgumentException(tokens + " tokens do not fit one W8A8 scratch chunk");
        }
        k.quantizeActivations(x, scratch, scales, tokens, in);
        double quant = ProjectionBench.time(be, i -> k.quantizeActivations(x, scratch, scales, tokens, in));
        double gemm = ProjectionBench.time(be, i -> cublas.gemmInt8(out, tokens, in, copies[i % copies.length].data(), scratch, y));
        double epi = ProjectionBench.time(be, i -> k.epilogue(y, scales, copies[i % copies.length].scales(), tokens, out));
        return new double[] {quant, gemm, epi};
    }

    String describe() {
        return "W8A8 (per-token INT8 activations, cuBLAS " + cublas.version() + " INT8 GEMM → INT32, FP32 epilogue)";
    }
}
