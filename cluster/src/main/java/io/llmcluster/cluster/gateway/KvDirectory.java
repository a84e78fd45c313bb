package io.llmcluster.cluster.gateway;

import io.llmcluster.cluster.ClusterKeys;
import io.llmcluster.cluster.routing.Reservation;
import io.llmcluster.cluster.routing.RouteDecision;
import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.cluster.worker.WorkerReport;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.kv.KvIndex;
import io.llmcluster.kv.KvSnapshot;
import io.llmcluster.kv.KvSnapshotRequest;
import io.llmcluster.cluster.routing.RoundRobinRouter;
import io.llmcluster.cluster.routing.Router;
import io.llmcluster.cluster.worker.Batcher;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * A gateway's replica of the cluster-wide KV directory and its routing decisions ({@link Route}: the router reads
 * the directory's index, so both live in one actor), a thin shell around {@link WorkerDirectory}: subscribes
 * to the workers' KV event batches and load reports (pub-sub topics), to the Receptionist's worker listing and
 * to cluster membership; asks a worker for its {@link KvSnapshot} when it joins and whenever the index says
 * {@code NEEDS_SNAPSHOT} (again every tick while one is awaited); drops a worker's entries when its node leaves
 * or becomes unreachable.
 */
public final class KvDirectory extends AbstractBehavior<KvDirectory.Command> {

    /** The directory's protocol. */
    public sealed interface Command {}

    /** Asks for the directory as the admin API shows it. */
    public record GetView(ActorRef<WorkerDirectory.DirectoryView> replyTo) implements Command {}

    /**
     * Asks where a request should go: the routing policy's decision over the directory's cached prefixes and the
     * workers' latest reports (local to the gateway: the request's chain is a {@code long[]} that never travels).
     *
     * @param excluded workers not to route to (they failed or refused this request)
     */
    public record Route(RouteRequest request, java.util.Set<String> excluded, ActorRef<RouteReply> replyTo)
            implements Command {
        public Route(RouteRequest request, ActorRef<RouteReply> replyTo) {
            this(request, java.util.Set.of(), replyTo);
        }
    }

    /**
     * The answer to {@link Route}.
     *
     * @param worker  the chosen worker's reference for a {@link RouteDecision.Route}, else null
     * @param members member workers that have reported (0: nobody to route to yet)
     */
    public record RouteReply(RouteDecision decision, ActorRef<Batcher.Command> worker, int members) {}

    /** Asks for the member workers' count and shortest context ({@link WorkerDirectory#capacity}). */
    /** A routed request ended: its route's reservation no longer counts against the worker (no reply). */
    public record Release(Reservation reservation) implements Command {}

    public record GetCapacity(ActorRef<WorkerDirectory.Capacity> replyTo) implements Command {}

    /** Asks for a member worker's reference by id (admin: drain). */
    public record FindWorker(String workerId, ActorRef<FoundWorker> replyTo) implements Command {}

    /** The answer to {@link FindWorker}: null when no member worker has that id. */
    public record FoundWorker(String workerId, ActorRef<Batcher.Command> worker) {}

    private record EventsPublished(KvEventBatch batch) implements Command {}

    private record ReportPublished(WorkerReport report) implements Command {}

    private record SnapshotReceived(KvSnapshot snapshot) implements Command {}

    private record WorkersListed(Receptionist.Listing listing) implements Command {}

    private record MemberChanged(ClusterEvent.MemberEvent event) implements Command {}

    private record ReachabilityChanged(ClusterEvent.ReachabilityEvent event) implements Command {}

    private enum Tick implements Command { INSTANCE }

    private final WorkerDirectory directory;
    private final Map<String, ActorRef<Batcher.Command>> refs = new HashMap<>();
    private final ActorRef<KvSnapshot> snapshotAdapter;
    private final Address selfAddress;

    /**
     * @param kvEvents the node's KV events topic
     * @param reports  the node's worker reports topic
     * @param tick     how often snapshots still awaited are asked for again and events/s is measured
     */
    public static Behavior<Command> create(ActorRef<Topic.Command<KvEventBatch>> kvEvents,
                                           ActorRef<Topic.Command<WorkerReport>> reports, Duration tick) {
        return create(kvEvents, reports, tick, GatewaySettings.RouterKind.KV);
    }

