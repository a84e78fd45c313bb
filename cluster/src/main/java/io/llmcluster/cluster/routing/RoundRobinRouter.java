package io.llmcluster.cluster.routing;

/**
 * The baseline the benchmark compares {@link Router} with: workers in turn (in id order), ignoring the KV
 * directory and the load, but with the same memory-pressure fallback (a draining worker or one without room
 * for the request's whole footprint, {@code ceil((P + maxTokens) / B)} blocks, is passed over; none with room:
 * {@link RouteDecision.Queue}; none that could ever hold it: {@link RouteDecision.Reject}). It predicts nothing:
 * its routes carry cost 0 and 0 cached blocks.
 */
public final class RoundRobinRouter implements RoutingPolicy {
  private final WorkerTable workers = new WorkerTable();
  /** The position in id order of the next worker to try. */
  private int next;

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
    WorkerTable.Entry e = workers.get(workerId);
    if (e != null && workers.remove(workerId) && e.position < next) {
      next--; // the workers after it moved down one place
    }
  }

  @Override
  public RouteDecision route(RouteRequest request, java.util.Set<String> excluded) {
    WorkerTable.Entry[] all = workers.sorted();
    boolean anyCouldFit = false;
    for (int i = 0; i < all.length; i++) {
      WorkerTable.Entry e = all[(next + i) % all.length];
      if (e.load.draining()) {
        continue;
      }
      if (excluded.contains(e.load.workerId())) {
        anyCouldFit = true; // it may take the request later: queue rather than reject
        continue;
      }
      int footprint =
          WorkerTable.blocksFor((long) request.promptTokens() + request.maxTokens(), e.load.blockSizeTokens());
      if (footprint > e.load.totalBlocks()) {
        continue;
      }
      anyCouldFit = true;
      if (footprint <= e.freeBlocks()) {
        next = (e.position + 1) % all.length;
        return new RouteDecision.Route(e.load.workerId(), 0, 0, WorkerTable.reserve(e, footprint, 0));
      }
    }
    return anyCouldFit
        ? new RouteDecision.Queue("no worker has room for the request's KV footprint now")
        : new RouteDecision.Reject("no worker can hold the request (none available, or prompt + max_tokens "
            + "exceeds every worker's KV cache)");
  }
}
