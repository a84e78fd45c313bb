package io.llmcluster.worker.sample;

import java.util.Arrays;

/**
 * One sequence's token counts for the penalties: which tokens the prompt holds and how often each appears in
 * the output. Sparse: the distinct tokens sit in dense arrays (in first-seen order) behind an open-addressing
 * index, so a penalty pass costs O(distinct tokens), not O(vocab). Kept for the life of the sequence (a
 * preemption by recompute keeps it) and updated with {@link #appendOutput(int)} once per generated token;
 * updates allocate only when the distinct count outgrows the capacity (doubling). Single-threaded.
 */
public final class TokenHistory {
    private static final int MIN_CAPACITY = 16;

    /** Slot -> dense index + 1; 0 is empty. Length a power of two, at most half full. */
    private int[] slots;
    /** Dense index -> token id. */
    private int[] tokens;
    /** Dense index -> occurrences in the output. */
    private int[] outputCounts;
    /** Dense index -> whether the prompt holds the token. */
    private boolean[] inPrompt;
    private int distinct;
    private int numPromptTokens;
    private int numOutputTokens;

    /** An empty history sized for about 64 distinct tokens. */
    public TokenHistory() {
        this(64);
    }

    /** An empty history sized for {@code expectedDistinct} distinct tokens before it grows. */
    public TokenHistory(int expectedDistinct) {
        int capacity = Math.max(MIN_CAPACITY, Integer.highestOneBit(Math.max(1, expectedDistinct - 1)) << 1);
        slots = new int[capacity * 2];
        tokens = new int[capacity];
        outputCounts = new int[capacity];
        inPrompt = new boolean[capacity];
    }

    /** A history holding {@code promptTokens} as the prompt. */
    public static TokenHistory ofPrompt(int... promptTokens) {
        TokenHistory h = new TokenHistory(promptTokens.length);
        h.addPrompt(promptTokens, 0, promptTokens.length);
        return h;
    }

    /** Records {@code tokens[from, to)} as prompt tokens. */
    public void addPrompt(int[] promptTokens, int from, int to) {
        for (int i = from; i < to; i++) {
            addPrompt(promptTokens[i]);
        }
    }

    /** Records one prompt token. */
    public void addPrompt(int token) {
        int i = indexFor(token); // before reading the field: indexFor may grow the arrays
        inPrompt[i] = true;
        numPromptTokens++;
    }

    /** Records one generated token. */
    public void appendOutput(int token) {
        int i = indexFor(token);
        outputCounts[i]++;
        numOutputTokens++;
    }

    /** Forgets everything, keeping the capacity, so the object can serve another sequence. */
    public void clear() {
        Arrays.fill(slots, 0);
        Arrays.fill(outputCounts, 0, distinct, 0);
        Arrays.fill(inPrompt, 0, distinct, false);
        distinct = 0;
        numPromptTokens = 0;
        numOutputTokens = 0;
    }

    public int numPromptTokens() {
        return numPromptTokens;
    }

    public int numOutputTokens() {
        return numOutputTokens;
    }

    /** Number of distinct tokens in prompt and output; entries {@code [0, distinctCount())} are valid. */
    public int distinctCount() {
        return distinct;
    }

    /** The token id of distinct entry {@code i}. */
    public int distinctToken(int i) {
        return tokens[i];
    }

    /** How often distinct entry {@code i} appears in the output. */
    public int outputCountAt(int i) {
        return outputCounts[i];
    }

    /** Whether the prompt holds distinct entry {@code i}. */
    public boolean inPromptAt(int i) {
        return inPrompt[i];
    }

    /** How often {@code token} appears in the output. */
    public int outputCount(int token) {
        int i = find(token);
        return i < 0 ? 0 : outputCounts[i];
    }

    /** Whether the prompt holds {@code token}. */
    public boolean inPrompt(int token) {
        int i = find(token);
        return i >= 0 && inPrompt[i];
    }

    private int find(int token) {
        int mask = slots.length - 1;
        for (int s = hash(token) & mask; slots[s] != 0; s = (s + 1) & mask) {
            if (tokens[slots[s] - 1] == token) {
                return slots[s] - 1;
            }
        }
        return -1;
    }

    private int indexFor(int token) {
        if (token < 0) {
            throw new IllegalArgumentException("token id must be >= 0, got " + token);
        }
        int mask = slots.length - 1;
        int s = hash(token) & mask;
        for (; slots[s] != 0; s = (s + 1) & mask) {
            if (tokens[slots[s] - 1] == token) {
                return slots[s] - 1;
            }
        }
        if (distinct == tokens.length) {
            grow();
            return indexFor(token);
        }
        tokens[distinct] = token;
        slots[s] = ++distinct;
        return distinct - 1;
    }

    private void grow() {
        int capacity = tokens.length * 2;
        tokens = Arrays.copyOf(tokens, capacity);
        outputCounts = Arrays.copyOf(outputCounts, capacity);
        inPrompt = Arrays.copyOf(inPrompt, capacity);
        slots = new int[capacity * 2];
        int mask = slots.length - 1;
        for (int i = 0; i < distinct; i++) {
            int s = hash(tokens[i]) & mask;
            while (slots[s] != 0) {
                s = (s + 1) & mask;
            }
            slots[s] = i + 1;
        }
    }

    private static int hash(int token) {
        int h = token * 0x9E3779B9;
        return h ^ (h >>> 16);
    }
}