    /** A replica whose routing decisions are {@code router}'s. */
    public static Behavior<Command> create(ActorRef<Topic.Command<KvEventBatch>> kvEvents,
                                           ActorRef<Topic.Command<WorkerReport>> reports, Duration tick,
                                           GatewaySettings.RouterKind router) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(Tick.INSTANCE, tick);
            return new KvDirectory(ctx, kvEvents, reports, router);
        }));
    }

    private KvDirectory(ActorContext<Command> ctx, ActorRef<Topic.Command<KvEventBatch>> kvEvents,
                        ActorRef<Topic.Command<WorkerReport>> reports, GatewaySettings.RouterKind router) {
        super(ctx);
        KvIndex index = new KvIndex();
        this.directory = new WorkerDirectory(index, router == GatewaySettings.RouterKind.KV
                ? new Router(index) : new RoundRobinRouter());
        this.snapshotAdapter = ctx.messageAdapter(KvSnapshot.class, SnapshotReceived::new);
        kvEvents.tell(Topic.subscribe(ctx.messageAdapter(KvEventBatch.class, EventsPublished::new)));
        reports.tell(Topic.subscribe(ctx.messageAdapter(WorkerReport.class, ReportPublished::new)));
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(ClusterKeys.WORKERS,
                ctx.messageAdapter(Receptionist.Listing.class, WorkersListed::new)));
        Cluster cluster = Cluster.get(ctx.getSystem());
        this.selfAddress = cluster.selfMember().address();
        cluster.subscriptions().tell(Subscribe.create(
                ctx.messageAdapter(ClusterEvent.MemberEvent.class, MemberChanged::new), ClusterEvent.MemberEvent.class));
        cluster.subscriptions().tell(Subscribe.create(
                ctx.messageAdapter(ClusterEvent.ReachabilityEvent.class, ReachabilityChanged::new),
                ClusterEvent.ReachabilityEvent.class));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(GetView.class, this::onGetView)
                .onMessage(Route.class, this::onRoute)
                .onMessage(Release.class, this::onRelease)
                .onMessage(GetCapacity.class, this::onGetCapacity)
                .onMessage(FindWorker.class, this::onFindWorker)
                .onMessage(EventsPublished.class, this::onEventsPublished)
                .onMessage(ReportPublished.class, this::onReportPublished)
                .onMessage(SnapshotReceived.class, this::onSnapshotReceived)
                .onMessage(WorkersListed.class, this::onWorkersListed)
                .onMessage(MemberChanged.class, this::onMemberChanged)
                .onMessage(ReachabilityChanged.class, this::onReachabilityChanged)
                .onMessage(Tick.class, this::onTick)
                .build();
    }

    private Behavior<Command> onGetView(GetView g) {
        g.replyTo().tell(directory.view());
        return this;
    }

    private Behavior<Command> onRoute(Route r) {
        RouteDecision d = directory.route(r.request(), r.excluded());
        ActorRef<Batcher.Command> worker = d instanceof RouteDecision.Route route ? refs.get(route.workerId()) : null;
        r.replyTo().tell(new RouteReply(d, worker, directory.capacity().reportedWorkers()));
        return this;
    }

    private Behavior<Command> onRelease(Release r) {
        directory.release(r.reservation());
        return this;
    }

    private Behavior<Command> onGetCapacity(GetCapacity g) {
        g.replyTo().tell(directory.capacity());
        return this;
    }

    private Behavior<Command> onFindWorker(FindWorker f) {
        ActorRef<Batcher.Command> ref = directory.isMember(f.workerId()) ? refs.get(f.workerId()) : null;
        f.replyTo().tell(new FoundWorker(f.workerId(), ref));
        return this;
    }

    private Behavior<Command> onEventsPublished(EventsPublished e) {
        if (directory.onEvents(e.batch()) == KvIndex.SyncStatus.NEEDS_SNAPSHOT) {
            askSnapshot(e.batch().workerId());
        }
        return this;
    }

    private Behavior<Command> onReportPublished(ReportPublished r) {
        directory.onReport(r.report());
        return this;
    }

    private Behavior<Command> onSnapshotReceived(SnapshotReceived s) {
        directory.onSnapshot(s.snapshot());
        return this;
    }

    private Behavior<Command> onWorkersListed(WorkersListed l) {
        Map<String, String> workers = new HashMap<>();
        refs.clear();
        for (ActorRef<Batcher.Command> ref : l.listing().getServiceInstances(ClusterKeys.WORKERS)) {
            String id = ref.path().name();
            refs.put(id, ref);
            workers.put(id, nodeOf(ref));
        }
        askSnapshots(directory.onListing(workers));
        return this;
    }

    private Behavior<Command> onMemberChanged(MemberChanged m) {
        ClusterEvent.MemberEvent e = m.event();
        if (e instanceof ClusterEvent.MemberRemoved || e instanceof ClusterEvent.MemberExited
                || e instanceof ClusterEvent.MemberDowned) {
            List<String> gone = directory.onNodeRemoved(e.member().address().toString());
            logDropped(gone, "left the cluster");
        }
        return this;
    }

    private Behavior<Command> onReachabilityChanged(ReachabilityChanged r) {
        String node = r.event().member().address().toString();
        if (r.event() instanceof ClusterEvent.UnreachableMember) {
            logDropped(directory.onUnreachable(node), "became unreachable");
        } else {
            askSnapshots(directory.onReachable(node));
        }
        return this;
    }

    private Behavior<Command> onTick(Tick t) {
        directory.tick(System.nanoTime());
        askSnapshots(directory.awaitingSnapshot());
        return this;
    }

    private void askSnapshots(List<String> workerIds) {
        workerIds.forEach(this::askSnapshot);
    }

    private void askSnapshot(String workerId) {
        ActorRef<Batcher.Command> ref = refs.get(workerId);
        if (ref != null) {
            KvIndex index = directory.index();
            ref.tell(new Batcher.GetKvSnapshot(new KvSnapshotRequest(workerId, index.epochOf(workerId, 0),
                    index.lastSeqOf(workerId)), snapshotAdapter));
        }
    }

    private void logDropped(List<String> workers, String why) {
        if (!workers.isEmpty()) {
            getContext().getLog().info("KV directory: dropped the entries of {}: their node {}", workers, why);
        }
    }

    private String nodeOf(ActorRef<?> ref) {
        Address a = ref.path().address();
        return (a.hasLocalScope() ? selfAddress : a).toString();
    }
}
