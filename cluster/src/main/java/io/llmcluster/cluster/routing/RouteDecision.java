package io.llmcluster.cluster.routing;

/** What a {@link RoutingPolicy} decided for one request. Local to the gateway (it does not travel). */
public sealed interface RouteDecision {
  /**
   * Send the request to {@code workerId}.
   *
   * @param costSeconds  the predicted time to the first token there (0 for policies that do not predict)
   * @param cachedBlocks leading prompt blocks the directory says the worker holds (0 when not looked up)
   * @param reservation  what the route reserved on the worker (give it back through {@link RoutingPolicy#release}
   *                     when the request ends); null when nothing was reserved
   */
  record Route(String workerId, double costSeconds, int cachedBlocks, Reservation reservation)
      implements RouteDecision {
    /** A route that reserved nothing. */
    public Route(String workerId, double costSeconds, int cachedBlocks) {
      this(workerId, costSeconds, cachedBlocks, null);
    }
  }

  /**
   * Some worker could take the request but none has room for its KV footprint now: the gateway keeps it in
   * its bounded queue and routes it again when a load report shows room (a full queue answers 429).
   */
  record Queue(String reason) implements RouteDecision {}

  /** No worker can take the request at all (none available, or its footprint exceeds every pool): 503/400. */
  record Reject(String reason) implements RouteDecision {}
}
