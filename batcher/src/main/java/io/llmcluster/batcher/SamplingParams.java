package io.llmcluster.batcher;

import java.util.List;
import java.util.OptionalLong;

/**
 * How one request's tokens are chosen and when it stops (vLLM's {@code SamplingParams}, OpenAI names).
 * Immutable; every out-of-range value is rejected in the constructor with an {@link IllegalArgumentException}
 * whose message names the field and its allowed range (the HTTP layer turns it into a 400).
 *
 * <p>The sampler applies them in vLLM's order: repetition penalty (tokens of prompt and output), frequency and
 * presence penalties (output tokens only), suppression of stop tokens until {@code minTokens}, then greedy
 * argmax when {@link #isGreedy()}, else temperature, top-k, top-p, min-p and a draw.
 *
 * @param temperature       softmax temperature, finite and {@code >= 0}; below {@link #GREEDY_EPSILON} it
 *                          means greedy (argmax, ties to the lowest token id)
 * @param topK              keep the k most likely tokens; {@code -1} (or {@code 0}, normalized to -1) is off,
 *                          else {@code >= 1}
 * @param topP              keep the smallest set of most likely tokens whose mass is {@code >= topP}; in
 *                          {@code (0, 1]}, 1 is off
 * @param minP              drop tokens whose probability is below {@code minP} times the largest one; in
 *                          {@code [0, 1]}, 0 is off
 * @param repetitionPenalty HF/vLLM: on tokens of prompt and output, {@code logit > 0 ? logit / p : logit * p};
 *                          {@code > 0} and finite, 1 is off
 * @param presencePenalty   OpenAI: subtracted once from the logit of every token already in the output; in
 *                          {@code [-2, 2]}
 * @param frequencyPenalty  OpenAI: subtracted per occurrence in the output; in {@code [-2, 2]}
 * @param seed              makes the draws reproducible: same seed and same logits give the same tokens
 * @param maxTokens         most output tokens, {@code >= 1}
 * @param minTokens         EOS and stop tokens are suppressed (and stop strings not matched) until this many
 *                          output tokens exist; in {@code [0, maxTokens]}
 * @param stopTokenIds      token ids that end the sequence (finish reason {@code stop}); each {@code >= 0}
 * @param stopStrings       strings that end the sequence; never included in the output; each non-empty
 * @param ignoreEos         keep generating past the model's EOS tokens
 * @param logprobs          number of top logprobs to return per token, in {@code [0, 20]}, or -1 for none
 */
