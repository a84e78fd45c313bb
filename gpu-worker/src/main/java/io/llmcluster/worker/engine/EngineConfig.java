package io.llmcluster.worker.engine;

import io.llmcluster.batcher.SchedulingPolicy;

/**
 * Scheduling limits of an {@link Engine}.
 *
 * @param maxNumSeqs          sequences in one step
 * @param maxNumBatchedTokens tokens in one step (prefill chunks are cut to fit); at most the backend's capacity
 * @param enablePrefixCaching reuse KV blocks of identical prompt prefixes
 * @param policy              FCFS or PRIORITY
 * @param maxPrefillTokensWhileDecoding prompt tokens one step computes at most while some sequence decodes, so a
 *                            long prompt does not stall the decoding streams for one long step:
 *                            {@link #PREFILL_CAP_AUTO} (-1) = the backend's choice
 *                            ({@link io.llmcluster.worker.backend.ModelBackend#preferredPrefillTokensWhileDecoding()}),
 *                            0 = no cap, N = at most N
 */
public record EngineConfig(int maxNumSeqs, int maxNumBatchedTokens, boolean enablePrefixCaching, SchedulingPolicy policy,
                           int maxPrefillTokensWhileDecoding) {
    /** {@link #maxPrefillTokensWhileDecoding}: let the backend choose. */
    public static final int PREFILL_CAP_AUTO = -1;

    public EngineConfig {
        if (maxNumSeqs < 1 || maxNumBatchedTokens < 1) {
            throw new IllegalArgumentException("max-num-seqs and max-num-batched-tokens must be >= 1, got " + maxNumSeqs
                    + " and " + maxNumBatchedTokens);
        }
        if (maxPrefillTokensWhileDecoding < PREFILL_CAP_AUTO) {
            throw new IllegalArgumentException("maxPrefillTokensWhileDecoding must be -1 (auto), 0 (no cap) or a token"
                    + " count, got " + maxPrefillTokensWhileDecoding);
        }
    }

    /** Limits with the backend's prefill cap while decoding. */
    public EngineConfig(int maxNumSeqs, int maxNumBatchedTokens, boolean enablePrefixCaching, SchedulingPolicy policy) {
        this(maxNumSeqs, maxNumBatchedTokens, enablePrefixCaching, policy, PREFILL_CAP_AUTO);
    }

    public static EngineConfig defaults() {
        return new EngineConfig(64, 512, true, SchedulingPolicy.FCFS, PREFILL_CAP_AUTO);
    }

    /**
     * {@code auto}, {@code off} (= 0) or a token count {@code >= 0}, as the command line and the settings spell the
     * cap; a clear {@link IllegalArgumentException} otherwise.
     */
    public static int parsePrefillCap(String text) {
        String t = text.trim();
        if (t.equalsIgnoreCase("auto")) {
            return PREFILL_CAP_AUTO;
        }
        if (t.equalsIgnoreCase("off")) {
            return 0;
        }
        try {
            int n = Integer.parseInt(t);
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // the message below says what is allowed
        }
        throw new IllegalArgumentException("max-prefill-tokens-while-decoding must be auto, off, or a token count >= 0"
                + " (0 = off), got \"" + text + "\"");
    }

    public EngineConfig withPrefixCaching(boolean enabled) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, enabled, policy, maxPrefillTokensWhileDecoding);
    }

    public EngineConfig withMaxNumSeqs(int n) {
        return new EngineConfig(n, maxNumBatchedTokens, enablePrefixCaching, policy, maxPrefillTokensWhileDecoding);
    }

    public EngineConfig withMaxNumBatchedTokens(int n) {
        return new EngineConfig(maxNumSeqs, n, enablePrefixCaching, policy, maxPrefillTokensWhileDecoding);
    }

    /** {@link #PREFILL_CAP_AUTO}, 0 (no cap) or a token count. */
    public EngineConfig withMaxPrefillTokensWhileDecoding(int n) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, enablePrefixCaching, policy, n);
    }
}
