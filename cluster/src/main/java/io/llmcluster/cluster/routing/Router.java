package io.llmcluster.cluster.routing;

import io.llmcluster.kv.KvIndex;
import io.llmcluster.kv.PrefixMatch;
import java.util.Objects;
import java.util.Set;

/**
 * The KV-aware, load-aware router: sends each request to the worker with the lowest predicted time to its
 * first token, skipping workers without room for its KV footprint. Plain single-threaded policy (the gateway's
 * router actor is a thin shell around it); reads the gateway's {@link KvIndex} replica.
 *
 * <p><b>Cost model.</b> A worker's engine is one server that spends {@code 1/Rp} seconds per prefill token and
 * {@code 1/Rd} seconds per decode token, where {@code Rp} and {@code Rd} are the rates it measured over its
 * recent steps (each step's time split between its prefill and decode tokens, so {@code Rd} is the batch's
 * aggregate decode rate). For a prompt of {@code P} tokens on worker {@code w}:
 * <pre>
 *   cached   = min(cachedBlocks * B, floor((P - 1) / B) * B)   leading prompt tokens w holds (the engine
 *                                                              always recomputes the block of the last token)
 *   uncached = P - cached
 *   pending  = w's admitted, not yet computed prompt tokens (reported) + tokens routed to w since its report
 *              (unreported: (waiting + routed since) * P)
 *   queueWait      = pending / Rp                              FCFS: the prefills ahead of ours
 *   prefill        = uncached / Rp
 *   steps          = ceil((pending + uncached) / max(1, maxBatchTokens - running))
 *                                                              steps until our first token: each step's
 *                                                              budget goes to the running decodes first
 *   decodeSlowdown = running * steps / Rd                      every one of those steps also decodes one
 *                                                              token of each running sequence
 *   cost = queueWait + prefill + decodeSlowdown                seconds to our first token
 * </pre>
 * The lowest cost wins; ties go to the worker holding more of the prefix, then to the smaller worker id. The
 * model counts the decode work of a mixed step at the decode-only rate, so it overstates a busy worker's
 * slowdown a little (a mixed step reads the weights once for both); it does not price the request's own decode
 * after its first token, which the batch slows down in proportion to its size on every worker alike.
 *
 * <p><b>Rates not measured yet.</b> A worker that reports no rate (0) is given the median of its measured
 * peers; if no worker has measured one, {@link RouterConfig}'s fallbacks (1000 prefill and 100 decode tokens
 * per second by default). A missing step budget reads as {@link RouterConfig#defaultMaxBatchTokens()}.
 *
 * <p><b>Memory-pressure fallback.</b> The request's predicted KV footprint on {@code w} is
 * {@code ceil((P + maxTokens) / Bw) - cached / Bw} blocks (the cached blocks are shared, not allocated again).
 * A worker whose free blocks (less those reserved by requests routed since its last report) are fewer is
 * skipped, as is a draining one. When no worker has room the decision is {@link RouteDecision.Queue} (the
 * gateway queues, bounded, then answers 429); when the footprint exceeds every non-draining worker's whole
 * pool, or there is no such worker, it is {@link RouteDecision.Reject}. A route reserves the footprint and the
 * uncached tokens on the chosen worker until its next load report.
 *
 * <p><b>Directory epochs.</b> A worker's cached prefix counts only while the directory follows the pool epoch of
 * the worker's last report; in between (a restart the directory has not seen yet) it counts as none.
 */
public final class Router implements RoutingPolicy {
  private final KvIndex index;
  private final RouterConfig config;
  private final WorkerTable workers = new WorkerTable();
  private final PrefixMatch match;
  private final Cost scratch = new Cost();

  public Router(KvIndex index, RouterConfig config) {
    this.index = Objects.requireNonNull(index, "index");
    this.config = Objects.requireNonNull(config, "config");
    this.match = new PrefixMatch(index);
  }

  public Router(KvIndex index) {
    this(index, RouterConfig.defaults());
  }

  @Override
  public void updateLoad(WorkerLoad load) {
    workers.update(load);
  }

  @Override
  public void release(Reservation reservation) {
    workers.release(reservation);
  }

  @Override
  public void removeWorker(String workerId) {
    workers.remove(workerId);
  }

