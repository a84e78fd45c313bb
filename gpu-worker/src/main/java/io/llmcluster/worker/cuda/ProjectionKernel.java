package io.llmcluster.worker.cuda;

import java.util.Locale;

/**
 * The ways one projection {@code y = x · wᵀ} can run, the autotuner's candidates: cuBLAS GemmEx, the project's
 * tensor-core GEMM, the GEMV kernel with 1, 2, 4 or 8 warps per output row (1..8 tokens; more warps per row
 * split K inside a CTA, for narrow matrices) and its one-token variant with double-buffered weight loads
 * ({@code GEMV1P_*}, 1, 2 or 4 warps per row; 16-bit weights), the tensor-core skinny GEMM (skinny_mma.cu: 1..64 tokens, each weight
 * read once for all of them; 1, 2, 4 or 8 warps per 16-row tile), and for INT8 weights the INT8 GEMV and skinny GEMM
 * (same configs) or a dequantization of row chunks to the run dtype followed by cuBLAS (any token count), and from
 * {@link #LT_MIN_TOKENS} tokens on cuBLASLt with each of the heuristic's first {@link CublasLt#MAX_ALGOS} algorithms
 * ({@code LT_0} is the one cublasGemmEx would run; the others: other tiles, split-K).
 */
enum ProjectionKernel {
    CUBLAS(false, 0, Integer.MAX_VALUE),
    MMA(false, 0, Integer.MAX_VALUE),
    GEMV_R1(false, 1, CudaKernels.GEMV_MAX_TOKENS),
    GEMV_R2(false, 2, CudaKernels.GEMV_MAX_TOKENS),
    GEMV_R4(false, 4, CudaKernels.GEMV_MAX_TOKENS),
    GEMV_R8(false, 8, CudaKernels.GEMV_MAX_TOKENS),
    GEMV1P_R1(false, 1, 1),
    GEMV1P_R2(false, 2, 1),
    GEMV1P_R4(false, 4, 1),
    SKINNY_R1(false, 1, CudaKernels.SKINNY_MAX_TOKENS),
    SKINNY_R2(false, 2, CudaKernels.SKINNY_MAX_TOKENS),
    SKINNY_R4(false, 4, CudaKernels.SKINNY_MAX_TOKENS),
    SKINNY_R8(false, 8, CudaKernels.SKINNY_MAX_TOKENS),
    W8_GEMV_R1(true, 1, CudaKernels.GEMV_MAX_TOKENS),
    W8_GEMV_R2(true, 2, CudaKernels.GEMV_MAX_TOKENS),
    W8_GEMV_R4(true, 4, CudaKernels.GEMV_MAX_TOKENS),
    W8_GEMV_R8(true, 8, CudaKernels.GEMV_MAX_TOKENS),
    W8_SKINNY_R1(true, 1, CudaKernels.SKINNY_MAX_TOKENS),
    W8_SKINNY_R2(true, 2, CudaKernels.SKINNY_MAX_TOKENS),
    W8_SKINNY_R4(true, 4, CudaKernels.SKINNY_MAX_TOKENS),
    W8_SKINNY_R8(true, 8, CudaKernels.SKINNY_MAX_TOKENS),
    W8_DEQUANT_CUBLAS(true, 0, Integer.MAX_VALUE),
    LT_0(false, 0, Integer.MAX_VALUE),
    LT_1(false, 0, Integer.MAX_VALUE),
    LT_2(false, 0, Integer.MAX_VALUE),
    LT_3(false, 0, Integer.MAX_VALUE),
    LT_4(false, 0, Integer.MAX_VALUE),
    LT_5(false, 0, Integer.MAX_VALUE);

    /** Fewest tokens the cuBLASLt candidates compete at (below it the GEMV and skinny kernels own the buckets). */
    static final int LT_MIN_TOKENS = CudaKernels.SKINNY_MAX_TOKENS + 1;

    /** Whether it takes INT8 weights (else run-dtype weights). */
    final boolean int8;
    /** Warps per output row (GEMV) or per 16-row tile (skinny); 0 for the library paths. */
    final int warpsPerRow;
    final int maxTokens;

    ProjectionKernel(boolean int8, int warpsPerRow, int maxTokens) {
        this.int8 = int8;
        this.warpsPerRow = warpsPerRow;
        this.maxTokens = maxTokens;
    }

    /** Whether it is cuBLASLt with the heuristic's algorithm number {@link #ltRank()}. */
    boolean lt() {
        return name().startsWith("LT_");
    }

    /** The heuristic's rank of a cuBLASLt candidate (0 = cuBLAS's own first pick). */
    int ltRank() {
        return lt() ? name().charAt(3) - '0' : -1;
    }

    /** Whether it is one of the one-token GEMVs with double-buffered weight loads (gemv1p_*). */
    boolean pipelined() {
        return name().contains("GEMV1P");
    }

    /** Whether it is one of the tensor-core skinny GEMMs. */
    boolean skinny() {
        return name().contains("SKINNY");
    }

    /**
     * Whether it computes a projection of {@code tokens} tokens on weights of this format with {@code cols} inputs
     * ({@code group}: INT8 columns per scale, 0 for 16-bit weights): the GEMV kernels need rows of whole 16-byte
     * vectors, the skinny GEMMs whole 32 (16-bit) or 64 (INT8) column steps and INT8 groups that are the whole row
     * or a power of two of at least 64 columns.
     */
    boolean serves(boolean int8Weights, int group, int tokens, int cols) {
        if (int8Weights != int8 || tokens < 1 || tokens > maxTokens) {
            return false;
        }
        if (lt()) {
            return tokens >= LT_MIN_TOKENS;
        }
        if (warpsPerRow == 0) {
            return true;
        }
        if (!skinny()) {
            return cols % (int8 ? 16 : 8) == 0;
        }
        if (!int8) {
            return cols % 32 == 0;
        }
        return cols % 64 == 0 && (group == cols || (group >= 64 && Integer.bitCount(group) == 1));
    }

    /** The name in logs and in the cache file: "cublas", "gemv-r2", "w8-dequant-cublas". */
    String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The kernel of a label, or null when there is none (a cache written by another version). */
    static ProjectionKernel ofLabel(String label) {
        for (ProjectionKernel k : values()) {
            if (k.label().equals(label)) {
                return k;
            }
        }
        return null;
    }
}
