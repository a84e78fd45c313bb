package io.llmcluster.worker.sample;

import io.llmcluster.batcher.SamplingParams;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * Picks the next token from one row of FP32 logits, as vLLM's sampler does: penalties (repetition on prompt and
 * output, presence and frequency on output), suppression of EOS and stop tokens until {@code minTokens}, then
 * greedy argmax (ties to the lowest id) when the temperature is ~0, else temperature, top-k, top-p, min-p
 * (relative to the largest probability), renormalization and one draw from the request's generator.
 *
 * <p>One instance per engine thread; not thread-safe. All scratch is sized to the vocabulary at construction, so
 * {@link #sample}, {@link #logprob} and {@link #topLogprobs} allocate nothing. The caller's logits are copied,
 * never written. Cost per token for a vocabulary V: one copy and one max pass always; then
 * <ul>
 *   <li>top-k with k &lt;= {@value #HEAP_TOP_K_MAX}: a heap selection over the logits (about V comparisons, no
 *       exp) and work on the k candidates only;</li>
 *   <li>top-p (or a larger k): one exp pass that also fills a 1024-bucket histogram of the probabilities (by
 *       their float bits), which locates the bucket where the kept mass (or count) is reached; only tokens at or
 *       above that bucket are sorted, usually a few dozen;</li>
 *   <li>min-p alone: exp only for tokens whose scaled logit can reach the threshold;</li>
 *   <li>no filter: one exp pass and a linear draw.</li>
 * </ul>
 *
 * <p>Logprobs are those of the model's raw distribution (log_softmax before penalties and temperature, vLLM's
 * default), computed lazily once per row in double precision and shared by {@link #logprob} and
 * {@link #topLogprobs}; NaN logits count as -inf.
 */
public final class Sampler {
    /** Largest top-k served by the heap path; larger k go through the histogram path. */
    static final int HEAP_TOP_K_MAX = 1024;
    /** Bucket of a probability weight w in [0, 1]: its float bits >>> 20 (exponent and 3 mantissa bits). */
    private static final int BUCKET_SHIFT = 20;
    private static final int BUCKETS = (Float.floatToRawIntBits(1.0f) >>> BUCKET_SHIFT) + 1;
    /** Slack on bucket-level mass sums so a differently ordered exact sum cannot fall short of the target. */
    private static final double MASS_SLACK = 1e-9;
    /** Slack (in scaled-logit units) when skipping exp for tokens that cannot reach the min-p threshold. */
    private static final float MIN_P_LOG_SLACK = 1e-3f;

    private final int vocabSize;
    private final int[] eosTokenIds;
    /** The row being sampled: penalized while sampling, the raw logits (NaN as -inf) once sample returns. */
    private final float[] logits;
    /** exp((logit - max) / T) of every token, filled by the full passes. */
    private final float[] weights;
    private final long[] keys;
    /** The kept (filtered) tokens and their unnormalized weights; sorted best first except for min-p alone. */
    private final int[] keptTokens;
    private final float[] keptWeights;
    private final int[] bucketCounts = new int[BUCKETS];
    private final double[] bucketMass = new double[BUCKETS];
    private final LogitEdits edits;

    private boolean hasRow;
    private float rawMax;
    private boolean lseValid;
    private double lse;
    private int keptCount;
    private boolean keptAll;
    private double keptMass;

    /** A sampler for {@code vocabSize} tokens whose model has no EOS token. */
    public Sampler(int vocabSize) {
        this(vocabSize, new int[0]);
    }

    /** A sampler for {@code vocabSize} tokens; {@code eosTokenIds} (generation config) are held back by minTokens. */
    public Sampler(int vocabSize, int[] eosTokenIds) {
        if (vocabSize < 1) {
            throw new IllegalArgumentException("vocabSize must be >= 1, got " + vocabSize);
        }
        this.vocabSize = vocabSize;
        this.eosTokenIds = eosTokenIds.clone();
        logits = new float[vocabSize];
        weights = new float[vocabSize];
        keys = new long[vocabSize];
        keptTokens = new int[vocabSize];
        keptWeights = new float[vocabSize];
        edits = new LogitEdits(vocabSize);
    }

    /** A generator for one request: seeded from {@code params.seed()} when present, else from a random seed. */
    public static RandomGenerator rngFor(SamplingParams params) {
        return params.seed().isPresent() ? new SplittableRandom(params.seed().getAsLong()) : new SplittableRandom();
    }

    public int vocabSize() {
        return vocabSize;
    }

    /**
     * Samples the next token from the {@code vocabSize} FP32 logits at {@code logitsRow[offsetFloats ..]} (native
     * byte order). {@code history} holds the sequence's prompt and output tokens (the caller appends the returned
     * token); {@code rng} is the request's generator, used for exactly one draw unless greedy.
     *
     * @throws IllegalStateException when every logit is -inf or NaN after penalties and suppression
     */
    public int sample(MemorySegment logitsRow, long offsetFloats, SamplingParams params, TokenHistory history,
                      RandomGenerator rng) {
        MemorySegment.copy(logitsRow, ValueLayout.JAVA_FLOAT_UNALIGNED, offsetFloats * Float.BYTES,
                logits, 0, vocabSize);
        hasRow = true;
        lseValid = false;
        int argmax = sanitizeAndArgmax();
        rawMax = argmax < 0 ? Float.NEGATIVE_INFINITY : logits[argmax];
        try {
            LogitsProcessors.applyPenalties(logits, vocabSize, params, history, edits);
            LogitsProcessors.suppressStopTokens(logits, vocabSize, eosTokenIds, params, history, edits);
            if (edits.count() > 0) {
                argmax = argmax();
            }
            if (argmax < 0) {
                throw new IllegalStateException("every logit is -inf or NaN after penalties and min_tokens");
            }
            return params.isGreedy() ? keepOnly(argmax) : sampleRandom(params, logits[argmax], rng);
        } finally {
            edits.restore(logits);
        }
    }

    /**
     * The log-probability of {@code token} under the model's raw distribution for the row last sampled
     * (log_softmax of the logits before penalties and temperature).
     */
    public float logprob(int token) {
        ensureLogSumExp();
        return (float) (logits[token] - lse);
    }

    /**
     * Writes the {@code min(k, vocabSize)} most likely tokens of the raw distribution of the row last sampled, best
     * first (ties to the lowest id), with their log-probabilities; returns how many were written.
     */
    public int topLogprobs(int k, int[] idsOut, float[] logprobsOut) {
        if (k < 0) {
            throw new IllegalArgumentException("k must be >= 0, got " + k);
        }
        int n = Math.min(k, vocabSize);
        if (idsOut.length < n || logprobsOut.length < n) {
            throw new IllegalArgumentException("output arrays must hold " + n + " entries");
        }
        ensureLogSumExp();
        n = PackedKeys.selectTop(logits, vocabSize, n, keys);
        for (int i = 0; i < n; i++) {
            int id = PackedKeys.id(keys[i]);
            idsOut[i] = id;
            logprobsOut[i] = (float) (logits[id] - lse);
        }
        return n;
    }

    /** Number of tokens the filters kept for the last row (1 when greedy). */
    int keptCount() {
        return keptCount;
    }

    /** Token of kept entry {@code i}. */
    int keptToken(int i) {
        return keptAll ? i : keptTokens[i];
    }

    /** Renormalized probability of kept entry {@code i}: what the draw used. */
    double keptProbability(int i) {
        return (keptAll ? weights[i] : keptWeights[i]) / keptMass;
    }

    private int sampleRandom(SamplingParams params, float max, RandomGenerator rng) {
        float invT = (float) (1.0 / params.temperature());
        boolean topK = params.topKEnabled(vocabSize);
        if (topK && params.topK() <= HEAP_TOP_K_MAX) {
            return sampleTopKByHeap(params, max, invT, rng);
        }
        if (topK || params.topP() < 1) {
            return sampleByHistogram(params, max, invT, rng);
        }
        if (params.minP() > 0) {
            return sampleMinPOnly(params, max, invT, rng);
        }
        double z = fillWeights(max, invT, false);
        cacheLogSumExp(max, invT, z);
        keptAll = true;
        keptCount = vocabSize;
        keptMass = z;
        return drawAll(rng, z);
    }

    /** Top-k by a heap over the logits; exp only on the k candidates. */
    private int sampleTopKByHeap(SamplingParams params, float max, float invT, RandomGenerator rng) {
        int n = PackedKeys.selectTop(logits, vocabSize, params.topK(), keys);
        for (int i = 0; i < n; i++) {
            int id = PackedKeys.id(keys[i]);
            keptTokens[i] = id;
            keptWeights[i] = (float) Math.exp((logits[id] - max) * invT);
        }
        return filterSortedAndDraw(params, n, Double.NaN, rng);
    }

    /** Top-p (or large top-k): full exp pass with a histogram, then sort only the tokens at or above the boundary. */
    private int sampleByHistogram(SamplingParams params, float max, float invT, RandomGenerator rng) {
        double z = fillWeights(max, invT, true);
        cacheLogSumExp(max, invT, z);
        int minBits = boundaryBucket(params, z) << BUCKET_SHIFT;
        int n = 0;
        for (int i = 0; i < vocabSize; i++) {
            if (Float.floatToRawIntBits(weights[i]) >= minBits) {
                keys[n++] = PackedKeys.key(logits[i], i);
            }
        }
        PackedKeys.sort(keys, 0, n);
        for (int i = 0; i < n; i++) {
            int id = PackedKeys.id(keys[i]);
            keptTokens[i] = id;
            keptWeights[i] = weights[id];
        }
        return filterSortedAndDraw(params, n, params.topKEnabled(vocabSize) ? Double.NaN : z, rng);
    }

    /**
     * The lowest bucket that still holds tokens the filters may keep. With top-k: the bucket where the count
     * reaches k (all of top-k is needed when top-p follows, for the mass it renormalizes by). Without: the bucket
     * where the mass reaches top-p of the total, and none below min-p.
     */
    private int boundaryBucket(SamplingParams params, double z) {
        boolean topK = params.topKEnabled(vocabSize);
        boolean topP = params.topP() < 1;
        double targetMass = params.topP() * z * (1 + MASS_SLACK);
        int bucket = BUCKETS - 1;
        long count = 0;
        double mass = 0;
        for (; bucket > 0; bucket--) {
            count += bucketCounts[bucket];
            mass += bucketMass[bucket];
            if (topK ? count >= params.topK() : topP && mass >= targetMass) {
                break;
            }
        }
        if (params.minP() > 0 && !(topK && topP)) {
            bucket = Math.max(bucket, Float.floatToRawIntBits((float) params.minP()) >>> BUCKET_SHIFT);
        }
        return bucket;
    }

    /** Min-p alone: exp only where the scaled logit can reach log(minP); kept in id order. */
    private int sampleMinPOnly(SamplingParams params, float max, float invT, RandomGenerator rng) {
        float minP = (float) params.minP();
        float minScaled = (float) Math.log(minP) - MIN_P_LOG_SLACK;
        int n = 0;
        for (int i = 0; i < vocabSize; i++) {
            float scaled = (logits[i] - max) * invT;
            if (scaled >= minScaled) {
                float w = (float) Math.exp(scaled);
                if (w >= minP) {
                    keptTokens[n] = i;
                    keptWeights[n++] = w;
                }
            }
        }
        return drawKept(rng, n);
    }

    /**
     * Applies top-k, top-p and min-p, in that order, to the {@code n} candidates in keptTokens/keptWeights sorted
     * best first, and draws. {@code fullMass} is the mass top-p is relative to, or NaN for the top-k candidates'.
     */
    private int filterSortedAndDraw(SamplingParams params, int n, double fullMass, RandomGenerator rng) {
        if (params.topKEnabled(vocabSize)) {
            n = Math.min(n, params.topK());
        }
        if (params.topP() < 1) {
            double z = Double.isNaN(fullMass) ? sum(keptWeights, n) : fullMass;
            double target = params.topP() * z;
            double acc = 0;
            int i = 0;
            while (i < n) {
                acc += keptWeights[i++];
                if (acc >= target) {
                    break;
                }
            }
            n = i;
        }
        if (params.minP() > 0) {
            float minP = (float) params.minP();
            int i = 1;
            while (i < n && keptWeights[i] >= minP) {
                i++;
            }
            n = Math.min(n, i);
        }
        return drawKept(rng, n);
    }

    private int drawKept(RandomGenerator rng, int n) {
        double z = sum(keptWeights, n);
        keptAll = false;
        keptCount = n;
        keptMass = z;
        double u = rng.nextDouble() * z;
        double acc = 0;
        int lastPositive = 0;
        for (int i = 0; i < n; i++) {
            float w = keptWeights[i];
            if (w > 0) {
                acc += w;
                lastPositive = i;
                if (u < acc) {
                    return keptTokens[i];
                }
            }
        }
        return keptTokens[lastPositive]; // u rounded up to z
    }

    private int drawAll(RandomGenerator rng, double z) {
        double u = rng.nextDouble() * z;
        double acc = 0;
        int lastPositive = 0;
        for (int i = 0; i < vocabSize; i++) {
            float w = weights[i];
            if (w > 0) {
                acc += w;
                lastPositive = i;
                if (u < acc) {
                    return i;
                }
            }
        }
        return lastPositive;
    }

    private int keepOnly(int token) {
        keptAll = false;
        keptTokens[0] = token;
        keptWeights[0] = 1f;
        keptCount = 1;
        keptMass = 1;
        return token;
    }

    /** weights[i] = exp((logit - max) / T); returns their sum; optionally fills the bucket histogram. */
    private double fillWeights(float max, float invT, boolean histogram) {
        double z = 0;
        if (histogram) {
            Arrays.fill(bucketCounts, 0);
            Arrays.fill(bucketMass, 0);
        }
        for (int i = 0; i < vocabSize; i++) {
            float w = (float) Math.exp((logits[i] - max) * invT);
            weights[i] = w;
            z += w;
            if (histogram) {
                int b = Float.floatToRawIntBits(w) >>> BUCKET_SHIFT;
                bucketCounts[b]++;
                bucketMass[b] += w;
            }
        }
        return z;
    }

    /** Replaces NaN by -inf and returns the argmax (lowest id on ties), or -1 when every logit is -inf. */
    private int sanitizeAndArgmax() {
        float max = Float.NEGATIVE_INFINITY;
        int argmax = -1;
        for (int i = 0; i < vocabSize; i++) {
            float l = logits[i];
            if (l > max) {
                max = l;
                argmax = i;
            } else if (l != l) {
                logits[i] = Float.NEGATIVE_INFINITY;
            }
        }
        return argmax;
    }

    private int argmax() {
        float max = Float.NEGATIVE_INFINITY;
        int argmax = -1;
        for (int i = 0; i < vocabSize; i++) {
            if (logits[i] > max) {
                max = logits[i];
                argmax = i;
            }
        }
        return argmax;
    }

    /** A full pass at temperature 1 over unedited logits already gave the raw softmax's normalizer. */
    private void cacheLogSumExp(float max, float invT, double z) {
        if (invT == 1f && edits.count() == 0) {
            lse = max + Math.log(z);
            lseValid = true;
        }
    }

    private void ensureLogSumExp() {
        if (!hasRow) {
            throw new IllegalStateException("no row sampled yet");
        }
        if (!lseValid) {
            double s = 0;
            for (int i = 0; i < vocabSize; i++) {
                s += Math.exp((double) logits[i] - rawMax);
            }
            lse = rawMax + Math.log(s);
            lseValid = true;
        }
    }

    private static double sum(float[] a, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += a[i];
        }
        return s;
    }
}
