package io.llmcluster.node;

import io.llmcluster.cluster.ClusterKeys;
import io.llmcluster.cluster.gateway.KvDirectory;
import io.llmcluster.cluster.worker.LoadReporter;
import io.llmcluster.cluster.worker.WorkerReport;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.worker.actor.EngineFactory;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.WorkerSettings;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * A serving node's guardian. With the {@code worker} role it spawns the node's {@link GpuWorker} (its actor
 * name is its worker id), registers it with the Receptionist under {@link ClusterKeys#WORKERS}, publishes its
 * engine's KV events on the {@code kv-events} topic and its load on {@code worker-reports}
 * ({@link LoadReporter}). With the {@code gateway} role it spawns the {@link KvDirectory} replica. A worker that
 * stops (its engine could not start) stops the node, and with it the actor system.
 */
public final class Node extends AbstractBehavior<Node.Command> {

    /** The node's protocol. */
    public sealed interface Command {}

    /** Asks for the node's actors the HTTP layer talks to. */
    public record GetParts(ActorRef<Parts> replyTo) implements Command {}

    /**
     * The node's actors.
     *
     * @param worker    the local worker, or null on a node without the worker role
     * @param directory the KV directory replica, or null on a node without the gateway role
     */
    public record Parts(ActorRef<GpuWorker.Command> worker, ActorRef<KvDirectory.Command> directory) {}

    private final Parts parts;

    public static Behavior<Command> create(WorkerSettings settings, ClusterSettings cluster, EngineFactory factory) {
        return Behaviors.setup(ctx -> new Node(ctx, settings, cluster, factory));
    }

    private Node(ActorContext<Command> ctx, WorkerSettings settings, ClusterSettings cluster, EngineFactory factory) {
        super(ctx);
        ActorRef<Topic.Command<KvEventBatch>> kvEvents = ctx.spawn(ClusterKeys.kvEventsTopic(), "kv-events-topic");
        ActorRef<Topic.Command<WorkerReport>> reports = ctx.spawn(ClusterKeys.reportsTopic(), "worker-reports-topic");
        ActorRef<GpuWorker.Command> worker = null;
        if (cluster.isWorker()) {
            worker = ctx.spawn(GpuWorker.create(settings, factory, batch -> kvEvents.tell(Topic.publish(batch))),
                    settings.workerId());
            ctx.watch(worker);
            ctx.getSystem().receptionist().tell(Receptionist.register(ClusterKeys.WORKERS, worker));
            ctx.spawn(LoadReporter.create(worker, reports, Duration.ofMillis(cluster.reportIntervalMs())),
                    settings.workerId() + "-reporter");
        }
        ActorRef<KvDirectory.Command> directory = cluster.isGateway()
                ? ctx.spawn(KvDirectory.create(kvEvents, reports, Duration.ofMillis(cluster.directoryTickMs())),
                        "kv-directory")
                : null;
        this.parts = new Parts(worker, directory);
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(GetParts.class, this::onGetParts)
                .onSignal(Terminated.class, this::onWorkerStopped)
                .build();
    }

    private Behavior<Command> onGetParts(GetParts g) {
        g.replyTo().tell(parts);
        return this;
    }

    private Behavior<Command> onWorkerStopped(Terminated t) {
        getContext().getLog().error("worker {} stopped; stopping the node", t.getRef().path().name());
        return Behaviors.stopped();
    }
}
