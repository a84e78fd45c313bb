package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.llmcluster.worker.backend.ForwardBatch;
import java.lang.foreign.MemorySegment;

/**
 * The per-step integer inputs of a forward pass, packed in one pinned host buffer and sent to fixed device
 * addresses with one copy: token ids, positions, each token's sequence, the rows that need logits, the prefill
 * tiles, the decode list and the block tables (last, with this step's stride, so the copy stops at the rows
 * used). Fixed addresses are what a captured CUDA graph needs; only the block-table stride varies per step.
 *
 * <p>Region offsets, in ints: ids [maxTokens], positions [maxTokens], seqOfToken [maxTokens], logitRows
 * [maxTokens], tiles [maxTokens][4], decodes [maxSequences][2], blockTables [maxSequences][stride].
 */
final class StepInputs {
    final int maxTokens;
    final int maxSequences;
    final int ids;
    final int positions;
    final int seqOfToken;
    final int logitRows;
    final int tiles;
    final int decodes;
    final int blockTables;
    private final int maxTableEntries;
    private final MemorySegment host;
    private final int numKvBlocks;
    private final int blockSize;
    private final int maxContext;
    private final int vocab;
    private final int tokensPerTile;
    private final boolean decodeKernel;
    int numTokens;
    int numLogits;
    int numTiles;
    int numDecodes;
    int tableStride;
    int maxDecodeContext;
    int usedInts;

    StepInputs(int maxTokens, int maxSequences, int maxContext, int blockSize, int numKvBlocks, int vocab,
            int tokensPerTile, boolean decodeKernel, MemorySegment host) {
        this.maxTokens = maxTokens;
        this.maxSequences = maxSequences;
        this.maxContext = maxContext;
        this.blockSize = blockSize;
        this.numKvBlocks = numKvBlocks;
        this.vocab = vocab;
        this.tokensPerTile = tokensPerTile;
        this.decodeKernel = decodeKernel;
        this.host = host;
        ids = 0;
        positions = maxTokens;
        seqOfToken = 2 * maxTokens;
        logitRows = 3 * maxTokens;
        tiles = 4 * maxTokens;
        decodes = 8 * maxTokens;
        blockTables = 8 * maxTokens + 2 * maxSequences;
        maxTableEntries = maxSequences * ((maxContext + blockSize - 1) / blockSize);
    }

    /** Ints the host and device buffers hold. */
    static long capacityInts(int maxTokens, int maxSequences, int maxContext, int blockSize) {
        return 8L * maxTokens + 2L * maxSequences + (long) maxSequences * ((maxContext + blockSize - 1) / blockSize);
    }

    /** Packs {@code b}; checks ids, positions and block-table entries, so a bad batch fails here, not in a kernel. */
    void pack(ForwardBatch b) {
        int n = b.numTokens();
        if (n > maxTokens || b.numSequences() > maxSequences) {
            throw new IllegalArgumentException("batch of " + n + " tokens / " + b.numSequences()
                    + " sequences exceeds the backend's " + maxTokens + " / " + maxSequences);
        }
        numTokens = n;
        numTiles = 0;
        numDecodes = 0;
        tableStride = 1;
        maxDecodeContext = 0;
        for (int t = 0; t < n; t++) {
            setToken(t, b.tokenId(t), b.position(t));
            set(seqOfToken + t, b.sequenceOfToken(t));
        }
        numLogits = b.numLogits();
        for (int r = 0; r < numLogits; r++) {
            set(logitRows + r, b.logitToken(r));
        }
        for (int t = 0; t < n; ) { // the stride: the most blocks any sequence of the step needs
            int end = sequenceEnd(b, t);
            tableStride = Math.max(tableStride, b.position(end - 1) / blockSize + 1);
            t = end;
        }
        for (int t = 0; t < n; ) {
            int end = sequenceEnd(b, t);
            packSequence(b, t, end);
            t = end;
        }
        usedInts = blockTables + b.numSequences() * tableStride;
        if (b.numSequences() * tableStride > maxTableEntries) {
            throw new IllegalStateException("block tables overflow their region"); // positions are checked above
        }
    }

