package io.llmcluster.cluster.worker;

import io.llmcluster.cluster.gateway.RequestSession;
import io.llmcluster.cluster.serialization.CrossNode;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import io.llmcluster.worker.engine.TokenChunk;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One admitted request on its worker's node (a child of the {@link Batcher}, which counts its KV reservation until
 * this actor stops): submits it to the {@link GpuWorker}, receives its chunks straight from the engine thread (a
 * local {@code tell}: the step loop never waits), and sends them to the gateway's {@link RequestSession} in
 * batches under an acknowledgement window ({@link ChunkWindow}). Cancels the request in the engine when the session
 * says so or stops (its node gone); stops once every sequence has ended and its last batch is acknowledged (or,
 * with nobody acknowledging, after a grace period).
 */
public final class StreamRelay extends AbstractBehavior<StreamRelay.Command> {

    /** The relay's protocol. */
    public sealed interface Command {}

    /** From the session (cross-node): batches up to {@code seq} are taken. */
    public record Ack(long seq) implements Command, CrossNode {}

    /** From the session (cross-node): the client went away, or the session gave up on this worker. */
    public enum Cancel implements Command, CrossNode { INSTANCE }

    private record ChunkArrived(TokenChunk chunk) implements Command {}

    private record Replied(GpuWorker.GenerateReply reply) implements Command {}

    private enum SessionGone implements Command { INSTANCE }

    private enum GiveUp implements Command { INSTANCE }

    /** How long a finished request waits for its last acknowledgement before the relay stops anyway. */
    private static final Duration GRACE = Duration.ofSeconds(30);

    private final ActorRef<RequestSession.Command> session;
    private final int attempt;
    private final String workerId;
    private final ActorRef<GpuWorker.Command> worker;
    private final ChunkWindow window;
    private final TimerScheduler<Command> timers;
    private boolean cancelled;

    /**
     * @param window most batches unacknowledged at once
     */
    public static Behavior<Command> create(ActorRef<RequestSession.Command> session, int attempt, SequenceSpec[] sequences,
                                           long timeoutMs, ActorRef<GpuWorker.Command> worker, String workerId, int window) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new StreamRelay(ctx, timers, session, attempt,
                sequences, timeoutMs, worker, workerId, window)));
    }

    private StreamRelay(ActorContext<Command> ctx, TimerScheduler<Command> timers, ActorRef<RequestSession.Command> session,
                        int attempt, SequenceSpec[] sequences, long timeoutMs, ActorRef<GpuWorker.Command> worker,
                        String workerId, int window) {
        super(ctx);
        this.timers = timers;
        this.session = session;
        this.attempt = attempt;
        this.workerId = workerId;
        this.worker = worker;
        this.window = new ChunkWindow(window, sequences.length);
        ctx.watchWith(session, SessionGone.INSTANCE);
        worker.tell(new GpuWorker.Generate(List.of(sequences), timeoutMs,
                ctx.messageAdapter(TokenChunk.class, ChunkArrived::new),
                ctx.messageAdapter(GpuWorker.GenerateReply.class, Replied::new)));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(ChunkArrived.class, this::onChunk)
                .onMessage(Replied.class, this::onReplied)
                .onMessage(Ack.class, this::onAck)
                .onMessage(Cancel.class, c -> onCancel())
                .onMessage(SessionGone.class, g -> onCancel())
                .onMessage(GiveUp.class, g -> Behaviors.stopped())
                .build();
    }

    private Behavior<Command> onReplied(Replied r) {
        return switch (r.reply()) {
            case GpuWorker.Accepted a -> {
                window.bind(a.requestIds());
                if (cancelled) {
                    worker.tell(new GpuWorker.Cancel(a.requestIds()));
                } else {
                    session.tell(new RequestSession.Admitted(attempt, getContext().getSelf(), workerId));
                }
                yield flush();
            }
            case GpuWorker.Rejected j -> {
                session.tell(new RequestSession.Refused(attempt, reasonOf(j.reason()), j.message(), j.retryAfterMs()));
                yield Behaviors.stopped();
            }
        };
    }

    private Behavior<Command> onChunk(ChunkArrived c) {
        window.add(c.chunk());
        return flush();
    }

    private Behavior<Command> onAck(Ack a) {
        window.ack(a.seq());
        return flush();
    }

    private Behavior<Command> onCancel() {
        if (!cancelled) {
            cancelled = true;
            long[] ids = window.engineIds();
            if (ids != null) {
                worker.tell(new GpuWorker.Cancel(ids)); // sequences already ended are ignored
            }
        }
        return flush();
    }

    /** Sends what the window allows; stops when there is nothing left to do. */
    private Behavior<Command> flush() {
        while (!cancelled && window.canSend()) {
            TokenChunk[] batch = window.take();
            session.tell(new RequestSession.ChunkBatch(attempt, window.lastSent(), batch));
        }
        if (window.allFinished() && (cancelled || window.allDelivered())) {
            return Behaviors.stopped(); // the engine has freed the request's blocks: the Batcher releases them
        }
        if (window.allFinished() && !timers.isTimerActive(GiveUp.INSTANCE)) {
            timers.startSingleTimer(GiveUp.INSTANCE, GRACE);
        }
        return this;
    }

    private static RequestSession.Reason reasonOf(GpuWorker.Reason r) {
        return switch (r) {
            case NOT_READY -> RequestSession.Reason.NOT_READY;
            case DRAINING -> RequestSession.Reason.DRAINING;
            case QUEUE_FULL -> RequestSession.Reason.QUEUE_FULL;
            case INVALID -> RequestSession.Reason.INVALID;
        };
    }
}
