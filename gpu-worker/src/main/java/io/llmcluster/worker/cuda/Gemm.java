package io.llmcluster.worker.cuda;

/**
 * The projections of the forward pass: {@code y[tokens][out] = x[tokens][in] · w[out][in]ᵀ}, row-major, x and w
 * in the run dtype, FP32 accumulation, y in the run dtype or FP32 (logits). Addresses are device addresses.
 * Implementations: {@link CublasGemm} (cuBLAS), {@link MmaGemm} (the project's tensor-core kernel), {@link DecodeGemm}
 * (the GEMV kernel for 1-2 tokens in front of either); {@link GemmChoice} picks. The forward pass goes through
 * {@link Projections}, which also runs the GEMV and skinny kernels and INT8 weights, as the autotuner chose.
 */
public interface Gemm extends AutoCloseable {
    void linear(long x, long w, long y, int tokens, int in, int out, boolean fp32Out);

    String describe();

    @Override
    void close();
}
