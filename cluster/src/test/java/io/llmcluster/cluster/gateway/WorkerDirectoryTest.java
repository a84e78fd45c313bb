package io.llmcluster.cluster.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.cluster.routing.RouteDecision;
import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.cluster.worker.WorkerReport;
import io.llmcluster.kv.KvEvent;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.kv.KvIndex;
import io.llmcluster.kv.KvSnapshot;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Membership decides what the directory keeps: listed and reachable workers only. */
class WorkerDirectoryTest {
  private static final String NODE_A = "pekko://llmc@10.0.0.1:25520";
  private static final String NODE_B = "pekko://llmc@10.0.0.2:25520";

  private final WorkerDirectory dir = new WorkerDirectory(new KvIndex());

  private static KvEventBatch stored(String worker, long seq, long... hashes) {
    return new KvEventBatch(worker, new KvEvent[] {new KvEvent.BlockStored(7, seq, 0, hashes, 16)});
  }

  private static WorkerReport report(String worker) {
    return new WorkerReport(new WorkerLoad(worker, 7, 0, 0, -1, 10, 10, 16, 512, 0, 0, false), "ready", 0, 8, 0, 0, 0,
        "cpu", 2048, 0, 0);
  }

  @Test
  void shouldAskNewlyListedWorkersForASnapshotAndDropEventsOfUnlistedOnes() {
    assertEquals(List.of("w1"), dir.onListing(Map.of("w1", NODE_A)));
    assertNull(dir.onEvents(stored("w2", 1, 11)));
    assertEquals(KvIndex.SyncStatus.IN_SYNC, dir.onEvents(stored("w1", 1, 11, 12)));
    assertEquals(2, dir.index().blocksOf("w1"));
    assertFalse(dir.index().hasWorker("w2"));
    assertEquals(1, dir.view().droppedMessages());
    assertEquals(List.of(), dir.onListing(Map.of("w1", NODE_A)));
  }

  @Test
  void shouldAskForASnapshotOnAGapAndApplyIt() {
    dir.onListing(Map.of("w1", NODE_A));
    assertEquals(KvIndex.SyncStatus.NEEDS_SNAPSHOT, dir.onEvents(stored("w1", 5, 11)));
    assertEquals(List.of("w1"), dir.awaitingSnapshot());
    assertEquals(KvIndex.SyncStatus.IN_SYNC, dir.onSnapshot(new KvSnapshot("w1", 7, 5, new long[] {10, 11})));
    assertEquals(List.of(), dir.awaitingSnapshot());
    assertEquals(2, dir.index().blocksOf("w1"));
  }

  @Test
  void shouldDropAWorkersEntriesAndReportWhenItsNodeLeaves() {
    dir.onListing(Map.of("w1", NODE_A, "w2", NODE_B));
    dir.onEvents(stored("w1", 1, 11));
    dir.onEvents(stored("w2", 1, 11, 12));
    assertTrue(dir.onReport(report("w1")));
    assertTrue(dir.onReport(report("w2")));
    assertEquals(List.of("w2"), dir.onNodeRemoved(NODE_B));
    assertFalse(dir.index().hasWorker("w2"));
    assertTrue(dir.index().hasWorker("w1"));
    assertEquals(1, dir.view().reports().size());
    assertFalse(dir.onReport(report("w2")));
    assertNull(dir.onEvents(stored("w2", 2, 13)));
  }

  @Test
  void shouldDropAnUnreachableNodesWorkersAndTakeThemBackWhenReachable() {
    dir.onListing(Map.of("w1", NODE_A, "w2", NODE_B));
    dir.onEvents(stored("w2", 1, 11));
    assertEquals(List.of("w2"), dir.onUnreachable(NODE_B));
    assertFalse(dir.isMember("w2"));
    assertFalse(dir.index().hasWorker("w2"));
    assertEquals(List.of(), dir.onListing(Map.of("w1", NODE_A, "w2", NODE_B)));
    assertEquals(List.of("w2"), dir.onReachable(NODE_B));
    assertTrue(dir.isMember("w2"));
    assertEquals(Map.of("w1", NODE_A, "w2", NODE_B), dir.view().workerNodes());
  }

  @Test
  void shouldRouteToThePrefixHolderAndAwayFromItOnceItsNodeLeft() {
    dir.onListing(Map.of("w1", NODE_A, "w2", NODE_B));
    dir.onEvents(stored("w2", 1, 11, 12));
    dir.onReport(report("w1"));
    dir.onReport(report("w2"));
    RouteRequest request = RouteRequest.of(new long[] {11, 12}, 16, 40, 8);
    RouteDecision.Route first = (RouteDecision.Route) dir.route(request); // reserves on w2 until its next report
    assertEquals("w2", first.workerId());
    assertEquals(2, first.cachedBlocks());
    dir.onNodeRemoved(NODE_B);
    RouteDecision after = dir.route(request);
    assertEquals("w1", ((RouteDecision.Route) after).workerId());
    assertEquals(0, ((RouteDecision.Route) after).cachedBlocks());
  }

  @Test
  void shouldForgetAWorkerThatIsNoLongerListed() {
    dir.onListing(Map.of("w1", NODE_A, "w2", NODE_B));
    dir.onEvents(stored("w2", 1, 11));
    dir.onListing(Map.of("w1", NODE_A));
    assertFalse(dir.isMember("w2"));
    assertFalse(dir.index().hasWorker("w2"));
  }
}
