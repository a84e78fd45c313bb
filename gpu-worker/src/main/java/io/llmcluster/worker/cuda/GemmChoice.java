package io.llmcluster.worker.cuda;

import java.util.Locale;

/**
 * Which GEMM serves the projections (prefill and batched decode; 1-2 token decode steps still go to the GEMV kernel
 * when {@code decodeGemv} is on): {@code auto} is cuBLAS until the per-shape autotuner (issue #6) chooses.
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
