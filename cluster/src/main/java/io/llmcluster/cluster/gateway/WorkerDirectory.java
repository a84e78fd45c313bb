package io.llmcluster.cluster.gateway;

import io.llmcluster.cluster.routing.RouteDecision;
import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.cluster.routing.Router;
import io.llmcluster.cluster.routing.Reservation;
import io.llmcluster.cluster.routing.RoutingPolicy;
import io.llmcluster.cluster.worker.WorkerReport;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.kv.KvIndex;
import io.llmcluster.kv.KvIndexStats;
import io.llmcluster.kv.KvSnapshot;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The gateway's view of the cluster's workers, the policy the {@link KvDirectory} actor is a thin shell around:
 * the KV directory replica ({@link KvIndex}) and the routing policy over it and the reports, which worker lives on which node (from the Receptionist's
 * listing), which nodes are unreachable (from cluster membership) and each worker's latest report. A worker
 * counts as a member while it is listed and its node is reachable; events, snapshots and reports of
 * non-members are dropped (late messages of a worker that left), and a worker's entries go when it stops being
 * a member. Plain single-threaded Java; node addresses are strings.
 */
public final class WorkerDirectory {
    private final KvIndex index;
    private final RoutingPolicy router;
    private final Map<String, String> listed = new TreeMap<>();       // worker id -> node address
    private final Set<String> unreachable = new HashSet<>();          // node addresses
    private final Map<String, WorkerReport> reports = new TreeMap<>();
    private long droppedMessages;
    private long lastEventsApplied;
    private long lastRateNs;
    private double eventsPerSecond;

    /** A directory whose routing policy is the KV-aware {@link Router} over {@code index}. */
    public WorkerDirectory(KvIndex index) {
        this(index, new Router(index));
    }

    /** A directory over {@code index}; {@code router} must read the same index (or none: round robin). */
    public WorkerDirectory(KvIndex index, RoutingPolicy router) {
        this.index = index;
        this.router = router;
    }

    /** Where {@code request} should go among the member workers (reports and cached prefixes so far). */
    public RouteDecision route(RouteRequest request) {
        return router.route(request);
    }

    /** {@link #route(RouteRequest)} without the workers in {@code excluded}. */
    public RouteDecision route(RouteRequest request, Set<String> excluded) {
        return router.route(request, excluded);
    }

    /** Gives back what a route reserved, the request having ended (see {@link RoutingPolicy#release}). */
    public void release(Reservation reservation) {
        router.release(reservation);
    }

    /**
     * What a gateway plans requests against: how many member workers have reported and the shortest context
     * among them (a request must fit whichever worker it lands on); 0 and 0 before any report.
     */
    public Capacity capacity() {
        int members = 0;
        int minLen = Integer.MAX_VALUE;
        for (WorkerReport r : reports.values()) {
            if (r.maxModelLen() > 0) {
                members++;
                minLen = Math.min(minLen, r.maxModelLen());
            }
        }
        return new Capacity(members, members == 0 ? 0 : minLen);
    }

    /**
     * @param reportedWorkers member workers with a report
     * @param maxModelLen     the shortest context among them (0 when there are none)
     */
    public record Capacity(int reportedWorkers, int maxModelLen) {}

    public KvIndex index() {
        return index;
    }

    /** Whether {@code workerId} is listed and its node reachable. */
    public boolean isMember(String workerId) {
        String node = listed.get(workerId);
        return node != null && !unreachable.contains(node);
    }

    /**
     * The Receptionist's listing changed: workers no longer listed are dropped.
     *
     * @param workers worker id -> node address, the whole listing
     * @return the workers that became members (ask each for a snapshot)
     */
    public List<String> onListing(Map<String, String> workers) {
        List<String> gone = new ArrayList<>();
        for (String id : listed.keySet()) {
            if (!workers.containsKey(id)) {
                gone.add(id);
            }
        }
        gone.forEach(id -> {
            drop(id);
            listed.remove(id);
        });
        List<String> added = new ArrayList<>();
        for (Map.Entry<String, String> e : workers.entrySet()) {
            if (!listed.containsKey(e.getKey()) && !unreachable.contains(e.getValue())) {
                added.add(e.getKey());
            }
        }
        listed.putAll(workers);
        return added;
    }

