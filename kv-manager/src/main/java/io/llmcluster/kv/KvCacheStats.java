package io.llmcluster.kv;

/**
 * A snapshot of a {@link KvCacheManager}'s pool and prefix-cache counters (for {@code WorkerLoad} and
 * {@code /metrics}). {@code freeBlocks} includes the evictable ones; {@code cachedBlocks} counts every block
 * holding a cached hash, in use or not. Prefix counters are cumulative over
 * {@link KvCacheManager#computedPrefix} calls, in tokens.
 */
public record KvCacheStats(
    int totalBlocks,
    int freeBlocks,
    int usedBlocks,
    int cachedBlocks,
    int evictableBlocks,
    int numRequests,
    long prefixQueries,
    long prefixQueryTokens,
    long prefixHitTokens) {

  /** Hit tokens over queried tokens; 0 before the first query. */
  public double prefixHitRate() {
    return prefixQueryTokens == 0 ? 0.0 : (double) prefixHitTokens / prefixQueryTokens;
  }

  /** Used blocks over total blocks. */
  public double usage() {
    return (double) usedBlocks / totalBlocks;
  }
}
