package io.llmcluster.worker.cuda;

/**
 * {@link Gemm} on cuBLAS's cublasGemmEx. Row-major {@code y = x wᵀ} is column-major {@code yᵀ = w xᵀ}: with w
 * stored [out][in] row-major (column-major [in][out]), that is {@code C(out × tokens) = op_T(W) · op_N(X)} with
 * lda = ldb = in and ldc = out.
 */
final class CublasGemm implements Gemm {
    private final Cublas cublas;
    private final CudaDtype dtype;

    CublasGemm(Cublas cublas, CudaDtype dtype) {
        this.cublas = cublas;
        this.dtype = dtype;
    }

    @Override
    public void linear(long x, long w, long y, int tokens, int in, int out, boolean fp32Out) {
        if (tokens == 0) {
            return;
        }
        int t = dtype.cudaDataType();
        cublas.gemmEx(Cublas.OP_T, Cublas.OP_N, out, tokens, in, 1f, w, t, in, x, t, in, 0f, y,
                fp32Out ? CudaDtype.CUDA_R_32F : t, out);
    }

    /**
     * Output columns [rowOffset, rowOffset + rows) of {@code y[tokens][out]} from {@code w}'s rows of that range,
     * which start at {@code wRows} ([rows][in]): the dequantize-then-GEMM path of INT8 weights, chunk by chunk.
     */
    void linearRows(long x, long wRows, long y, int tokens, int in, int out, int rowOffset, int rows, boolean fp32Out) {
        if (tokens == 0) {
            return;
        }
        int t = dtype.cudaDataType();
        long yAt = y + (long) rowOffset * (fp32Out ? 4 : dtype.bytes());
        cublas.gemmEx(Cublas.OP_T, Cublas.OP_N, rows, tokens, in, 1f, wRows, t, in, x, t, in, 0f, yAt,
                fp32Out ? CudaDtype.CUDA_R_32F : t, out);
    }

    @Override
    public String describe() {
        return "cuBLAS " + cublas.version() + " (" + Cublas.libraryName() + ", GemmEx " + dtype + " in, FP32 compute)";
    }

    @Override
    public void close() {
        cublas.close();
    }
}
