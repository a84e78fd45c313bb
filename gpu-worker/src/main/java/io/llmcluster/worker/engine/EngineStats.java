package io.llmcluster.worker.engine;

/**
 * A snapshot of the engine, refreshed every step.
 *
 * @param prefixHitRate         prompt tokens served from the prefix cache / prompt tokens looked up
 * @param prefixQueryTokens     prompt tokens looked up in the prefix cache so far
 * @param prefixHitTokens       of those, tokens found cached
 * @param prefillTokensPerSecond measured over recent steps (exponentially weighted)
 * @param decodeTokensPerSecond  measured over recent steps (exponentially weighted)
 */
public record EngineStats(int running, int waiting, int totalBlocks, int freeBlocks, int usedBlocks,
                          double prefixHitRate, long prefixQueryTokens, long prefixHitTokens, long preemptions, long steps,
                          double prefillTokensPerSecond,
                          double decodeTokensPerSecond, long promptTokens, long generatedTokens) {
    public static final EngineStats EMPTY = new EngineStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /** KV blocks in use, as a fraction of the pool. */
    public double kvUsage() {
        return totalBlocks == 0 ? 0 : (double) usedBlocks / totalBlocks;
    }
}
