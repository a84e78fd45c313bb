package io.llmcluster.cluster.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RoundRobinRouterTest {
  private static final RouteRequest REQUEST = RouteRequest.of(new long[] {1, 2}, 16, 40, 24); // 4 blocks
  private final RoundRobinRouter router = new RoundRobinRouter();

  private static WorkerLoad load(String id, int freeBlocks, boolean draining) {
    return new WorkerLoad(id, 1, 0, 0, 0, freeBlocks, 100, 16, 512, 1000, 100, draining);
  }

  /** The router's decision with the route's reservation left out, to compare with an expected route. */
  private RouteDecision decide(RouteRequest request) {
    return decide(request, java.util.Set.of());
  }

  private RouteDecision decide(RouteRequest request, java.util.Set<String> excluded) {
    RouteDecision d = router.route(request, excluded);
    return d instanceof RouteDecision.Route r ? new RouteDecision.Route(r.workerId(), r.costSeconds(), r.cachedBlocks()) : d;
  }

  private List<String> route(int times) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < times; i++) {
      RouteDecision d = router.route(REQUEST);
      out.add(d instanceof RouteDecision.Route r ? r.workerId() : d.getClass().getSimpleName());
    }
    return out;
  }

  @Test
  void shouldTakeWorkersInTurnInIdOrder() {
    router.updateLoad(load("c", 100, false));
    router.updateLoad(load("a", 100, false));
    router.updateLoad(load("b", 100, false));
    assertEquals(List.of("a", "b", "c", "a", "b"), route(5));
    assertEquals(new RouteDecision.Route("c", 0, 0), decide(REQUEST));
  }

  @Test
  void shouldPassOverDrainingAndFullWorkersAndQueueWhenAllAreFull() {
    router.updateLoad(load("a", 100, true));
    router.updateLoad(load("b", 8, false)); // room for two requests of 4 blocks until its next report
    router.updateLoad(load("c", 3, false));
    assertEquals(List.of("b", "b", "Queue"), route(3));
    router.updateLoad(load("c", 100, false));
    assertEquals(List.of("c"), route(1));
  }

  @Test
  void shouldGiveBackAReservationWhenTheRequestEnds() {
    router.updateLoad(load("b", 8, false));
    RouteDecision.Route first = (RouteDecision.Route) router.route(REQUEST);
    assertEquals(new Reservation("b", 1, 4, 0), first.reservation());
    assertEquals(List.of("b", "Queue"), route(2));
    router.release(first.reservation());
    assertEquals(List.of("b", "Queue"), route(2));
  }

  @Test
  void shouldRejectWhenNoWorkerCanEverHoldTheRequest() {
    assertInstanceOf(RouteDecision.Reject.class, router.route(REQUEST));
    router.updateLoad(load("a", 100, true));
    assertInstanceOf(RouteDecision.Reject.class, router.route(REQUEST));
  }

  @Test
  void shouldKeepTheTurnWhenAnEarlierWorkerLeaves() {
    router.updateLoad(load("a", 100, false));
    router.updateLoad(load("b", 100, false));
    router.updateLoad(load("c", 100, false));
    assertEquals(List.of("a", "b"), route(2));
    router.removeWorker("a");
    assertEquals(List.of("c", "b"), route(2));
  }

  @Test
  void shouldSkipExcludedWorkersWithoutLosingTheirTurnAndQueueWhenAllAreExcluded() {
    router.updateLoad(load("a", 100, false));
    router.updateLoad(load("b", 100, false));
    assertEquals(new RouteDecision.Route("b", 0, 0), decide(REQUEST, java.util.Set.of("a")));
    assertEquals(new RouteDecision.Route("a", 0, 0), decide(REQUEST));
    assertInstanceOf(RouteDecision.Queue.class, router.route(REQUEST, java.util.Set.of("a", "b")));
  }
}
