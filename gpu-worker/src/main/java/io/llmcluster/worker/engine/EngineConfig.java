package io.llmcluster.worker.engine;

import io.llmcluster.batcher.SchedulingPolicy;

/**
 * Scheduling limits of an {@link Engine}.
 *
 * @param maxNumSeqs          sequences in one step
 * @param maxNumBatchedTokens tokens in one step (prefill chunks are cut to fit); at most the backend's capacity
 * @param enablePrefixCaching reuse KV blocks of identical prompt prefixes
 * @param policy              FCFS or PRIORITY
 */
public record EngineConfig(int maxNumSeqs, int maxNumBatchedTokens, boolean enablePrefixCaching, SchedulingPolicy policy) {
    public static EngineConfig defaults() {
        return new EngineConfig(64, 512, true, SchedulingPolicy.FCFS);
    }

    public EngineConfig withPrefixCaching(boolean enabled) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, enabled, policy);
    }

    public EngineConfig withMaxNumSeqs(int n) {
        return new EngineConfig(n, maxNumBatchedTokens, enablePrefixCaching, policy);
    }

    public EngineConfig withMaxNumBatchedTokens(int n) {
        return new EngineConfig(maxNumSeqs, n, enablePrefixCaching, policy);
    }
}
