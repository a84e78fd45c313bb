package io.llmcluster.batcher;

import java.util.Arrays;
import java.util.Objects;

/**
 * The {@link Scheduler}'s limits. Every value is checked here; a bad one is an {@link IllegalArgumentException}
 * that names the field and its allowed range.
 *
 * @param maxNumBatchedTokens tokens computed per step, over all scheduled requests (the token budget);
 *                            {@code >= maxNumSeqs}, so every running request can decode in one step
 * @param maxNumSeqs          requests running at once (the batch's sequence cap); {@code >= 1}
 * @param maxModelLen         most tokens of one request, prompt plus output (the model's context);
 *                            {@code >= 2}, so a one-token prompt can generate a token
 * @param enablePrefixCaching admit requests at their longest cached prefix and register their full blocks
 * @param policy              admission order and preemption victims
 * @param eosTokenIds         the model's end-of-sequence token ids (may be empty); each {@code >= 0}
 * @param maxPrefillTokensWhileDecoding while any running request is decoding, the most prompt tokens (chunks
 *                            of prompts and recomputations) one step computes, so that a long prompt is spread
 *                            over several short steps instead of stalling every decoding stream for one long
 *                            one; {@code 0} = no cap (the whole budget, as without this option). {@code >= 0}
 * @param fillPhaseMinWaiting how many waiting requests that could take a free seat start a <em>fill phase</em>, in
 *                            which the prefill cap does not apply, until no waiting request could take a seat
 *                            (a burst is admitted at the whole budget instead of a capped chunk a step); {@code 0}
 *                            = never (the cap always applies). {@code >= 0}; see the Scheduler's class comment
 */
public record SchedulerConfig(
        int maxNumBatchedTokens,
        int maxNumSeqs,
        int maxModelLen,
        boolean enablePrefixCaching,
        SchedulingPolicy policy,
        int[] eosTokenIds,
        int maxPrefillTokensWhileDecoding,
        int fillPhaseMinWaiting) {

    /** Validates every field and copies {@code eosTokenIds}. */
    public SchedulerConfig {
        require(maxPrefillTokensWhileDecoding >= 0, "maxPrefillTokensWhileDecoding must be >= 0 (0 = no cap), got "
                + maxPrefillTokensWhileDecoding);
        require(fillPhaseMinWaiting >= 0, "fillPhaseMinWaiting must be >= 0 (0 = never), got " + fillPhaseMinWaiting);
        require(maxNumSeqs >= 1, "maxNumSeqs must be >= 1, got " + maxNumSeqs);
        require(maxNumBatchedTokens >= maxNumSeqs, "maxNumBatchedTokens must be >= maxNumSeqs (" + maxNumSeqs
                + ") so every running request can decode in one step, got " + maxNumBatchedTokens);
        require(maxModelLen >= 2, "maxModelLen must be >= 2 (a prompt token and an output token), got "
                + maxModelLen);
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(eosTokenIds, "eosTokenIds (use an empty array for none)");
        eosTokenIds = eosTokenIds.clone();
        for (int i = 0; i < eosTokenIds.length; i++) {
            require(eosTokenIds[i] >= 0, "eosTokenIds[" + i + "] must be a token id >= 0, got " + eosTokenIds[i]);
        }
    }

    /** Limits without a prefill cap while decoding. */
    public SchedulerConfig(int maxNumBatchedTokens, int maxNumSeqs, int maxModelLen, boolean enablePrefixCaching,
                           SchedulingPolicy policy, int[] eosTokenIds) {
        this(maxNumBatchedTokens, maxNumSeqs, maxModelLen, enablePrefixCaching, policy, eosTokenIds, 0, 0);
    }

    /** Limits with a prefill cap while decoding that always applies (no fill phase). */
    public SchedulerConfig(int maxNumBatchedTokens, int maxNumSeqs, int maxModelLen, boolean enablePrefixCaching,
                           SchedulingPolicy policy, int[] eosTokenIds, int maxPrefillTokensWhileDecoding) {
        this(maxNumBatchedTokens, maxNumSeqs, maxModelLen, enablePrefixCaching, policy, eosTokenIds,
                maxPrefillTokensWhileDecoding, 0);
    }

    /**
     * The fill-phase threshold the engine uses for a batch of {@code maxNumSeqs} seats: an eighth of the seats, at
     * least 2. A steady stream of arrivals keeps one or two requests waiting per step; a burst many more.
     */
    public static int defaultFillPhaseMinWaiting(int maxNumSeqs) {
        return Math.max(2, maxNumSeqs / 8);
    }

    /** A copy of the EOS token ids. */
    @Override
    public int[] eosTokenIds() {
        return eosTokenIds.clone();
    }

    /** These limits with another policy. */
    public SchedulerConfig withPolicy(SchedulingPolicy newPolicy) {
        return new SchedulerConfig(maxNumBatchedTokens, maxNumSeqs, maxModelLen, enablePrefixCaching, newPolicy,
                eosTokenIds, maxPrefillTokensWhileDecoding, fillPhaseMinWaiting);
    }

    /** These limits with prefix caching on or off. */
    public SchedulerConfig withPrefixCaching(boolean enabled) {
        return new SchedulerConfig(maxNumBatchedTokens, maxNumSeqs, maxModelLen, enabled, policy, eosTokenIds,
                maxPrefillTokensWhileDecoding, fillPhaseMinWaiting);
    }

    /** These limits with another prefill cap while decoding (0 = none). */
    public SchedulerConfig withMaxPrefillTokensWhileDecoding(int tokens) {
        return new SchedulerConfig(maxNumBatchedTokens, maxNumSeqs, maxModelLen, enablePrefixCaching, policy,
                eosTokenIds, tokens, fillPhaseMinWaiting);
    }

    /** These limits with another fill-phase threshold (0 = never). */
    public SchedulerConfig withFillPhaseMinWaiting(int requests) {
        return new SchedulerConfig(maxNumBatchedTokens, maxNumSeqs, maxModelLen, enablePrefixCaching, policy,
                eosTokenIds, maxPrefillTokensWhileDecoding, requests);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SchedulerConfig c
                && maxNumBatchedTokens == c.maxNumBatchedTokens
                && maxNumSeqs == c.maxNumSeqs
                && maxModelLen == c.maxModelLen
                && enablePrefixCaching == c.enablePrefixCaching
                && policy == c.policy
                && Arrays.equals(eosTokenIds, c.eosTokenIds)
                && maxPrefillTokensWhileDecoding == c.maxPrefillTokensWhileDecoding
                && fillPhaseMinWaiting == c.fillPhaseMinWaiting;
    }

    @Override
    public int hashCode() {
        return Objects.hash(maxNumBatchedTokens, maxNumSeqs, maxModelLen, enablePrefixCaching, policy,
                maxPrefillTokensWhileDecoding, fillPhaseMinWaiting)
                * 31 + Arrays.hashCode(eosTokenIds);
    }

    @Override
    public String toString() {
        return "SchedulerConfig[maxNumBatchedTokens=" + maxNumBatchedTokens + ", maxNumSeqs=" + maxNumSeqs
                + ", maxModelLen=" + maxModelLen + ", enablePrefixCaching=" + enablePrefixCaching + ", policy="
                + policy + ", eosTokenIds=" + Arrays.toString(eosTokenIds) + ", maxPrefillTokensWhileDecoding="
                + maxPrefillTokensWhileDecoding + ", fillPhaseMinWaiting=" + fillPhaseMinWaiting + "]";
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
