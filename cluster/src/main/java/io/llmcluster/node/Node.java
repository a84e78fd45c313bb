package io.llmcluster.node;

import io.llmcluster.cluster.ClusterKeys;
import io.llmcluster.cluster.gateway.KvDirectory;
import io.llmcluster.cluster.gateway.Gateway;
import io.llmcluster.cluster.worker.Batcher;
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
 * A serving node's guardian. With the {@code worker} role it spawns the node's {@link GpuWorker} (actor name
 * {@code <worker id>-engine}) and its {@link Batcher} (actor name: the worker id), registers the batcher with the
 * Receptionist under {@link ClusterKeys#WORKERS} (gateways find it there, so a node that joins gets traffic at
 * once), and publishes the engine's KV events on the {@code kv-events} topic (the batcher publishes the load on
 * {@code worker-reports}). With the {@code gateway} role it spawns the {@link KvDirectory} replica and the
 * {@link Gateway} that runs the HTTP requests. A worker that stops (its engine could not start) stops the node,
 * and with it the actor system.
 */
public final class Node extends AbstractBehavior<Node.Command> {

    /** The node's protocol. */
    public sealed interface Command {}

    /** Asks for the node's actors the HTTP layer talks to. */
    public record GetParts(ActorRef<Parts> replyTo) implements Command {}

    /**
     * The node's actors.
     *
     * @param worker    the local engine's actor, or null on a node without the worker role
     * @param batcher   the local worker's batcher, or null on a node without the worker role
     * @param directory the KV directory replica, or null on a node without the gateway role
     * @param gateway   the request path, or null on a node without the gateway role
     */
    public record Parts(ActorRef<GpuWorker.Command> worker, ActorRef<Batcher.Command> batcher,
                        ActorRef<KvDirectory.Command> directory, ActorRef<Gateway.Command> gateway) {}

    private final Parts parts;

    public static Behavior<Command> create(NodeSettings settings, EngineFactory factory) {
        return Behaviors.setup(ctx -> new Node(ctx, settings, factory));
    }

    private Node(ActorContext<Command> ctx, NodeSettings settings, EngineFactory factory) {
        super(ctx);
        ClusterSettings cluster = settings.cluster();
        WorkerSettings ws = settings.worker();
        ActorRef<Topic.Command<KvEventBatch>> kvEvents = ctx.spawn(ClusterKeys.kvEventsTopic(), "kv-events-topic");
        ActorRef<Topic.Command<WorkerReport>> reports = ctx.spawn(ClusterKeys.reportsTopic(), "worker-reports-topic");
        ActorRef<GpuWorker.Command> worker = null;
        ActorRef<Batcher.Command> batcher = null;
        if (cluster.isWorker()) {
            worker = ctx.spawn(GpuWorker.create(ws, factory, batch -> kvEvents.tell(Topic.publish(batch))),
                    ws.workerId() + "-engine");
            ctx.watch(worker);
            batcher = ctx.spawn(Batcher.create(ws.workerId(), worker, reports, settings.batcher()), ws.workerId());
            ctx.getSystem().receptionist().tell(Receptionist.register(ClusterKeys.WORKERS, batcher));
        }
        ActorRef<KvDirectory.Command> directory = null;
        ActorRef<Gateway.Command> gateway = null;
        if (cluster.isGateway()) {
            directory = ctx.spawn(KvDirectory.create(kvEvents, reports, Duration.ofMillis(cluster.directoryTickMs()),
                    settings.gateway().router()), "kv-directory");
            gateway = ctx.spawn(Gateway.create(directory, batcher, settings.gateway()), "gateway");
        }
        this.parts = new Parts(worker, batcher, directory, gateway);
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
