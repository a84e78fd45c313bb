package io.llmcluster.node;

import io.llmcluster.worker.actor.EngineFactory;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.WorkerSettings;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * A serving node's guardian: spawns its worker (one engine today; the cluster issue adds more and a
 * router) and hands it to the HTTP layer. A worker that stops (its engine could not start) stops the node,
 * and with it the actor system.
 */
public final class Node extends AbstractBehavior<Node.Command> {

    /** The node's protocol. */
    public sealed interface Command {}

    /** Asks for the worker the HTTP layer sends requests to. */
    public record GetWorker(ActorRef<ActorRef<GpuWorker.Command>> replyTo) implements Command {}

    private final ActorRef<GpuWorker.Command> worker;

    public static Behavior<Command> create(WorkerSettings settings, EngineFactory factory) {
        return Behaviors.setup(ctx -> new Node(ctx, settings, factory));
    }

    private Node(ActorContext<Command> ctx, WorkerSettings settings, EngineFactory factory) {
        super(ctx);
        this.worker = ctx.spawn(GpuWorker.create(settings, factory), settings.workerId());
        ctx.watch(worker);
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(GetWorker.class, this::onGetWorker)
                .onSignal(Terminated.class, this::onWorkerStopped)
                .build();
    }

    private Behavior<Command> onGetWorker(GetWorker g) {
        g.replyTo().tell(worker);
        return this;
    }

    private Behavior<Command> onWorkerStopped(Terminated t) {
        getContext().getLog().error("worker {} stopped; stopping the node", t.getRef().path().name());
        return Behaviors.stopped();
    }
}
