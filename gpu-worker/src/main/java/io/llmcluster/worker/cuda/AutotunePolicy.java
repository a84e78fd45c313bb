package io.llmcluster.worker.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The autotuner's decisions, in plain Java: which token buckets are tuned, which kernels compete in each, the
 * kernel used where nothing was tuned, how a measurement becomes a choice, and how choices are keyed on disk.
 * Token counts are grouped in buckets 1, 2, 4, ..., 512 (a count takes the smallest bucket that holds it; decode
 * steps under CUDA graphs are padded to exactly these sizes); larger counts (prefill) are not tuned. A cuBLASLt
 * algorithm is chosen for one problem size, so its choice holds only for exactly the bucket's token count
 * ({@link #tunedApplies}); other counts in the bucket (eager mixed steps) take the fallback.
 */
final class AutotunePolicy {
    static final int[] BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

    private AutotunePolicy() {}

    /** Index into {@link #BUCKETS} of the smallest bucket holding {@code tokens}; -1 above the largest (or < 1). */
    static int bucketIndex(int tokens) {
        for (int i = 0; i < BUCKETS.length; i++) {
            if (tokens <= BUCKETS[i]) {
                return tokens < 1 ? -1 : i;
            }
        }
        return -1;
    }

    /**
     * Whether a tuned {@code kernel} (which serves the shape and count) runs a projection of {@code tokens} tokens tuned
     * in bucket {@code bucket}: always, except cuBLASLt algorithms, which the heuristic picked for exactly that size.
     */
    static boolean tunedApplies(ProjectionKernel kernel, int tokens, int bucket) {
        return !kernel.lt() || tokens == bucket;
    }

    /** The kernels that compete for a bucket: those serving every token count in it, in enum order. */
    static List<ProjectionKernel> candidates(boolean int8, int group, int bucket, int cols) {
        List<ProjectionKernel> out = new ArrayList<>();
        for (ProjectionKernel k : ProjectionKernel.values()) {
            if (k.serves(int8, group, bucket, cols)) {
                out.add(k);
            }
        }
        return out;
    }

    /**
     * The kernel used without a tuned choice (autotuner off, an explicit --gemm, or more than 64 tokens): run-dtype
     * weights take the GEMV kernel (1 warp per row) up to {@link DecodeGemm#DEFAULT_MAX_TOKENS} tokens when the
     * decode GEMV is on, else the configured large GEMM; INT8 weights take the INT8 skinny GEMM (1 warp per tile)
     * up to 64 tokens where it serves the shape, else the INT8 GEMV up to 8 tokens, else dequantization + cuBLAS.
     */
    static ProjectionKernel fallback(boolean int8, int group, int tokens, int cols, boolean decodeGemv, GemmChoice gemm) {
        if (int8) {
            for (ProjectionKernel k : new ProjectionKernel[] {ProjectionKernel.W8_SKINNY_R1, ProjectionKernel.W8_GEMV_R1}) {
                if (k.serves(true, group, tokens, cols)) {
                    return k;
                }
            }
            return ProjectionKernel.W8_DEQUANT_CUBLAS;
        }
        if (decodeGemv && tokens <= DecodeGemm.DEFAULT_MAX_TOKENS && ProjectionKernel.GEMV_R1.serves(false, 0, tokens, cols)) {
            return ProjectionKernel.GEMV_R1;
        }
        return gemm == GemmChoice.MMA ? ProjectionKernel.MMA : ProjectionKernel.CUBLAS;
    }

    /** A measured choice: the kernel and every candidate's time in microseconds. */
    record Choice(ProjectionKernel kernel, Map<ProjectionKernel, Double> micros) {
        /** "gemv-r2 21.30 us (cublas 28.10 = 1.32x slower, gemv-r1 24.00 = 1.13x slower)". */
        String reason() {
            double best = micros.get(kernel);
            StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "%s %.2f us", kernel.label(), best));
            List<String> others = new ArrayList<>();
            for (ProjectionKernel k : ProjectionKernel.values()) {
                Double t = micros.get(k);
                if (t != null && k != kernel) {
                    others.add(String.format(Locale.ROOT, "%s %.2f = %.2fx slower", k.label(), t, t / best));
                }
            }
            if (!others.isEmpty()) {
                s.append(" (").append(String.join(", ", others)).append(')');
            }
            return s.toString();
        }
    }

    /** The fastest candidate; equal times go to the earlier kernel in enum order. Not-a-number times never win. */
    static Choice choose(Map<ProjectionKernel, Double> micros) {
        ProjectionKernel best = null;
        for (ProjectionKernel k : ProjectionKernel.values()) {
            Double t = micros.get(k);
            if (t != null && !t.isNaN() && (best == null || t < micros.get(best))) {
                best = k;
            }
        }
        if (best == null) {
            throw new IllegalArgumentException("no candidate was measured: " + micros);
        }
        return new Choice(best, Map.copyOf(micros));
    }

    /** The cache key of one tuned decision: "f16 int8-g128 6144x4096 m4" (dtype, weights, rows x cols, bucket). */
    static String key(CudaDtype dtype, CudaQuantization q, int rows, int cols, int bucket) {
        return dtype.name().toLowerCase(Locale.ROOT) + " " + q.tag() + " " + rows + "x" + cols + " m" + bucket;
    }

    /** "autotune-nvidia-h200-580.159.04.json": one file per GPU model and driver version. */
    static String cacheFileName(String gpuName, String driverVersion) {
        return "autotune-" + slug(gpuName) + "-" + slug(driverVersion) + ".json";
    }

    private static String slug(String s) {
        String t = s.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9.]+", "-").replaceAll("^-+|-+$", "");
        return t.isEmpty() ? "unknown" : t;
    }
}
