package io.llmcluster.worker.cuda;

import java.util.Locale;

/**
 * The ways one projection {@code y = x · wᵀ} can run, the autotuner's candidates: cuBLAS GemmEx, the project's
 * tensor-core GEMM, the GEMV kernel with 1, 2, 4 or 8 warps per output row (1..8 tokens; more warps per row
 * split K inside a CTA, for narrow matrices), and for INT8 weights the INT8 GEMV (same configs) or a
 * dequantization of row chunks to the run dtype followed by cuBLAS (any token count).
 */
enum ProjectionKernel {
    CUBLAS(false, 0, Integer.MAX_VALUE),
    MMA(false, 0, Integer.MAX_VALUE),
    GEMV_R1(false, 1, CudaKernels.GEMV_MAX_TOKENS),
    GEMV_R2(false, 2, CudaKernels.GEMV_MAX_TOKENS),
    GEMV_R4(false, 4, CudaKernels.GEMV_MAX_TOKENS),
    GEMV_R8(false, 8, CudaKernels.GEMV_MAX_TOKENS),
    W8_GEMV_R1(true, 1, CudaKernels.GEMV_MAX_TOKENS),
    W8_GEMV_R2(true, 2, CudaKernels.GEMV_MAX_TOKENS),
    W8_GEMV_R4(true, 4, CudaKernels.GEMV_MAX_TOKENS),
    W8_GEMV_R8(true, 8, CudaKernels.GEMV_MAX_TOKENS),
    W8_DEQUANT_CUBLAS(true, 0, Integer.MAX_VALUE);

    /** Whether it takes INT8 weights (else run-dtype weights). */
    final boolean int8;
    /** Warps per output row of the GEMV kernels; 0 for the others. */
    final int warpsPerRow;
    final int maxTokens;

    ProjectionKernel(boolean int8, int warpsPerRow, int maxTokens) {
        this.int8 = int8;
        this.warpsPerRow = warpsPerRow;
        this.maxTokens = maxTokens;
    }

    /** Whether it computes a projection of {@code tokens} tokens on weights of this format with {@code cols} inputs. */
    boolean serves(boolean int8Weights, int tokens, int cols) {
        if (int8Weights != int8 || tokens < 1 || tokens > maxTokens) {
            return false;
        }
        return warpsPerRow == 0 || cols % (int8 ? 16 : 8) == 0;
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
