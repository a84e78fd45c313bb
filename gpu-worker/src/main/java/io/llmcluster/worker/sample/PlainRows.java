package io.llmcluster.worker.sample;

import io.llmcluster.batcher.SamplingParams;
import java.lang.foreign.MemorySegment;
import java.util.random.RandomGenerator;

/**
 * The logits rows of one engine step when every one of them is <em>plain</em> ({@link #isPlain}): its token depends
 * only on the row and on temperature, top-k, top-p and min-p. Such a step may pick its tokens where the logits are
 * ({@link io.llmcluster.worker.backend.ModelBackend#forwardPlain}: on a GPU only the ids cross to the host);
 * {@link #sampleOnHost} is the same choice made by the host {@link Sampler}. Reused from step to step; the engine
 * thread's only.
 */
public final class PlainRows {
    private final Sampler sampler;
    private final SamplingParams[] params;
    private final TokenHistory[] histories;
    private final RandomGenerator[] rngs;
    private final long[] seeds;
    private final long[] drawIndices;
    private int size;
    private boolean allGreedy;

    /** Room for {@code capacity} rows; {@code sampler} serves {@link #sampleOnHost}. */
    public PlainRows(int capacity, Sampler sampler) {
        this.sampler = sampler;
        this.params = new SamplingParams[capacity];
        this.histories = new TokenHistory[capacity];
        this.rngs = new RandomGenerator[capacity];
        this.seeds = new long[capacity];
        this.drawIndices = new long[capacity];
        clear();
    }

    /**
     * Whether a row of a request with these settings and {@code numOutputTokens} tokens so far is plain: no
     * repetition/presence/frequency penalty (they read the request's history), no logprobs (they read the whole
     * raw row), no EOS/stop-token suppression pending ({@code min_tokens} not yet reached), and greedy or without a
     * seed. A seeded random request always samples on the host with its seeded generator, so its output does not
     * depend on which other requests share its steps (the device draws from another generator).
     */
    public static boolean isPlain(SamplingParams p, int numOutputTokens) {
        return !p.hasPenalties() && p.logprobs() < 0 && numOutputTokens >= p.minTokens()
                && (p.isGreedy() || p.seed().isEmpty());
    }

    public void clear() {
        size = 0;
        allGreedy = true;
    }

    /**
     * Appends a row (rows in the order of the step's logits rows).
     *
     * @param history   the request's tokens (read by the host sampler's checks only)
     * @param rng       the request's generator, for a host draw
     * @param seed      the request's seed for a device draw (fixed for the request's life)
     * @param drawIndex the request's draw counter for a device draw: its output tokens so far
     */
    public void add(SamplingParams p, TokenHistory history, RandomGenerator rng, long seed, long drawIndex) {
        if (size == params.length) {
            throw new IllegalStateException("more than " + params.length + " plain rows in one step");
        }
        params[size] = p;
        histories[size] = history;
        rngs[size] = rng;
        seeds[size] = seed;
        drawIndices[size] = drawIndex;
        allGreedy &= p.isGreedy();
        size++;
    }

    public int size() {
        return size;
    }

    /** True when every row takes the argmax (or there is none). */
    public boolean allGreedy() {
        return allGreedy;
    }

    public SamplingParams params(int row) {
        return params[row];
    }

    public long seed(int row) {
        return seeds[row];
    }

    public long drawIndex(int row) {
        return drawIndices[row];
    }

    /**
     * Picks each row's token from FP32 logits on the host, row r at {@code r * vocabSize} floats of {@code logits},
     * exactly as the engine's host path does; {@code out[r]} gets row r's token.
     */
    public void sampleOnHost(MemorySegment logits, int vocabSize, int[] out) {
        for (int r = 0; r < size; r++) {
            out[r] = sampler.sample(logits, (long) r * vocabSize, params[r], histories[r], rngs[r]);
        }
    }
}