    /** A node left the cluster (exited, removed, downed): its workers are dropped and forgotten. */
    public List<String> onNodeRemoved(String node) {
        List<String> gone = workersOn(node);
        gone.forEach(id -> {
            drop(id);
            listed.remove(id);
        });
        unreachable.remove(node);
        return gone;
    }

    /** A node became unreachable: its workers' entries are dropped until it is reachable again. */
    public List<String> onUnreachable(String node) {
        unreachable.add(node);
        List<String> gone = workersOn(node);
        gone.forEach(this::drop);
        return gone;
    }

    /** A node is reachable again: its listed workers are members again (ask each for a snapshot). */
    public List<String> onReachable(String node) {
        return unreachable.remove(node) ? workersOn(node) : List.of();
    }

    /** A batch of KV events; null when dropped (not a member), else where the worker's entries stand. */
    public KvIndex.SyncStatus onEvents(KvEventBatch batch) {
        if (!isMember(batch.workerId())) {
            droppedMessages++;
            return null;
        }
        return index.apply(batch);
    }

    /** A snapshot a worker sent back; null when dropped. */
    public KvIndex.SyncStatus onSnapshot(KvSnapshot snapshot) {
        if (!isMember(snapshot.workerId())) {
            droppedMessages++;
            return null;
        }
        return index.applySnapshot(snapshot);
    }

    /** A worker's load report; false when dropped. */
    public boolean onReport(WorkerReport report) {
        if (!isMember(report.load().workerId())) {
            droppedMessages++;
            return false;
        }
        reports.put(report.load().workerId(), report);
        router.updateLoad(report.load());
        return true;
    }

    /** Members whose entries await a snapshot (the retry timer asks them again). */
    public List<String> awaitingSnapshot() {
        List<String> out = new ArrayList<>();
        for (String id : index.workersAwaitingSnapshot()) {
            if (isMember(id)) {
                out.add(id);
            }
        }
        return out;
    }

    /** Updates the events-per-second rate (call every tick). */
    public void tick(long nowNs) {
        long applied = index.stats().eventsApplied();
        if (lastRateNs != 0 && nowNs > lastRateNs) {
            eventsPerSecond = (applied - lastEventsApplied) * 1e9 / (nowNs - lastRateNs);
        }
        lastEventsApplied = applied;
        lastRateNs = nowNs;
    }

    /** What the admin API shows. */
    public DirectoryView view() {
        Map<String, String> members = new TreeMap<>();
        Map<String, String> sync = new TreeMap<>();
        Map<String, Integer> blocks = new TreeMap<>();
        for (String id : listed.keySet()) {
            if (isMember(id)) {
                members.put(id, listed.get(id));
                sync.put(id, index.statusOf(id).name().toLowerCase(java.util.Locale.ROOT));
                blocks.put(id, index.blocksOf(id));
            }
        }
        return new DirectoryView(index.stats(), eventsPerSecond, droppedMessages, members, sync, blocks,
                new ArrayList<>(reports.values()));
    }

    private List<String> workersOn(String node) {
        List<String> out = new ArrayList<>();
        listed.forEach((id, n) -> {
            if (n.equals(node)) {
                out.add(id);
            }
        });
        return out;
    }

    private void drop(String workerId) {
        index.removeWorker(workerId);
        reports.remove(workerId);
        router.removeWorker(workerId);
    }

    /**
     * The directory as the admin API shows it.
     *
     * @param workerNodes    member worker id -> node address
     * @param syncStatus     member worker id -> in_sync, needs_snapshot, awaiting_snapshot
     * @param workerBlocks   member worker id -> cached blocks the directory holds for it
     * @param droppedMessages events, snapshots and reports of non-members dropped so far
     */
    public record DirectoryView(KvIndexStats stats, double eventsPerSecond, long droppedMessages,
                                Map<String, String> workerNodes, Map<String, String> syncStatus,
                                Map<String, Integer> workerBlocks, List<WorkerReport> reports) {}
}
