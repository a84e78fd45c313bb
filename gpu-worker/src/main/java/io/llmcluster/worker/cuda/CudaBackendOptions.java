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
 *     until the autotuner of issue #6 chooses per shape)
 */
public record CudaBackendOptions(CudaDtype dtype, int device, int maxBatchTokens, int maxSequences, int kvBlockSize,
                                 long kvCacheBytes, double kvMemoryFraction, int decodeChunkTokens,
                                 boolean cudaGraphs, boolean decodeGemv, GemmChoice gemm) {
    public CudaBackendOptions {
        java.util.Objects.requireNonNull(gemm, "gemm");
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
        return new CudaBackendOptions(CudaDtype.F16, 0, 512, 64, 16, 0, 0.9, 128, true, true, GemmChoice.AUTO);
    }

    public CudaBackendOptions withDtype(CudaDtype d) {
        return new CudaBackendOptions(d, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm);
    }

    public CudaBackendOptions withKvCacheBytes(long bytes) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, bytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm);
    }

    public CudaBackendOptions withKvMemoryFraction(double f) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, 0, f, decodeChunkTokens, cudaGraphs, decodeGemv, gemm);
    }

    public CudaBackendOptions withMaxBatchTokens(int n) {
        return new CudaBackendOptions(dtype, device, n, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm);
    }

    public CudaBackendOptions withMaxSequences(int n) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, n, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, gemm);
    }

    public CudaBackendOptions withDecodeChunkTokens(int n) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, n, cudaGraphs, decodeGemv, gemm);
    }

    public CudaBackendOptions withCudaGraphs(boolean on) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, on, decodeGemv, gemm);
    }

    public CudaBackendOptions withDecodeGemv(boolean on) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, on, gemm);
    }

    public CudaBackendOptions withGemm(GemmChoice g) {
        return new CudaBackendOptions(dtype, device, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, decodeChunkTokens, cudaGraphs, decodeGemv, g);
    }
}
