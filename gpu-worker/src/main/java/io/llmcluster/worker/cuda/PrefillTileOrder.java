package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Puts a step's prefill tiles in order of the position of their last token, ascending (ties keep their order). The
 * tensor-core prefill kernels hand out their work from the last tile of the list to the first, so after this the
 * tiles that read the most keys start first over the whole step, not only within each sequence: in a batch of
 * prompts of mixed lengths a long prompt's longest tiles no longer wait behind the next prompt's short ones and
 * end up as the tail of the launch (the hardware block scheduler and the persistent kernels' item counter both
 * take the items in list order). Each tile's output rows are its own, so the order changes nothing else.
 * Allocation-free after construction (a step's packing is on the hot path).
 */
final class PrefillTileOrder {
    private final long[] keys;
    private final int[] copy;

    PrefillTileOrder(int maxTiles) {
        keys = new long[maxTiles];
        copy = new int[4 * maxTiles];
    }

    /**
     * Sorts the {@code numTiles} tiles (4 ints each: first token, token count, sequence, 0) at int index
     * {@code tiles} of {@code s}, keyed by the position (ints at {@code positions}, one per token) of each tile's
     * last token.
     */
    void sort(MemorySegment s, int tiles, int positions, int numTiles) {
        if (numTiles > keys.length) {
            throw new IllegalArgumentException(numTiles + " tiles exceed the " + keys.length + " this order was sized for");
        }
        boolean sorted = true;
        for (int i = 0; i < numTiles; i++) {
            int base = tiles + 4 * i;
            long last = s.getAtIndex(JAVA_INT, positions + s.getAtIndex(JAVA_INT, base) + s.getAtIndex(JAVA_INT, base + 1) - 1);
            keys[i] = last << 32 | i;
            sorted &= i == 0 || keys[i] > keys[i - 1];
            for (int k = 0; k < 4; k++) {
                copy[4 * i + k] = s.getAtIndex(JAVA_INT, base + k);
            }
        }
        if (sorted) {
            return; // one prompt, or prompts already in that order: nothing to move
        }
        Arrays.sort(keys, 0, numTiles);
        for (int i = 0; i < numTiles; i++) {
            int from = (int) keys[i];
            for (int k = 0; k < 4; k++) {
                s.setAtIndex(JAVA_INT, tiles + 4 * i + k, copy[4 * from + k]);
            }
        }
    }
}
