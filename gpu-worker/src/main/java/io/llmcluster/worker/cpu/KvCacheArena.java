package io.llmcluster.worker.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * All keys and values of all sequences, off-heap: per layer one K and one V segment of
 * {@code numBlocks × blockSize × numKvHeads × headDim} floats. Sequences own blocks through block tables;
 * the token at position p lives in slot {@code table[p / blockSize] * blockSize + p % blockSize}.
 */
public final class KvCacheArena {
    private final MemorySegment[] keys;
    private final MemorySegment[] values;
    private final int numBlocks;
    private final int blockSize;

    public KvCacheArena(int numLayers, int numBlocks, int blockSize, int kvDim, Arena arena) {
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        this.keys = new MemorySegment[numLayers];
        this.values = new MemorySegment[numLayers];
        long bytes = (long) numBlocks * blockSize * kvDim * Float.BYTES;
        for (int l = 0; l < numLayers; l++) {
            keys[l] = arena.allocate(bytes, 64);
            values[l] = arena.allocate(bytes, 64);
        }
    }

    /** Bytes one block takes across all layers, keys and values. */
    public static long bytesPerBlock(int numLayers, int blockSize, int kvDim) {
        return 2L * numLayers * blockSize * kvDim * Float.BYTES;
    }

    public MemorySegment keys(int layer) {
        return keys[layer];
    }

    public MemorySegment values(int layer) {
        return values[layer];
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
