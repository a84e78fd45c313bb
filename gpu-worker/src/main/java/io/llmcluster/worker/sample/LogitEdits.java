package io.llmcluster.worker.sample;

/**
 * Undo log of the sparse changes made to a row of logits (penalties, stop-token suppression), so the row can be
 * put back to the model's raw values in O(changes) for the raw logprobs. Each token is logged once, with its
 * value before the first change. Sized to the vocabulary once; never allocates afterwards.
 */
final class LogitEdits {
    private final int[] tokens;
    private final float[] originals;
    private final boolean[] touched;
    private int count;

    LogitEdits(int vocabSize) {
        tokens = new int[vocabSize];
        originals = new float[vocabSize];
        touched = new boolean[vocabSize];
    }

    /** Sets {@code logits[token] = value}, remembering the first original value of {@code token}. */
    void set(float[] logits, int token, float value) {
        if (!touched[token]) {
            touched[token] = true;
            tokens[count] = token;
            originals[count++] = logits[token];
        }
        logits[token] = value;
    }

    /** Number of distinct tokens changed since the last {@link #restore(float[])}. */
    int count() {
        return count;
    }

    /** Puts every changed logit back to its original value and empties the log. */
    void restore(float[] logits) {
        for (int i = 0; i < count; i++) {
            logits[tokens[i]] = originals[i];
            touched[tokens[i]] = false;
        }
        count = 0;
    }
}
