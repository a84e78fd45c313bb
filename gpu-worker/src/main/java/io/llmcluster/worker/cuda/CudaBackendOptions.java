package io.llmcluster.worker.cuda;

/**
 * Sizing of a {@link CudaBackend}.
 *
 * @param dtype activations and weights on the device (checkpoints are converted at load): F16 or BF16
 * @param device CUDA device ordinal
 * @param maxBatchTokens tokens one step may hold (prefill chunks are cut to fit)
 * @param maxSequences sequences one step may hold
 * @param kvBlockSize tokens per KV block
 * @param kvCacheBytes device bytes for the KV block pool; 0 sizes it from {@code kvMemoryFraction}
 * @param kvMemoryFraction with {@code kvCacheBytes == 0}: the fraction of the device memory still free once the
 *     context, kernels, cuBLAS and the fixed part of the arena (weights, activations, scratch) are in place that
 *     the KV pool takes (capped at what maxSequences full contexts need)
 * @param decodeChunkTokens positions per split of the split-K decode attention (more splits for longer contexts)
 * @param cudaGraphs capture decode-only steps as CUDA graphs, one per (batch-size bucket, split class), and
 *     replay them: one launch per step instead of ~10 per layer
 * @param decodeGemv projections of 1..8 tokens through the project's GEMV kernel instead of cuBLAS
 * @param gemm the GEMM of the other projections: cuBLAS, the project's tensor-core kernel (mma), or auto (cuBLAS
 *     for large token counts; for 1..64 tokens the autotuner chooses per shape when {@code autotune} is on)
 * @param quantization projection weights in the run dtype, INT8 weight-only (per channel or per group), or W8A8
 *     SmoothQuant (INT8 weights and per-token INT8 activations, calibrated at load; docs/int8.md)
 * @param autotune time the projection kernels per (shape, token bucket) at start and keep the fastest
 *     (with {@code gemm == AUTO} and {@code decodeGemv}); RETUNE ignores the cached choices
 * @param autotuneDir folder of the choice cache; null = {@code ~/.cache/llmcluster}
 */
public record CudaBackendOptions(CudaDtype dtype, int device, int maxBatchTokens, int maxSequences, int kvBlockSize,
                                 long kvCacheBytes, double kvMemoryFraction, int decodeChunkTokens,
                                 boolean cudaGraphs, boolean decodeGemv, GemmChoice gemm,
                                 CudaQuantization quantization, Autotune autotune, java.nio.file.Path autotuneDir) {
    /** The autotuner (see {@link Autotuner}): off, on with the on-disk cache, or on with the cache ignored and rewritten. */
    public enum Autotune { OFF, ON, RETUNE }

    public CudaBackendOptions {
        java.util.Objects.requireNonNull(gemm, "gemm");
        java.util.Objects.requireNonNull(quantization, "quantization");
        java.util.Objects.requireNonNull(autotune, "autotune");
        if (!(kvMemoryFraction > 0 && kvMemoryFraction <= 1)) {
            throw new IllegalArgumentException("kvMemoryFraction must be in (0, 1], got " + kvMemoryFraction);
        }
        if (device < 0 || maxBatchTokens < 1 || maxSequences < 1 || kvBlockSize < 1 || kvCacheBytes < 0
                || decodeChunkTokens < 32) {
            throw new IllegalArgumentException("CUDA backend sizes must be positive (decodeChunkTokens >= 32): device="
                    + device + " maxBatchTokens=" + maxBatchTokens + " maxSequences=" + maxSequences + " kvBlockSize="
                    + kvBlockSize + " kvCacheBytes=" + kvCacheBytes + " decodeChunkTokens=" + decodeChunkTokens);
        }
    }

    public static CudaBackendOptions defaults() {
        return new CudaBackendOptions(CudaDtype.F16, 0, 512, 64, 16, 0, 0.9, 128, true, true, GemmChoice.AUTO,
                CudaQuantization.NONE, Autotune.ON, null);
    }

    public CudaBackendOptions withDtype(CudaDtype d) {
        return new CudaBackendOptions(d, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withKvCacheBytes(long bytes) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, bytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withKvMemoryFraction(double f) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, 0, f, decodeChunkTokens, cudaGraphs, decodeGemv, gemm, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withMaxBatchTokens(int n) {
        return new CudaBackendOptions(dtype, device, n, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withMaxSequences(int n) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, n, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withDecodeChunkTokens(int n) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, n, cudaGraphs, decodeGemv, gemm, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withCudaGraphs(boolean on) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, on, decodeGemv, gemm, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withDecodeGemv(boolean on) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, on, gemm, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withGemm(GemmChoice g) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, g, quantization, autotune, autotuneDir);
    }

    public CudaBackendOptions withQuantization(CudaQuantization q) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm, q, autotune, autotuneDir);
    }

    public CudaBackendOptions withAutotune(Autotune a) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm, quantization, a, autotuneDir);
    }

    public CudaBackendOptions withAutotuneDir(java.nio.file.Path dir) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm, quantization, autotune, dir);
    }
}
