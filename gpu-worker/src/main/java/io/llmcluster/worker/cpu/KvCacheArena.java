package io.llmcluster.worker.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * All keys and values of all sequences, off-heap: per layer one K and one V segment of
 * {@code numBlocks × blockSize × numKvHeads × headDim} FP32 values, or, for an INT8 cache ({@code --kv-cache-dtype
 * int8}, {@link PagedAttentionInt8}), as many signed bytes plus K and V scales {@code [slot][numKvHeads]} FP32.
 * Sequences own blocks through block tables; the token at position p lives in slot
 * {@code table[p / blockSize] * blockSize + p % blockSize}.
 */
public final class KvCacheArena {
    private final MemorySegment[] keys;
    private final MemorySegment[] values;
    private final MemorySegment[] keyScales;
    private final MemorySegment[] valueScales;
    private final int numBlocks;
    private final int blockSize;
    private final boolean int8;

    public KvCacheArena(int numLayers, int numBlocks, int blockSize, int kvDim, Arena arena) {
        this(numLayers, numBlocks, blockSize, 1, kvDim, false, arena);
    }

    public KvCacheArena(int numLayers, int numBlocks, int blockSize, int numKvHeads, int headDim, boolean int8,
            Arena arena) {
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        this.int8 = int8;
        this.keys = new MemorySegment[numLayers];
        this.values = new MemorySegment[numLayers];
        this.keyScales = new MemorySegment[int8 ? numLayers : 0];
        this.valueScales = new MemorySegment[int8 ? numLayers : 0];
        long slots = (long) numBlocks * blockSize;
        // INT8 rows widen with byte-vector loads that may read up to I8_OVERREAD bytes past the last row
        long bytes = int8 ? slots * numKvHeads * headDim + 64 : slots * numKvHeads * headDim * Float.BYTES;
        for (int l = 0; l < numLayers; l++) {
            keys[l] = arena.allocate(bytes, 64);
            values[l] = arena.allocate(bytes, 64);
            if (int8) {
                keyScales[l] = arena.allocate(slots * numKvHeads * Float.BYTES, 64);
                valueScales[l] = arena.allocate(slots * numKvHeads * Float.BYTES, 64);
            }
        }
    }

    /** Bytes one FP32 block takes across all layers, keys and values. */
    public static long bytesPerBlock(int numLayers, int blockSize, int kvDim) {
        return 2L * numLayers * blockSize * kvDim * Float.BYTES;
    }

    /** Bytes one block takes across all layers, keys and values, FP32 or INT8 (bytes plus an FP32 scale per kv head). */
    public static long bytesPerBlock(int numLayers, int blockSize, int numKvHeads, int headDim, boolean int8) {
        return int8 ? 2L * numLayers * blockSize * numKvHeads * (headDim + Float.BYTES)
                : bytesPerBlock(numLayers, blockSize, numKvHeads * headDim);
    }

    public boolean int8() {
        return int8;
    }

    public MemorySegment keys(int layer) {
        return keys[layer];
    }

    public MemorySegment values(int layer) {
        return values[layer];
    }

    /** INT8 cache only: the K scales of a layer, [slot][numKvHeads]. */
    public MemorySegment keyScales(int layer) {
        return keyScales[layer];
    }

    /** INT8 cache only: the V scales of a layer, [slot][numKvHeads]. */
    public MemorySegment valueScales(int layer) {
        return valueScales[layer];
    }

    public int numBlocks() {
        return numBlocks;
    }

    public int blockSize() {
        return blockSize;
    }

    public int slot(int[] blockTable, int position) {
        return blockTable[position / blockSize] * blockSize + position % blockSize;
    }
}
