package io.llmcluster.worker.cpu;

import io.llmcluster.worker.backend.KvCacheDtype;

/**
 * Sizing of a {@link CpuBackend}.
 *
 * @param threads worker threads for matmuls and attention, the engine thread included
 * @param maxBatchTokens tokens one step may hold (prefill chunks are cut to fit)
 * @param maxSequences sequences one step may hold
 * @param kvBlockSize tokens per KV block
 * @param kvCacheBytes off-heap bytes for the KV block pool; 0 sizes it from {@code kvMemoryFraction}
 * @param kvMemoryFraction with {@code kvCacheBytes == 0}: the fraction of the physical memory free after
 *     loading and a warm-up pass that the KV pool takes (capped at what maxSequences full contexts need)
 * @param quantizeInt8 quantize linear weights to INT8 (per-output-channel scales) at load
 * @param kvCacheDtype what the KV cache stores: FP32 (auto) or INT8 bytes with FP32 scales per token and kv head
 *     ({@link PagedAttentionInt8}); a CUDA backend opened with these options (BackendEngineFactory) applies it too
 */
public record CpuBackendOptions(int threads, int maxBatchTokens, int maxSequences, int kvBlockSize,
                                long kvCacheBytes, double kvMemoryFraction, boolean quantizeInt8,
                                KvCacheDtype kvCacheDtype) {
    public CpuBackendOptions {
        java.util.Objects.requireNonNull(kvCacheDtype, "kvCacheDtype");
        if (!(kvMemoryFraction > 0 && kvMemoryFraction <= 1)) {
            throw new IllegalArgumentException("kvMemoryFraction must be in (0, 1], got " + kvMemoryFraction);
        }
        if (threads < 1 || maxBatchTokens < 1 || maxSequences < 1 || kvBlockSize < 1 || kvCacheBytes < 0) {
            throw new IllegalArgumentException("CPU backend sizes must be positive: " + threadsSummary(threads,
                    maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes));
        }
    }

    private static String threadsSummary(int t, int b, int s, int bs, long kv) {
        return "threads=" + t + " maxBatchTokens=" + b + " maxSequences=" + s + " kvBlockSize=" + bs + " kvCacheBytes=" + kv;
    }

    public static CpuBackendOptions defaults() {
        return new CpuBackendOptions(Runtime.getRuntime().availableProcessors(), 512, 64, 16, 0, 0.5, false, KvCacheDtype.AUTO);
    }

    public CpuBackendOptions withQuantizeInt8(boolean int8) {
        return new CpuBackendOptions(threads, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, int8, kvCacheDtype);
    }

    public CpuBackendOptions withKvCacheBytes(long bytes) {
        return new CpuBackendOptions(threads, maxBatchTokens, maxSequences, kvBlockSize, bytes, kvMemoryFraction, quantizeInt8, kvCacheDtype);
    }

    public CpuBackendOptions withMaxBatchTokens(int tokens) {
        return new CpuBackendOptions(threads, tokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, quantizeInt8, kvCacheDtype);
    }

    public CpuBackendOptions withMaxSequences(int n) {
        return new CpuBackendOptions(threads, maxBatchTokens, n, kvBlockSize, kvCacheBytes, kvMemoryFraction, quantizeInt8, kvCacheDtype);
    }

    public CpuBackendOptions withKvMemoryFraction(double f) {
        return new CpuBackendOptions(threads, maxBatchTokens, maxSequences, kvBlockSize, 0, f, quantizeInt8, kvCacheDtype);
    }

    public CpuBackendOptions withThreads(int n) {
        return new CpuBackendOptions(n, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, quantizeInt8, kvCacheDtype);
    }

    public CpuBackendOptions withKvCacheDtype(KvCacheDtype d) {
        return new CpuBackendOptions(threads, maxBatchTokens, maxSequences, kvBlockSize, kvCacheBytes, kvMemoryFraction, quantizeInt8, d);
    }
}