  @Override
  public RouteDecision route(RouteRequest request, Set<String> excluded) {
    index.longestPrefix(request.blockHashes(), request.numBlocks(), match);
    WorkerTable.Entry best = null;
    double bestCost = Double.POSITIVE_INFINITY;
    int bestCached = 0;
    int bestFootprint = 0;
    long bestUncached = 0;
    int mostFree = Integer.MIN_VALUE;
    int neededThere = 0;
    boolean anyCouldFit = false;
    boolean anyExcluded = false;
    for (WorkerTable.Entry e : workers.sorted()) {
      if (e.load.draining()) {
        continue;
      }
      if (excluded.contains(e.load.workerId())) {
        anyExcluded = true;
        continue;
      }
      cost(e, request, scratch);
      if (scratch.footprintBlocks > e.load.totalBlocks()) {
        continue;
      }
      anyCouldFit = true;
      if (scratch.footprintBlocks > e.freeBlocks()) {
        if (e.freeBlocks() > mostFree) {
          mostFree = e.freeBlocks();
          neededThere = scratch.footprintBlocks;
        }
        continue;
      }
      double c = scratch.totalSeconds();
      if (best == null || c < bestCost || c == bestCost && scratch.cachedBlocks > bestCached) {
        best = e;
        bestCost = c;
        bestCached = scratch.cachedBlocks;
        bestFootprint = scratch.footprintBlocks;
        bestUncached = scratch.uncachedTokens;
      }
    }
    if (best != null) {
      Reservation reserved = WorkerTable.reserve(best, bestFootprint, bestUncached);
      return new RouteDecision.Route(best.load.workerId(), bestCost, bestCached, reserved);
    }
    if (anyCouldFit) {
      return new RouteDecision.Queue("no worker has room for the request's KV footprint now (the freest has "
          + mostFree + " free blocks and the request needs " + neededThere + ")");
    }
    return anyExcluded
        ? new RouteDecision.Queue("every worker that could take the request has just refused or failed it")
        : noWorkerCanTake(request);
  }

  /** The cost breakdown of {@code request} on {@code workerId} now (for tests and the admin view). */
  public WorkerCost costOf(String workerId, RouteRequest request) {
    WorkerTable.Entry e = workers.get(workerId);
    if (e == null) {
      throw new IllegalArgumentException("unknown worker " + workerId);
    }
    index.longestPrefix(request.blockHashes(), request.numBlocks(), match);
    Cost c = new Cost();
    cost(e, request, c);
    return new WorkerCost(workerId, c.cachedBlocks, c.uncachedTokens, c.queueWaitSeconds, c.prefillSeconds,
        c.decodeSlowdownSeconds, c.totalSeconds(), c.footprintBlocks, e.freeBlocks(), e.load.draining());
  }

  /** Fills {@code out} for worker {@code e}; {@link #match} must hold the request's prefix lookup. */
  private void cost(WorkerTable.Entry e, RouteRequest request, Cost out) {
    WorkerLoad load = e.load;
    int blockSize = request.blockSizeTokens();
    int prompt = request.promptTokens();
    boolean sameEpoch = index.epochOf(load.workerId(), ~load.epoch()) == load.epoch();
    int cachedBlocks = sameEpoch ? match.blocks(load.workerId()) : 0;
    long cachedTokens = Math.min((long) cachedBlocks * blockSize, (long) (prompt - 1) / blockSize * blockSize);
    long uncached = prompt - cachedTokens;
    long pending = load.pendingPrefillTokens() >= 0
        ? load.pendingPrefillTokens() + e.addedPendingTokens
        : (long) (load.waiting() + e.addedWaiting) * prompt;
    double prefillRate = rate(load.prefillTokensPerSecond(), workers.medianPrefillRate(),
        config.fallbackPrefillTokensPerSecond());
    double decodeRate = rate(load.decodeTokensPerSecond(), workers.medianDecodeRate(),
        config.fallbackDecodeTokensPerSecond());
    int budget = load.maxBatchTokens() > 0 ? load.maxBatchTokens() : config.defaultMaxBatchTokens();
    long perStep = Math.max(1, budget - load.running());
    long steps = (pending + uncached + perStep - 1) / perStep;
    out.cachedBlocks = (int) (cachedTokens / blockSize);
    out.uncachedTokens = uncached;
    out.queueWaitSeconds = pending / prefillRate;
    out.prefillSeconds = uncached / prefillRate;
    out.decodeSlowdownSeconds = load.running() * steps / decodeRate;
    int workerBlock = load.blockSizeTokens();
    out.footprintBlocks = WorkerTable.blocksFor((long) prompt + request.maxTokens(), workerBlock)
        - (int) (cachedTokens / workerBlock);
  }

  private static double rate(double reported, double peersMedian, double fallback) {
    double measured = WorkerLoad.measured(reported);
    return measured > 0 ? measured : peersMedian > 0 ? peersMedian : fallback;
  }

  private RouteDecision noWorkerCanTake(RouteRequest request) {
    int largest = 0;
    boolean any = false;
    for (WorkerTable.Entry e : workers.sorted()) {
      if (!e.load.draining()) {
        any = true;
        largest = Math.max(largest, e.load.totalBlocks() * e.load.blockSizeTokens());
      }
    }
    if (!any) {
      return new RouteDecision.Reject("no worker is available (none has reported, or all are draining)");
    }
    return new RouteDecision.Reject("the prompt (" + request.promptTokens() + " tokens) plus max_tokens ("
        + request.maxTokens() + ") exceeds every worker's KV cache (the largest holds " + largest + " tokens)");
  }

  /** The per-worker terms of one evaluation (reused: no allocation per route). */
  private static final class Cost {
    int cachedBlocks;
    long uncachedTokens;
    double queueWaitSeconds;
    double prefillSeconds;
    double decodeSlowdownSeconds;
    int footprintBlocks;

    double totalSeconds() {
      return queueWaitSeconds + prefillSeconds + decodeSlowdownSeconds;
    }
  }
}
