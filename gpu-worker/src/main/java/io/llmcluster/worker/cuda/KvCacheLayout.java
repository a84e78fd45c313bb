package io.llmcluster.worker.cuda;

import io.llmcluster.worker.backend.KvCacheDtype;

/**
 * Bytes of the CUDA backend's paged KV cache. Per layer, K and V apart, {@code [slot][numKvHeads][headDim]} elements
 * of the run dtype ({@code auto}) or int8 bytes; an INT8 cache also keeps, per layer, K and V scales
 * {@code [slot][numKvHeads]} FP32 (a side array with the same slot indexing, so a block's scales move with its id).
 * Slot = block * blockSize + offset. For head_dim 128 an INT8 block takes (128 + 4) / 256 of a 16-bit one: 1.94x the
 * blocks in the same memory.
 *
 * @param elementBytes bytes of one 16-bit (or 32-bit) element of the run dtype, used when {@code dtype} is auto
 */
public record KvCacheLayout(int numLayers, int numKvHeads, int headDim, int blockSize, int elementBytes,
                            KvCacheDtype dtype) {
    /** Bytes of one FP32 scale. */
    public static final int SCALE_BYTES = 4;

    public KvCacheLayout {
        if (numLayers < 1 || numKvHeads < 1 || headDim < 1 || blockSize < 1 || elementBytes < 1) {
            throw new IllegalArgumentException("KV layout sizes must be positive");
        }
    }

    public boolean int8() {
        return dtype == KvCacheDtype.INT8;
    }

    /** Bytes of one element of K or V in the cache. */
    public int cacheElementBytes() {
        return int8() ? 1 : elementBytes;
    }

    /** Bytes of K (or V) of {@code blocks} blocks in one layer. */
    public long layerBytes(long blocks) {
        return blocks * blockSize * numKvHeads * headDim * cacheElementBytes();
    }

    /** Bytes of K (or V) scales of {@code blocks} blocks in one layer (0 without INT8). */
    public long layerScaleBytes(long blocks) {
        return int8() ? blocks * blockSize * numKvHeads * SCALE_BYTES : 0;
    }

    /** Device bytes one block takes over all layers, K and V, scales included. */
    public long bytesPerBlock() {
        return 2L * numLayers * (layerBytes(1) + layerScaleBytes(1));
    }

    /** Blocks that {@code bytes} hold (at most 2^24, the pool's id range), 0 if not one. */
    public int blocksFor(long bytes) {
        return (int) Math.min(1 << 24, Math.max(0, bytes) / bytesPerBlock());
    }

    /** The same cache with the run dtype's elements (what auto would take): for the log's comparison. */
    public KvCacheLayout unquantized() {
        return new KvCacheLayout(numLayers, numKvHeads, headDim, blockSize, elementBytes, KvCacheDtype.AUTO);
    }
}