public record SamplingParams(
        double temperature,
        int topK,
        double topP,
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        OptionalLong seed,
        int maxTokens,
        int minTokens,
        List<Integer> stopTokenIds,
        List<String> stopStrings,
        boolean ignoreEos,
        int logprobs) {

    /** Temperatures below this are greedy (vLLM's {@code _SAMPLING_EPS}); dividing by them would overflow. */
    public static final double GREEDY_EPSILON = 1e-5;
    /** Most top logprobs a request may ask for (OpenAI's limit). */
    public static final int MAX_LOGPROBS = 20;
    /** Largest magnitude of the presence and frequency penalties (OpenAI's range). */
    public static final double MAX_OPENAI_PENALTY = 2.0;
    /** {@code maxTokens} of {@link #defaults()}, as vLLM's default. */
    public static final int DEFAULT_MAX_TOKENS = 16;

    private static final SamplingParams DEFAULTS = builder().build();

    /** Validates every field; normalizes {@code topK == 0} to -1 and null lists to empty, copies the lists. */
    public SamplingParams {
        require(temperature >= 0 && Double.isFinite(temperature), "temperature", "a finite number >= 0", temperature);
        require(topK >= -1, "topK", "-1 or 0 (off) or >= 1", topK);
        topK = topK == 0 ? -1 : topK;
        require(topP > 0 && topP <= 1, "topP", "in (0, 1]", topP);
        require(minP >= 0 && minP <= 1, "minP", "in [0, 1]", minP);
        require(repetitionPenalty > 0 && Double.isFinite(repetitionPenalty),
                "repetitionPenalty", "a finite number > 0 (1 is off)", repetitionPenalty);
        require(Math.abs(presencePenalty) <= MAX_OPENAI_PENALTY, "presencePenalty", "in [-2, 2]", presencePenalty);
        require(Math.abs(frequencyPenalty) <= MAX_OPENAI_PENALTY, "frequencyPenalty", "in [-2, 2]", frequencyPenalty);
        seed = seed == null ? OptionalLong.empty() : seed;
        require(maxTokens >= 1, "maxTokens", ">= 1", maxTokens);
        require(minTokens >= 0 && minTokens <= maxTokens, "minTokens", "in [0, maxTokens=" + maxTokens + "]",
                minTokens);
        stopTokenIds = checkedStopTokenIds(stopTokenIds);
        stopStrings = checkedStopStrings(stopStrings);
        require(logprobs >= -1 && logprobs <= MAX_LOGPROBS, "logprobs", "-1 (none) or in [0, 20]", logprobs);
    }

    /** vLLM's defaults: temperature 1, every filter and penalty off, 16 tokens, no seed, no stops. */
    public static SamplingParams defaults() {
        return DEFAULTS;
    }

    /** Greedy decoding (temperature 0) of at most {@code maxTokens} tokens, everything else default. */
    public static SamplingParams greedy(int maxTokens) {
        return builder().temperature(0).maxTokens(maxTokens).build();
    }

    /** A builder starting from {@link #defaults()}. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these values. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** True when the token is the argmax: temperature below {@link #GREEDY_EPSILON}. */
    public boolean isGreedy() {
        return temperature < GREEDY_EPSILON;
    }

    /** True when top-k filters anything for a vocabulary of {@code vocabSize} tokens. */
    public boolean topKEnabled(int vocabSize) {
        return topK > 0 && topK < vocabSize;
    }

    /** True when repetition, presence or frequency penalties change any logit. */
    public boolean hasPenalties() {
        return repetitionPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0;
    }

    private static List<Integer> checkedStopTokenIds(List<Integer> ids) {
        if (ids == null) {
            return List.of();
        }
        for (int i = 0; i < ids.size(); i++) {
            Integer id = ids.get(i);
            if (id == null || id < 0) {
                throw new IllegalArgumentException("stopTokenIds[" + i + "] must be a token id >= 0, got " + id);
            }
        }
        return List.copyOf(ids);
    }

    private static List<String> checkedStopStrings(List<String> stops) {
        if (stops == null) {
            return List.of();
        }
        for (int i = 0; i < stops.size(); i++) {
            String s = stops.get(i);
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("stopStrings[" + i + "] must be a non-empty string, got "
                        + (s == null ? "null" : "\"\""));
            }
        }
        return List.copyOf(stops);
    }

    private static void require(boolean ok, String field, String range, Object value) {
        if (!ok) {
            throw new IllegalArgumentException(field + " must be " + range + ", got " + value);
        }
    }

    /** Fluent builder; {@link #build()} validates. Starts from {@link #defaults()}. */
    public static final class Builder {
        private double temperature = 1.0;
        private int topK = -1;
        private double topP = 1.0;
        private double minP = 0.0;
        private double repetitionPenalty = 1.0;
        private double presencePenalty = 0.0;
        private double frequencyPenalty = 0.0;
        private OptionalLong seed = OptionalLong.empty();
        private int maxTokens = DEFAULT_MAX_TOKENS;
        private int minTokens = 0;
        private List<Integer> stopTokenIds = List.of();
        private List<String> stopStrings = List.of();
        private boolean ignoreEos = false;
        private int logprobs = -1;

        private Builder() {}

        private Builder(SamplingParams p) {
            temperature = p.temperature;
            topK = p.topK;
            topP = p.topP;
            minP = p.minP;
            repetitionPenalty = p.repetitionPenalty;
            presencePenalty = p.presencePenalty;
            frequencyPenalty = p.frequencyPenalty;
            seed = p.seed;
            maxTokens = p.maxTokens;
            minTokens = p.minTokens;
            stopTokenIds = p.stopTokenIds;
            stopStrings = p.stopStrings;
            ignoreEos = p.ignoreEos;
            logprobs = p.logprobs;
        }

        public Builder temperature(double v) { temperature = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder topP(double v) { topP = v; return this; }
        public Builder minP(double v) { minP = v; return this; }
        public Builder repetitionPenalty(double v) { repetitionPenalty = v; return this; }
        public Builder presencePenalty(double v) { presencePenalty = v; return this; }
        public Builder frequencyPenalty(double v) { frequencyPenalty = v; return this; }
        public Builder seed(long v) { seed = OptionalLong.of(v); return this; }
        public Builder seed(OptionalLong v) { seed = v; return this; }
        public Builder maxTokens(int v) { maxTokens = v; return this; }
        public Builder minTokens(int v) { minTokens = v; return this; }
        public Builder stopTokenIds(List<Integer> v) { stopTokenIds = v; return this; }
        public Builder stopTokenIds(int... v) { stopTokenIds = java.util.Arrays.stream(v).boxed().toList(); return this; }
        public Builder stopStrings(List<String> v) { stopStrings = v; return this; }
        public Builder stopStrings(String... v) { stopStrings = java.util.Arrays.asList(v); return this; }
        public Builder ignoreEos(boolean v) { ignoreEos = v; return this; }
        public Builder logprobs(int v) { logprobs = v; return this; }

        /** The validated parameters. */
        public SamplingParams build() {
            return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty,
                    frequencyPenalty, seed, maxTokens, minTokens, stopTokenIds, stopStrings, ignoreEos, logprobs);
        }
    }
}
