package io.llmcluster.cluster.routing;

/**
 * Picks the worker for each request from the workers' load reports. Single-threaded policy: the gateway's
 * router actor calls it from its own mailbox only. Implementations: {@link Router} (KV-aware, load-aware) and
 * {@link RoundRobinRouter} (the baseline the benchmark compares it with).
 */
public interface RoutingPolicy {
  /** Records a worker's latest report (a new worker joins the candidates); drops what was reserved on it. */
  void updateLoad(WorkerLoad load);

  /**
   * Gives back what a route reserved (the request ended): exact while no newer report of that worker came in, a
   * no-op after one (the report already shows the request) or for a worker that left.
   */
  void release(Reservation reservation);

  /** Forgets a worker (it left or became unreachable): it is no longer a candidate. */
  void removeWorker(String workerId);

  /** Decides where {@code request} goes; a {@link RouteDecision.Route} reserves its KV footprint on the worker. */
  default RouteDecision route(RouteRequest request) {
    return route(request, java.util.Set.of());
  }

  /**
   * {@link #route(RouteRequest)} among the workers not in {@code excluded} (a request being re-routed skips the
   * workers that failed it or refused it); with every candidate excluded the decision is
   * {@link RouteDecision.Queue} (the excluded ones may take it later), never a route to an excluded worker.
   */
  RouteDecision route(RouteRequest request, java.util.Set<String> excluded);
}
