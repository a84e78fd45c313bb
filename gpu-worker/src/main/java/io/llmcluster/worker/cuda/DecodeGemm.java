package io.llmcluster.worker.cuda;

/**
 * {@link Gemm} that sends decode-sized projections (1..2 tokens by default) to the project's GEMV kernel, which streams
 * the weights near the HBM bandwidth, and everything larger to cuBLAS. At one token cuBLAS's GemmEx picks a
 * general kernel that reached about half the read bandwidth on the H200 (see docs/benchmarks.md).
 */
final class DecodeGemm implements Gemm {
    private final CudaKernels k;
    private final Gemm large;

    /** Tokens up to which the GEMV kernel is used (it serves 8, but at 8 tokens it lost to cuBLAS on the H200). */
    static final int DEFAULT_MAX_TOKENS = 2;
    private final int maxTokens;

    DecodeGemm(CudaKernels k, Gemm large, int maxTokens) {
        this.k = k;
        this.large = large;
        this.maxTokens = maxTokens;
    }

    @Override
    public void linear(long x, long w, long y, int tokens, int in, int out, boolean fp32Out) {
        if (tokens <= maxTokens && CudaKernels.gemvSupports(tokens, in)) {
            k.gemv(x, w, y, tokens, in, out, fp32Out);
        } else {
            large.linear(x, w, y, tokens, in, out, fp32Out);
        }
    }

    @Override
    public String describe() {
        return "GEMV kernel for 1.." + maxTokens + " tokens, else " + large.describe();
    }

    @Override
    public void close() {
        large.close();
    }
}
