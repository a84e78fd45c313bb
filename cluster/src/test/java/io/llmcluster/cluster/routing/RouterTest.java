package io.llmcluster.cluster.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmcluster.kv.KvEvent;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.kv.KvIndex;
import org.junit.jupiter.api.Test;

/**
 * Exact choices and cost terms on constructed states. Blocks of 16 tokens; a 100-token prompt (6 full blocks)
 * generating at most 28 tokens: 8 blocks of footprint, 4 of them shared when a worker holds the first 4.
 */
class RouterTest {
  private static final int BLOCK = 16;
  private static final long EPOCH = 7;
  private static final long[] CHAIN = {11, 12, 13, 14, 15, 16};
  private static final RouteRequest REQUEST = RouteRequest.of(CHAIN, BLOCK, 100, 28);

  private final KvIndex index = new KvIndex();
  private final Router router = new Router(index);

  /** A worker with the given queue and batch, 100 blocks, 1000 prefill and 100 decode tokens/s, budget 512. */
  private static WorkerLoad load(String id, int running, long pendingTokens, int freeBlocks) {
    return new WorkerLoad(id, EPOCH, running, 0, pendingTokens, freeBlocks, 100, BLOCK, 512, 1000, 100, false);
  }

  private static WorkerLoad rates(String id, double prefill, double decode) {
    return new WorkerLoad(id, EPOCH, 0, 0, 0, 100, 100, BLOCK, 512, prefill, decode, false);
  }

  private static WorkerLoad draining(WorkerLoad l) {
    return new WorkerLoad(l.workerId(), l.epoch(), l.running(), l.waiting(), l.pendingPrefillTokens(),
        l.freeBlocks(), l.totalBlocks(), l.blockSizeTokens(), l.maxBatchTokens(), l.prefillTokensPerSecond(),
        l.decodeTokensPerSecond(), true);
  }

  /** The router's decision with the route's reservation left out, to compare with an expected route. */
  private RouteDecision decide(RouteRequest request) {
    return decide(request, java.util.Set.of());
  }

  private RouteDecision decide(RouteRequest request, java.util.Set<String> excluded) {
    RouteDecision d = router.route(request, excluded);
    return d instanceof RouteDecision.Route r ? new RouteDecision.Route(r.workerId(), r.costSeconds(), r.cachedBlocks()) : d;
  }

  private void holds(String worker, long epoch, long... hashes) {
    index.apply(new KvEventBatch(worker, new KvEvent[] {new KvEvent.BlockStored(epoch, 1, 0, hashes, BLOCK)}));
  }