    /**
     * Packs a decode-only step (one token per sequence, each with LAST logits) for a captured graph of
     * {@code bucket} rows: the real rows first, then padding rows (token 0 at position 0 of a sequence whose
     * block table points at {@code padBlock}, a block outside the pool) so that every launch of the graph sees
     * {@code bucket} tokens, decodes and logits rows; block tables with the fixed {@code stride}. Returns whether
     * {@code b} is such a step (when not, nothing is packed).
     */
    boolean packDecodes(ForwardBatch b, int bucket, int stride, int padBlock) {
        int n = b.numTokens();
        if (n != b.numSequences() || b.numLogits() != n || bucket < n || bucket > maxTokens || bucket > maxSequences
                || (long) bucket * stride > maxTableEntries || !decodeKernel) {
            return false;
        }
        for (int t = 0; t < n; t++) {
            if (b.sequenceOfToken(t) != t || b.logitToken(t) != t || b.position(t) / blockSize >= stride) {
                return false;
            }
        }
        numTokens = bucket;
        numLogits = bucket;
        numTiles = 0;
        numDecodes = 0;
        tableStride = stride;
        maxDecodeContext = 0;
        for (int t = 0; t < bucket; t++) {
            set(logitRows + t, t);
            set(seqOfToken + t, t);
            if (t >= n) {
                set(ids + t, 0);
                set(positions + t, 0);
                set(blockTables + t * stride, padBlock);
                set(decodes + 2 * numDecodes, t);
                set(decodes + 2 * numDecodes + 1, t);
                numDecodes++;
                continue;
            }
            setToken(t, b.tokenId(t), b.position(t));
            packSequence(b, t, t + 1);
        }
        usedInts = blockTables + bucket * stride;
        return true;
    }

    /** Row {@code t}'s token id and position, each checked against the vocabulary and the context first. */
    private void setToken(int t, int id, int pos) {
        if (id < 0 || id >= vocab) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
        }
        if (pos < 0 || pos >= maxContext) {
            throw new IllegalArgumentException("position " + pos + " is beyond the context of " + maxContext + " tokens");
        }
        set(ids + t, id);
        set(positions + t, pos);
    }

    private static int sequenceEnd(ForwardBatch b, int first) {
        int seq = b.sequenceOfToken(first);
        int t = first + 1;
        while (t < b.numTokens() && b.sequenceOfToken(t) == seq) {
            t++;
        }
        return t;
    }

    private void packSequence(ForwardBatch b, int first, int end) {
        int seq = b.sequenceOfToken(first);
        int[] table = b.blockTable(seq);
        int needed = b.position(end - 1) / blockSize + 1;
        if (table.length < needed) {
            throw new IllegalArgumentException("sequence " + seq + " reaches position " + b.position(end - 1)
                    + " but its block table has " + table.length + " entries of " + blockSize + " tokens");
        }
        for (int i = 0; i < needed; i++) {
            if (table[i] < 0 || table[i] >= numKvBlocks) {
                throw new IllegalArgumentException("block table entry " + i + " of sequence " + seq + " is " + table[i]
                        + ", outside the pool [0, " + numKvBlocks + ")");
            }
            set(blockTables + seq * tableStride + i, table[i]);
        }
        int count = end - first;
        if (count == 1 && decodeKernel) {
            set(decodes + 2 * numDecodes, first);
            set(decodes + 2 * numDecodes + 1, seq);
            numDecodes++;
            maxDecodeContext = Math.max(maxDecodeContext, b.position(first) + 1);
            return;
        }
        for (int i = 0; i < count; i += tokensPerTile) {
            int base = tiles + 4 * numTiles++;
            set(base, first + i);
            set(base + 1, Math.min(tokensPerTile, count - i));
            set(base + 2, seq);
            set(base + 3, 0);
        }
    }

    private void set(int index, int value) {
        host.setAtIndex(JAVA_INT, index, value);
    }
}
