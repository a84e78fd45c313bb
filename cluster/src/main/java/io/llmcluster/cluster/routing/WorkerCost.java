package io.llmcluster.cluster.routing;

/**
 * One worker's terms of {@link Router}'s cost model for one request (see {@link Router}): for tests and the
 * admin view's "why did it go there".
 *
 * @param cachedBlocks          leading prompt blocks the worker holds that the engine can reuse
 * @param uncachedTokens        prompt tokens it would compute
 * @param queueWaitSeconds      prefills ahead of this one
 * @param prefillSeconds        this prompt's uncached tokens
 * @param decodeSlowdownSeconds decode steps of the running batch interleaved before the first token
 * @param totalSeconds          the sum: predicted time to the first token
 * @param footprintBlocks       KV blocks the request would allocate there (prompt + max_tokens, less cached)
 * @param freeBlocks            the worker's free blocks less those reserved since its last report
 */
public record WorkerCost(String workerId, int cachedBlocks, long uncachedTokens, double queueWaitSeconds,
    double prefillSeconds, double decodeSlowdownSeconds, double totalSeconds, int footprintBlocks, int freeBlocks,
    boolean draining) {}