  @Test
  void shouldRouteToThePrefixHolderWhenItsCostIsLowest() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 0, 100));
    router.updateLoad(load("b", 0, 0, 100));

    assertEquals(new RouteDecision.Route("a", 36 / 1000.0, 4), decide(REQUEST));
    assertEquals(new WorkerCost("b", 0, 100, 0, 0.1, 0, 0.1, 8, 100, false), router.costOf("b", REQUEST));
  }

  @Test
  void shouldSendTheRequestToAnIdleWorkerWhenTheHoldersQueueCostsMoreThanThePrefixSaves() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 1000, 100)); // 1 s of prefills ahead
    router.updateLoad(load("b", 0, 0, 100));

    assertEquals(new RouteDecision.Route("b", 0.1, 0), decide(REQUEST));
    assertEquals(1.0 + 0.036, router.costOf("a", REQUEST).totalSeconds());
  }

  @Test
  void shouldWeighTheHoldersRunningBatchAgainstThePrefixItSaves() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("b", 0, 0, 100));

    router.updateLoad(load("a", 8, 0, 100)); // one step to the first token, carrying 8 decodes: 0.08 s
    assertEquals(new WorkerCost("a", 4, 36, 0, 0.036, 0.08, 0.036 + 0.08, 4, 100, false),
        router.costOf("a", REQUEST));
    assertEquals("b", ((RouteDecision.Route) router.route(REQUEST)).workerId());

    router.updateLoad(load("a", 4, 0, 100)); // 0.04 s: the prefix wins again
    assertEquals(new RouteDecision.Route("a", 0.036 + 0.04, 4), decide(REQUEST));
  }

  @Test
  void shouldCountTheStepsTheQueueAndPromptSpanForTheDecodeSlowdown() {
    router.updateLoad(new WorkerLoad("a", EPOCH, 12, 0, 1000, 100, 100, BLOCK, 100, 1000, 100, false));
    // (1000 pending + 100 uncached) / (100 budget - 12 running) = 12.5 -> 13 steps of 12 decodes at 100/s
    WorkerCost cost = router.costOf("a", REQUEST);
    assertEquals(12 * 13 / 100.0, cost.decodeSlowdownSeconds());
    assertEquals(1.0, cost.queueWaitSeconds());
  }

  @Test
  void shouldSkipAWorkerWithoutRoomForTheFootprint() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 0, 3)); // needs 8 - 4 shared = 4 blocks
    router.updateLoad(load("b", 0, 0, 100));

    assertEquals(new RouteDecision.Route("b", 0.1, 0), decide(REQUEST));

    router.updateLoad(load("a", 0, 0, 4));
    assertEquals("a", ((RouteDecision.Route) router.route(REQUEST)).workerId());
  }

  @Test
  void shouldQueueWhenEveryWorkerIsFull() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 0, 3));
    router.updateLoad(load("b", 0, 0, 7));

    assertEquals(new RouteDecision.Queue(
        "no worker has room for the request's KV footprint now (the freest has 7 free blocks and the request "
            + "needs 8)"), router.route(REQUEST));
  }

  @Test
  void shouldSkipDrainingWorkers() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(draining(load("a", 0, 0, 100)));
    router.updateLoad(load("b", 0, 0, 100));

    assertEquals(new RouteDecision.Route("b", 0.1, 0), decide(REQUEST));
  }

  @Test
  void shouldRejectWhenNoWorkerIsAvailable() {
    RouteDecision.Reject none = new RouteDecision.Reject(
        "no worker is available (none has reported, or all are draining)");
    assertEquals(none, router.route(REQUEST));
    router.updateLoad(draining(load("a", 0, 0, 100)));
    assertEquals(none, router.route(REQUEST));
  }

  @Test
  void shouldRejectARequestLargerThanEveryPool() {
    router.updateLoad(load("a", 0, 0, 100));
    RouteRequest huge = RouteRequest.of(CHAIN, BLOCK, 100, 1600 - 99); // 101 blocks
    assertEquals(new RouteDecision.Reject("the prompt (100 tokens) plus max_tokens (1501) exceeds every worker's KV "
        + "cache (the largest holds 1600 tokens)"), router.route(huge));
  }

  @Test
  void shouldUseThePeersMedianRateForAWorkerWithoutMeasurements() {
    router.updateLoad(rates("new", 0, Double.NaN));
    assertEquals(100 / 1000.0, router.costOf("new", REQUEST).prefillSeconds()); // nobody measured: fallback

    router.updateLoad(rates("b", 2000, 50));
    router.updateLoad(rates("c", 4000, 150));
    router.updateLoad(new WorkerLoad("new", EPOCH, 2, 0, 0, 100, 100, BLOCK, 0, 0, 0, false));

    WorkerCost cost = router.costOf("new", REQUEST);
    assertEquals(100 / 3000.0, cost.prefillSeconds()); // median of 2000 and 4000
    // budget unknown: 512; (0 + 100) / (512 - 2) -> 1 step of 2 decodes at the median 100/s
    assertEquals(2 / 100.0, cost.decodeSlowdownSeconds());
  }

  @Test
  void shouldEstimateTheQueueFromWaitingRequestsWhenPendingTokensAreNotReported() {
    router.updateLoad(new WorkerLoad("a", EPOCH, 0, 2, -1, 100, 100, BLOCK, 512, 1000, 100, false));
    assertEquals(2 * 100 / 1000.0, router.costOf("a", REQUEST).queueWaitSeconds());
    router.route(REQUEST); // a third request waiting now
    assertEquals(3 * 100 / 1000.0, router.costOf("a", REQUEST).queueWaitSeconds());
  }

  @Test
  void shouldReserveRoutedWorkUntilTheNextLoadReport() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 0, 100));
    router.updateLoad(load("b", 0, 0, 100));

    assertEquals(new RouteDecision.Route("a", 0.036, 4), decide(REQUEST));
    assertEquals(new RouteDecision.Route("a", 0.072, 4), decide(REQUEST)); // 36 tokens queued ahead
    assertEquals(new RouteDecision.Route("b", 0.1, 0), decide(REQUEST)); // a would be 0.108
    assertEquals(92, router.costOf("a", REQUEST).freeBlocks());

    router.updateLoad(load("a", 0, 0, 100));
    assertEquals(new RouteDecision.Route("a", 0.036, 4), decide(REQUEST));
  }

  @Test
  void shouldGiveBackAReservationWhenTheRequestEndsBeforeTheNextReport() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 0, 100));
    RouteDecision.Route first = (RouteDecision.Route) router.route(REQUEST);
    assertEquals(new Reservation("a", 1, 4, 36), first.reservation()); // 4 of its 8 blocks are the cached prefix
    assertEquals(96, router.costOf("a", REQUEST).freeBlocks());
    assertEquals(0.072, router.costOf("a", REQUEST).totalSeconds(), 1e-12); // 36 tokens queued ahead

    router.release(first.reservation()); // it ended: the worker is as its report says again
    assertEquals(100, router.costOf("a", REQUEST).freeBlocks());
    assertEquals(new RouteDecision.Route("a", 0.036, 4), decide(REQUEST));
  }

  @Test
  void shouldIgnoreAReservationMadeBeforeTheLatestReport() {
    router.updateLoad(load("a", 0, 0, 100));
    RouteDecision.Route old = (RouteDecision.Route) router.route(REQUEST);
    router.updateLoad(load("a", 0, 0, 90)); // this report already counts the request
    router.route(REQUEST);
    assertEquals(82, router.costOf("a", REQUEST).freeBlocks());
    router.release(old.reservation());
    assertEquals(82, router.costOf("a", REQUEST).freeBlocks());
    router.release(new Reservation("gone", 1, 8, 100)); // a worker that left: nothing to give back
    assertEquals(82, router.costOf("a", REQUEST).freeBlocks());
  }

  @Test
  void shouldBreakTiesByWorkerId() {
    router.updateLoad(load("w2", 0, 0, 100));
    router.updateLoad(load("w1", 0, 0, 100));
    router.updateLoad(load("w3", 0, 0, 100));
    assertEquals(new RouteDecision.Route("w1", 0.1, 0), decide(RouteRequest.of(CHAIN, BLOCK, 100, 0)));
  }

  @Test
  void shouldNotReuseTheBlockOfThePromptsLastToken() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 0, 100));
    RouteRequest fourBlocks = new RouteRequest(CHAIN, 4, BLOCK, 64, 0);
    WorkerCost cost = router.costOf("a", fourBlocks);
    assertEquals(3, cost.cachedBlocks());
    assertEquals(16, cost.uncachedTokens());
    assertEquals(1, cost.footprintBlocks());
  }

  @Test
  void shouldIgnoreTheDirectoryWhileItFollowsAnotherEpochOfTheWorker() {
    holds("a", EPOCH - 1, 11, 12, 13, 14); // the directory has not seen the restart yet
    router.updateLoad(load("a", 0, 0, 100));
    assertEquals(0, router.costOf("a", REQUEST).cachedBlocks());
  }

  @Test
  void shouldForgetARemovedWorker() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 0, 100));
    router.updateLoad(load("b", 0, 0, 100));
    router.removeWorker("a");
    assertEquals(new RouteDecision.Route("b", 0.1, 0), decide(REQUEST));
  }

  @Test
  void shouldPassOverExcludedWorkersAndQueueWhenOnlyThoseCouldTakeTheRequest() {
    holds("a", EPOCH, 11, 12, 13, 14);
    router.updateLoad(load("a", 0, 0, 100));
    router.updateLoad(load("b", 0, 0, 100));

    assertEquals(new RouteDecision.Route("b", 0.1, 0), decide(REQUEST, java.util.Set.of("a")));
    assertEquals(new RouteDecision.Queue("every worker that could take the request has just refused or failed it"),
        router.route(REQUEST, java.util.Set.of("a", "b")));
    assertEquals(new RouteDecision.Route("a", 36 / 1000.0, 4), decide(REQUEST, java.util.Set.of("c")));
  }
}
