package io.llmcluster.cluster.routing;

import java.util.Objects;

/**
 * A worker's load report, sent to the gateways' routers every few hundred milliseconds and after each change of
 * state (a cross-node message, serialized with Kryo). Rates are measured by the worker's engine over its recent
 * steps ({@code StepMeter}: each step's time split between its prefill and decode tokens); 0 means "not
 * measured yet" and the router then uses {@link RouterConfig}'s fallbacks.
 *
 * @param workerId               the worker's id, the same as in its KV events
 * @param epoch                  its KV pool's epoch: the router ignores the KV directory's entries for the worker
 *                               while the directory follows another epoch (a restarted worker's old blocks)
 * @param running                sequences in the running batch
 * @param waiting                sequences admitted but waiting to be scheduled
 * @param pendingPrefillTokens   prompt tokens admitted but not yet computed (waiting requests and unfinished
 *                               chunked prefills), or -1 if the worker does not report it: the router then
 *                               assumes each waiting request is as long as the one being routed
 * @param freeBlocks             KV blocks free now (including evictable cached ones)
 * @param totalBlocks            KV blocks in the worker's pool
 * @param blockSizeTokens        tokens per KV block
 * @param maxBatchTokens         the scheduler's token budget per step (0: unknown, the router's default)
 * @param prefillTokensPerSecond measured prefill rate, tokens per second of prefill time (0: not measured)
 * @param decodeTokensPerSecond  measured decode rate, tokens per second of decode time over the whole batch
 *                               (0: not measured)
 * @param draining               the worker takes no new requests and finishes those it has
 */
public record WorkerLoad(String workerId, long epoch, int running, int waiting, long pendingPrefillTokens,
    int freeBlocks, int totalBlocks, int blockSizeTokens, int maxBatchTokens, double prefillTokensPerSecond,
    double decodeTokensPerSecond, boolean draining) {
  public WorkerLoad {
    Objects.requireNonNull(workerId, "workerId");
    if (running < 0 || waiting < 0 || freeBlocks < 0 || totalBlocks < 0 || maxBatchTokens < 0
        || pendingPrefillTokens < -1) {
      throw new IllegalArgumentException("negative count in the load report of " + workerId);
    }
    if (blockSizeTokens <= 0) {
      throw new IllegalArgumentException("blockSizeTokens must be positive: " + blockSizeTokens);
    }
  }

  /** A measured rate, or 0 for "not measured" (0, negative, NaN and infinite all read as not measured). */
  static double measured(double rate) {
    return rate > 0 && Double.isFinite(rate) ? rate : 0;
  }
}
