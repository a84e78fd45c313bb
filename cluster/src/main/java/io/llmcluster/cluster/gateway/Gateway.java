package io.llmcluster.cluster.gateway;

import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.cluster.worker.Batcher;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * A gateway node's request path: starts a {@link RequestSession} per HTTP generation request (its children), holds
 * the bounded {@link GatewayQueue} they share, tells them when a cluster member becomes unreachable (so a request
 * whose worker is there moves on without waiting for the node to be downed), and stops accepting new requests when
 * the node drains or leaves, answering once the last session has ended.
 */
public final class Gateway extends AbstractBehavior<Gateway.Command> {

    /** The gateway's protocol. */
    public sealed interface Command {}

    /** Starts a session for one request (it routes once it gets {@link RequestSession.Start}). */
    public record NewSession(SequenceSpec[] sequences, long timeoutMs, RouteRequest route,
                             ActorRef<NewSessionReply> replyTo) implements Command {}

    /** The answer to {@link NewSession}. */
    public sealed interface NewSessionReply {}

    public record SessionCreated(ActorRef<RequestSession.Command> session) implements NewSessionReply {}

    /** The gateway is draining: new requests are refused (503). */
    public record NotAccepting(String reason) implements NewSessionReply {}

    /** Stops accepting new requests; the sessions running finish. */
    public enum StopAccepting implements Command { INSTANCE }

    /** Answers {@link Idle} once no session is running (at once if none is). */
    public record AwaitIdle(ActorRef<Idle> replyTo) implements Command {}

    public record Idle(int sessions) {}

    /** Asks for the gateway's counters. */
    public record GetStats(ActorRef<Stats> replyTo) implements Command {}

    /**
     * @param sessions requests running or waiting on this gateway
     * @param queued   of those, waiting for room (holding a queue slot)
     */
    public record Stats(boolean accepting, int sessions, int queued, int maxQueued, String router) {}

    private record SessionEnded(ActorRef<RequestSession.Command> session) implements Command {}

    private record ReachabilityChanged(ClusterEvent.ReachabilityEvent event) implements Command {}

    private final ActorRef<KvDirectory.Command> directory;
    private final ActorRef<Batcher.Command> localWorker;
    private final GatewaySettings settings;
    private final GatewayQueue queue;
    private final List<ActorRef<Idle>> idleWaiters = new ArrayList<>();
    private int sessions;
    private long started;
    private boolean accepting = true;

    /**
     * @param localWorker this node's worker, or null on a gateway-only node
     */
    public static Behavior<Command> create(ActorRef<KvDirectory.Command> directory, ActorRef<Batcher.Command> localWorker,
                                           GatewaySettings settings) {
        return Behaviors.setup(ctx -> new Gateway(ctx, directory, localWorker, settings));
    }

    private Gateway(ActorContext<Command> ctx, ActorRef<KvDirectory.Command> directory,
                    ActorRef<Batcher.Command> localWorker, GatewaySettings settings) {
        super(ctx);
        this.directory = directory;
        this.localWorker = localWorker;
        this.settings = settings;
        this.queue = new GatewayQueue(settings.maxQueued());
        Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(
                ctx.messageAdapter(ClusterEvent.ReachabilityEvent.class, ReachabilityChanged::new),
                ClusterEvent.ReachabilityEvent.class));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(NewSession.class, this::onNewSession)
                .onMessage(StopAccepting.class, this::onStopAccepting)
                .onMessage(AwaitIdle.class, this::onAwaitIdle)
                .onMessage(GetStats.class, this::onGetStats)
                .onMessage(SessionEnded.class, this::onSessionEnded)
                .onMessage(ReachabilityChanged.class, this::onReachabilityChanged)
                .build();
    }

    private Behavior<Command> onNewSession(NewSession n) {
        if (!accepting) {
            n.replyTo().tell(new NotAccepting("the gateway is shutting down (draining)"));
            return this;
        }
        RequestSession.Params params = new RequestSession.Params(n.sequences(), n.timeoutMs(), n.route(), directory,
                localWorker, queue, settings);
        ActorRef<RequestSession.Command> s = getContext().spawn(RequestSession.create(params), "req-" + (++started));
        getContext().watchWith(s, new SessionEnded(s));
        sessions++;
        n.replyTo().tell(new SessionCreated(s));
        return this;
    }

    private Behavior<Command> onSessionEnded(SessionEnded e) {
        sessions--;
        replyIfIdle();
        return this;
    }

    private Behavior<Command> onStopAccepting(StopAccepting s) {
        if (accepting) {
            accepting = false;
            getContext().getLog().info("gateway draining: {} requests in flight", sessions);
        }
        return this;
    }

    private Behavior<Command> onAwaitIdle(AwaitIdle a) {
        idleWaiters.add(a.replyTo());
        replyIfIdle();
        return this;
    }

    private void replyIfIdle() {
        if (sessions == 0 && !idleWaiters.isEmpty()) {
            idleWaiters.forEach(w -> w.tell(new Idle(0)));
            idleWaiters.clear();
        }
    }

    private Behavior<Command> onGetStats(GetStats g) {
        g.replyTo().tell(new Stats(accepting, sessions, queue.waiting(), queue.capacity(),
                settings.router().configName()));
        return this;
    }

    private Behavior<Command> onReachabilityChanged(ReachabilityChanged r) {
        if (r.event() instanceof ClusterEvent.UnreachableMember u) {
            RequestSession.NodeUnreachable msg = new RequestSession.NodeUnreachable(u.member().address().toString());
            getContext().getChildren().forEach(child -> child.<RequestSession.Command>unsafeUpcast().tell(msg));
        }
        return this;
    }
}
