package io.llmcluster.cluster.routing;

/**
 * The router's fallbacks for what a worker has not measured or reported yet. Only used until a worker's first
 * steps: a worker without a measured rate takes the median of its measured peers' rates (same model, most
 * likely the same hardware); these constants apply only while no worker has measured anything, when every
 * worker gets the same numbers and only their ratio matters (prefill tokens are about 10 times cheaper than
 * decode tokens, the usual order for batched prefill against one decode token of a batch).
 *
 * @param fallbackPrefillTokensPerSecond prefill rate while no worker has measured one (default 1000)
 * @param fallbackDecodeTokensPerSecond  decode rate while no worker has measured one (default 100)
 * @param defaultMaxBatchTokens          a step's token budget when a worker does not report it (default 512,
 *                                       {@code EngineConfig.defaults()})
 */
public record RouterConfig(double fallbackPrefillTokensPerSecond, double fallbackDecodeTokensPerSecond,
    int defaultMaxBatchTokens) {
  public RouterConfig {
    if (!(fallbackPrefillTokensPerSecond > 0) || !(fallbackDecodeTokensPerSecond > 0) || defaultMaxBatchTokens <= 0) {
      throw new IllegalArgumentException("router fallbacks must be positive");
    }
  }

  public static RouterConfig defaults() {
    return new RouterConfig(1000, 100, 512);
  }
}
