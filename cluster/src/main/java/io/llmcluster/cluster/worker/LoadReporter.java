package io.llmcluster.cluster.worker;

import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.WorkerLoad;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * On a worker node, one per {@link GpuWorker}: every report interval asks the worker for its load and publishes
 * it as a {@link WorkerReport} on the reports topic (the gateways' directories and routers read it). Nothing is
 * published before the engine has started.
 */
public final class LoadReporter extends AbstractBehavior<LoadReporter.Command> {

    /** The reporter's protocol (timer and adapted replies only). */
    public sealed interface Command {}

    private enum Tick implements Command { INSTANCE }

    private record LoadReceived(WorkerLoad load) implements Command {}

    private record AskFailed(Throwable error) implements Command {}

    private final ActorRef<GpuWorker.Command> worker;
    private final ActorRef<Topic.Command<WorkerReport>> topic;
    private final Duration interval;

    public static Behavior<Command> create(ActorRef<GpuWorker.Command> worker,
                                           ActorRef<Topic.Command<WorkerReport>> topic, Duration interval) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(Tick.INSTANCE, interval);
            return new LoadReporter(ctx, worker, topic, interval);
        }));
    }

    private LoadReporter(ActorContext<Command> ctx, ActorRef<GpuWorker.Command> worker,
                         ActorRef<Topic.Command<WorkerReport>> topic, Duration interval) {
        super(ctx);
        this.worker = worker;
        this.topic = topic;
        this.interval = interval;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Tick.class, this::onTick)
                .onMessage(LoadReceived.class, this::onLoadReceived)
                .onMessage(AskFailed.class, this::onAskFailed)
                .build();
    }

    private Behavior<Command> onTick(Tick t) {
        getContext().ask(WorkerLoad.class, worker, interval, GpuWorker.GetLoad::new,
                (load, error) -> error == null ? new LoadReceived(load) : new AskFailed(error));
        return this;
    }

    private Behavior<Command> onLoadReceived(LoadReceived r) {
        WorkerReport report = WorkerReport.of(r.load());
        if (report != null) {
            topic.tell(Topic.publish(report));
        }
        return this;
    }

    private Behavior<Command> onAskFailed(AskFailed f) {
        return this; // a busy worker answers late; the next tick asks again
    }
}
