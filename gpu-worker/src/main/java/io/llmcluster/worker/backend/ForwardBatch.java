package io.llmcluster.worker.backend;

import io.llmcluster.kv.TokenSequence;

/**
 * The input of one model step, reused from step to step: the tokens of every scheduled sequence laid end
 * to end (a prefill chunk and single decode tokens alike), each with its position and its sequence's block
 * table, plus which tokens need logits. Arrays are sized once for the step's capacity.
 */
public final class ForwardBatch {
    private final int maxTokens;
    private final int[] tokenIds;
    private final int[] positions;
    private final int[] sequenceOfToken;
    private final int[][] blockTables;
    private final int[] logitTokens;
    private int numTokens;
    private int numSequences;
    private int numLogits;

    public ForwardBatch(int maxTokens, int maxSequences) {
        this.maxTokens = maxTokens;
        this.tokenIds = new int[maxTokens];
        this.positions = new int[maxTokens];
        this.sequenceOfToken = new int[maxTokens];
        this.blockTables = new int[maxSequences][];
        this.logitTokens = new int[maxTokens];
    }

    public void clear() {
        numTokens = 0;
        numSequences = 0;
        numLogits = 0;
    }

    /**
     * Adds {@code count} tokens of one sequence, {@code tokens[from..from+count)}, at positions
     * {@code startPosition...}. Keys and values go to the slots of {@code blockTable}; attention covers every
     * earlier position of the sequence.
     *
     * @param logits NONE, LAST (the last added token, to sample from) or ALL (every added token)
     */
    public void addSequence(int[] tokens, int from, int count, int startPosition, int[] blockTable, Logits logits) {
        checkRoom(count);
        System.arraycopy(tokens, from, tokenIds, numTokens, count);
        addPositions(count, startPosition, blockTable, logits);
    }

    private void checkRoom(int count) {
        if (count <= 0 || numTokens + count > maxTokens || numSequences == blockTables.length) {
            throw new IllegalArgumentException("batch over capacity: " + (numTokens + count) + " tokens (max "
                    + maxTokens + "), " + (numSequences + 1) + " sequences (max " + blockTables.length + ")");
        }
    }

    private void addPositions(int count, int startPosition, int[] blockTable, Logits logits) {
        int seq = numSequences++;
        blockTables[seq] = blockTable;
        for (int i = 0; i < count; i++) {
            int t = numTokens++;
            positions[t] = startPosition + i;
            sequenceOfToken[t] = seq;
            if (logits == Logits.ALL || (logits == Logits.LAST && i == count - 1)) {
                logitTokens[numLogits++] = t;
            }
        }
    }

    /** As {@link #addSequence(int[], int, int, int, int[], Logits)}, reading the tokens from a sequence. */
    public void addSequence(TokenSequence tokens, int from, int count, int startPosition, int[] blockTable, Logits logits) {
        checkRoom(count);
        int first = numTokens;
        addPositions(count, startPosition, blockTable, logits);
        for (int i = 0; i < count; i++) {
            tokenIds[first + i] = tokens.tokenAt(from + i);
        }
    }

    /** Which of a sequence's added tokens produce a row of logits. */
    public enum Logits { NONE, LAST, ALL }

    public int numTokens() {
        return numTokens;
    }

    public int numSequences() {
        return numSequences;
    }

    public int numLogits() {
        return numLogits;
    }

    public int maxTokens() {
        return maxTokens;
    }

    public int tokenId(int t) {
        return tokenIds[t];
    }

    public int position(int t) {
        return positions[t];
    }

    public int[] blockTableOfToken(int t) {
        return blockTables[sequenceOfToken[t]];
    }

    /** The index, in order of addition, of the sequence that token {@code t} belongs to. */
    public int sequenceOfToken(int t) {
        return sequenceOfToken[t];
    }

    /** The block table of sequence {@code seq} (its tokens are contiguous in the batch). */
    public int[] blockTable(int seq) {
        return blockTables[seq];
    }

    /** The batch index of the token behind logits row {@code row}. */
    public int logitToken(int row) {
        return logitTokens[row];
    }
}
