package io.llmcluster.worker.cuda;

import java.util.Locale;

/**
 * Which GEMM serves the projections: {@code auto} lets the autotuner ({@link Autotuner}) choose per shape for 1..64
 * tokens and uses cuBLAS above; {@code cublas} and {@code mma} (the project's tensor-core kernel) fix the GEMM
 * (1-2 token steps still go to the GEMV kernel when {@code decodeGemv} is on) and turn the autotuner off.
 */
public enum GemmChoice {
    AUTO, CUBLAS, MMA;

    public static GemmChoice parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--gemm " + s + " is not one of auto, cublas, mma");
        }
    }
}
