package io.llmcluster.worker.cuda;

/**
 * {@link Gemm} on the project's own tensor-core kernel (kernels/src/main/cuda/gemm_mma.cu: mma.sync m16n8k16,
 * cp.async + ldmatrix, 128 x 128 x 32 CTA tiles, FP32 accumulation), for any token count and sizes.
 */
final class MmaGemm implements Gemm {
    private final CudaKernels k;

    MmaGemm(CudaKernels k) {
        this.k = k;
    }

    @Override
    public void linear(long x, long w, long y, int tokens, int in, int out, boolean fp32Out) {
        if (tokens == 0) {
            return;
        }
        k.gemmMma(x, w, y, tokens, in, out, fp32Out);
    }

    @Override
    public String describe() {
        return "own tensor-core GEMM (mma.sync m16n8k16, " + k.dtype() + " in, FP32 accumulation)";
    }

    @Override
    public void close() {
        // nothing of its own: the kernels belong to the context
    }
}
