package io.llmcluster.cluster.gateway;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.cluster.routing.Reservation;
import io.llmcluster.cluster.routing.RouteDecision;
import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.cluster.serialization.CrossNode;
import io.llmcluster.cluster.worker.Batcher;
import io.llmcluster.cluster.worker.StreamRelay;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import io.llmcluster.worker.engine.TokenChunk;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Set;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One HTTP generation request on its gateway, from routing to its last token (a child of the {@link Gateway}):
 * asks the {@link KvDirectory} where it should go, submits it to that worker's {@link Batcher} (local or on another
 * node), and hands the worker's chunk batches to the HTTP stream one at a time, acknowledging each to the worker's
 * {@link StreamRelay} once the stream has taken it (so a slow client slows the flow, never the engine).
 *
 * <p><b>Full workers.</b> When the router finds no room (or the chosen worker refuses: full, draining, not
 * ready), the request takes a slot of the gateway's bounded {@link GatewayQueue} and asks again every retry
 * interval; after the queue timeout, or at once when the queue is full, it is refused as {@code QUEUE_FULL}
 * (429). Before any worker has reported, a node with a worker of its own serves locally.
 *
 * <p><b>Failures.</b> If the worker dies (its actor stops, its node leaves or becomes unreachable) or aborts the
 * request before the first token, the request is routed again, without that worker. Once tokens have been
 * streamed, the stream fails with a clear message instead. Each submission has an attempt number, so what an
 * abandoned worker still sends is ignored. {@link Cancel} (the client went away) withdraws or cancels the
 * request on its worker, which frees its KV blocks.
 *
 * <p>The HTTP layer is answered {@link Started} with the first batch of chunks (so the response's status and
 * headers name the worker that really serves it), or a {@link Refusal}.
 */
public final class RequestSession extends AbstractBehavior<RequestSession.Command> {

    /** The session's protocol. */
    public sealed interface Command {}

    /** From the HTTP layer: start; batches go to {@code output}, the outcome of the start to {@code replyTo}. */
    public record Start(ActorRef<Output> output, ActorRef<StartReply> replyTo) implements Command {}

    /** From the HTTP layer: the client went away. */
    public enum Cancel implements Command { INSTANCE }

    /** From the HTTP stream: it took the last {@link Output} sent (the stream's acknowledgement). */
    public enum Consumed implements Command { INSTANCE }

    /** From a worker's relay (cross-node): the request of submission {@code attempt} runs there. */
    public record Admitted(int attempt, ActorRef<StreamRelay.Command> relay, String workerId)
            implements Command, CrossNode {}

    /** From a worker (cross-node): submission {@code attempt} was refused; nothing of it runs. */
    public record Refused(int attempt, Reason reason, String message, long retryAfterMs) implements Command, CrossNode {}

    /**
     * From a worker's relay (cross-node): the chunks of submission {@code attempt}, batch number {@code seq} (from
     * 1); each chunk's {@code requestId} is the sequence's index in the request.
     */
    public record ChunkBatch(int attempt, long seq, TokenChunk[] chunks) implements Command, CrossNode {}

    /** From the gateway: a cluster member became unreachable. */
    public record NodeUnreachable(String address) implements Command {}

    /** Why a request was refused (by a worker or by the gateway). */
    public enum Reason { QUEUE_FULL, NOT_READY, DRAINING, INVALID, TIMEOUT, NO_WORKER, CANCELLED }

    /** What the HTTP stream receives. */
    public sealed interface Output {}

    /** The next chunks, in order. */
    public record Chunks(TokenChunk[] chunks) implements Output {}

    /** The stream fails: the worker was lost after tokens had been sent. */
    public record Failed(String message) implements Output {}

    /** The answer to {@link Start}. */
    public sealed interface StartReply {}

    /** Tokens are coming; the first batch is already on its way to the output. */
    public record Started(String workerId) implements StartReply {}

    /** The request will not run. */
    public record Refusal(Reason reason, String message, long retryAfterMs) implements StartReply {}

    /**
     * What a session needs.
     *
     * @param timeoutMs   the request's timeout (the worker enforces it once the request runs; 0 = none)
     * @param localWorker this node's worker, or null: serves before any worker has reported
     */
    public record Params(SequenceSpec[] sequences, long timeoutMs, RouteRequest route,
                         ActorRef<KvDirectory.Command> directory, ActorRef<Batcher.Command> localWorker,
                         GatewayQueue queue, GatewaySettings settings) {}

    private enum Phase { NEW, ROUTING, QUEUED, SUBMITTED, ADMITTED, STREAMING }

    private record Routed(KvDirectory.RouteReply reply) implements Command {}

    private record RouteFailed(Throwable error) implements Command {}

    private enum RetryTick implements Command { INSTANCE }

    private enum QueueTimedOut implements Command { INSTANCE }

    private enum DeadlinePassed implements Command { INSTANCE }

    private record WorkerGone(int attempt) implements Command {}

    private static final Duration ASK = Duration.ofSeconds(10);

    private final Params p;
    private final TimerScheduler<Command> timers;
    private final Set<String> refusedBy = new HashSet<>();   // cleared on each retry
    private final Set<String> lostWorkers = new HashSet<>(); // kept
    private final ArrayDeque<ChunkBatch> pending = new ArrayDeque<>();
    private Phase phase = Phase.NEW;
    private ActorRef<Output> output;
    private ActorRef<StartReply> replyTo;
    private int attempt;
    private String workerId;
    /** What the last route reserved on its worker; given back when routing again and when the session stops. */
    private Reservation reservation;
    private ActorRef<Batcher.Command> batcher;
    private ActorRef<StreamRelay.Command> relay;
    private boolean holdsQueueSlot;
    private boolean outputBusy;
    private long seqAtOutput;
    private int sequencesEnded; // last chunks received (delivered or pending)
    private String lastNoRoomReason = "";
    private Refused lastRefusal;
    private long startNs;

    public static Behavior<Command> create(Params params) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new RequestSession(ctx, timers, params)));
    }

    private RequestSession(ActorContext<Command> ctx, TimerScheduler<Command> timers, Params params) {
        super(ctx);
        this.p = params;
        this.timers = timers;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Start.class, this::onStart)
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(Consumed.class, this::onConsumed)
                .onMessage(Routed.class, this::onRouted)
                .onMessage(RouteFailed.class, this::onRouteFailed)
                .onMessage(Admitted.class, this::onAdmitted)
                .onMessage(Refused.class, this::onRefused)
                .onMessage(ChunkBatch.class, this::onChunkBatch)
                .onMessage(WorkerGone.class, this::onWorkerGone)
                .onMessage(NodeUnreachable.class, this::onNodeUnreachable)
                .onMessage(RetryTick.class, this::onRetryTick)
                .onMessage(QueueTimedOut.class, this::onQueueTimedOut)
                .onMessage(DeadlinePassed.class, this::onDeadlinePassed)
                .onSignal(PostStop.class, this::onPostStop)
                .build();
    }

    private Behavior<Command> onStart(Start s) {
        output = s.output();
        replyTo = s.replyTo();
        startNs = System.nanoTime();
        if (p.timeoutMs() > 0) {
            timers.startSingleTimer(DeadlinePassed.INSTANCE, Duration.ofMillis(p.timeoutMs()));
        }
        route();
        return this;
    }

    private void route() {
        releaseReservation(); // the worker refused or failed it: what was reserved there no longer comes
        phase = Phase.ROUTING;
        Set<String> excluded = new HashSet<>(lostWorkers);
        excluded.addAll(refusedBy);
        getContext().ask(KvDirectory.RouteReply.class, p.directory(), ASK,
                r -> new KvDirectory.Route(p.route(), excluded, r),
                (reply, error) -> error == null ? new Routed(reply) : new RouteFailed(error));
    }

    private Behavior<Command> onRouted(Routed r) {
        if (phase != Phase.ROUTING) {
            return this;
        }
        KvDirectory.RouteReply reply = r.reply();
        getContext().getLog().debug("{}: {} (members {})", getContext().getSelf().path().name(), reply.decision(),
                reply.members());
        if (reply.decision() instanceof RouteDecision.Route route) {
            reservation = route.reservation();
        }
        return switch (reply.decision()) {
            case RouteDecision.Route route -> reply.worker() == null
                    ? noRoom("worker " + route.workerId() + " is not listed yet")
                    : submit(reply.worker(), route.workerId());
            case RouteDecision.Queue q -> noRoom(q.reason());
            case RouteDecision.Reject j -> rejected(j.reason(), reply.members());
        };
    }

    /** No worker can take it at all: served locally while nobody has reported, else refused. */
    private Behavior<Command> rejected(String reason, int members) {
        String local = p.localWorker() == null ? null : p.localWorker().path().name();
        if (members == 0 && local != null && !lostWorkers.contains(local)) {
            return refusedBy.contains(local) ? noRoom("this node's worker refused the request: "
                    + lastRefusal.message()) : submit(p.localWorker(), local);
        }
        if (members == 0) {
            return refuse(Reason.NOT_READY, "no worker in the cluster is ready yet", p.settings().retryAfterMs());
        }
        return refuse(Reason.NO_WORKER, reason, p.settings().retryAfterMs());
    }

    private Behavior<Command> onRouteFailed(RouteFailed f) {
        return phase == Phase.ROUTING ? noRoom("the KV directory did not answer: " + f.error().getMessage()) : this;
    }

    /** Waits in the gateway's queue (taking a slot the first time) and asks again after the retry interval. */
    private Behavior<Command> noRoom(String reason) {
        lastNoRoomReason = reason;
        if (!holdsQueueSlot) {
            if (!p.queue().tryEnter()) {
                return refuse(Reason.QUEUE_FULL, "every worker is full and so is the gateway's queue ("
                        + p.queue().capacity() + " requests): " + reason, p.settings().retryAfterMs());
            }
            holdsQueueSlot = true;
            timers.startSingleTimer(QueueTimedOut.INSTANCE, Duration.ofMillis(p.settings().queueTimeoutMs()));
        }
        phase = Phase.QUEUED;
        timers.startSingleTimer(RetryTick.INSTANCE, Duration.ofMillis(p.settings().retryIntervalMs()));
        return this;
    }

    private Behavior<Command> onRetryTick(RetryTick t) {
        if (phase == Phase.QUEUED) {
            refusedBy.clear();
            route();
        }
        return this;
    }

    private Behavior<Command> onQueueTimedOut(QueueTimedOut t) {
        if (phase == Phase.QUEUED || phase == Phase.ROUTING) {
            if (lastRefusal != null && lastRefusal.reason() != Reason.QUEUE_FULL && p.localWorker() != null
                    && lastNoRoomReason.startsWith("this node's worker")) {
                return refuse(lastRefusal.reason(), lastRefusal.message(), p.settings().retryAfterMs());
            }
            return refuse(Reason.QUEUE_FULL, "every worker stayed full for " + p.settings().queueTimeoutMs()
                    + " ms: " + lastNoRoomReason, p.settings().retryAfterMs());
        }
        return this;
    }

    private Behavior<Command> submit(ActorRef<Batcher.Command> worker, String id) {
        leaveQueue();
        attempt++;
        phase = Phase.SUBMITTED;
        batcher = worker;
        workerId = id;
        relay = null;
        getContext().watchWith(worker, new WorkerGone(attempt));
        worker.tell(new Batcher.Submit(attempt, p.sequences(), p.timeoutMs(), getContext().getSelf()));
        return this;
    }

    private Behavior<Command> onRefused(Refused r) {
        getContext().getLog().debug("{}: refused by {}: {}", getContext().getSelf().path().name(), workerId, r);
        if (r.attempt() != attempt || phase != Phase.SUBMITTED && phase != Phase.ADMITTED) {
            return this;
        }
        forgetWorker();
        lastRefusal = r;
        return switch (r.reason()) {
            case QUEUE_FULL, NOT_READY, DRAINING -> {
                refusedBy.add(workerId);
                route();
                yield this;
            }
            default -> refuse(r.reason(), r.message(), r.retryAfterMs());
        };
    }

    private Behavior<Command> onAdmitted(Admitted a) {
        if (a.attempt() != attempt || phase != Phase.SUBMITTED) {
            a.relay().tell(StreamRelay.Cancel.INSTANCE); // a submission this session gave up on
            return this;
        }
        phase = Phase.ADMITTED;
        relay = a.relay();
        getContext().unwatch(batcher);
        getContext().watchWith(relay, new WorkerGone(attempt));
        return this;
    }

    private Behavior<Command> onChunkBatch(ChunkBatch b) {
        if (b.attempt() != attempt) {
            return this;
        }
        if (phase == Phase.ADMITTED) {
            if (abortedBeforeFirstToken(b.chunks()) && !pastDeadline()) {
                return workerLost("aborted the request before its first token");
            }
            phase = Phase.STREAMING;
            replyTo.tell(new Started(workerId));
        }
        if (phase == Phase.STREAMING) {
            for (TokenChunk c : b.chunks()) {
                if (c.isLast() && c.finishReason() == FinishReason.ABORT && !pastDeadline()) {
                    return workerLost("stopped while streaming (it aborted the request)");
                }
                if (c.isLast()) {
                    sequencesEnded++;
                }
            }
            pending.add(b);
            pushOutput();
        }
        return this;
    }

    /** The request's timeout has passed: an ABORT now is the worker's timeout (its timer started later), not a stop. */
    private boolean pastDeadline() {
        return p.timeoutMs() > 0 && System.nanoTime() - startNs >= p.timeoutMs() * 1_000_000L;
    }

    /** Every chunk ended its sequence with ABORT and none carries a token: the worker is stopping (not a timeout). */
    private static boolean abortedBeforeFirstToken(TokenChunk[] chunks) {
        boolean aborted = false;
        for (TokenChunk c : chunks) {
            if (c.tokenId() >= 0 || c.isLast() && c.finishReason() != FinishReason.ABORT) {
                return false;
            }
            aborted |= c.isLast();
        }
        return aborted;
    }

    private void pushOutput() {
        if (outputBusy || pending.isEmpty()) {
            return;
        }
        ChunkBatch b = pending.poll();
        seqAtOutput = b.seq();
        outputBusy = true;
        output.tell(new Chunks(b.chunks()));
    }

    private Behavior<Command> onConsumed(Consumed c) {
        if (!outputBusy) {
            return this;
        }
        outputBusy = false;
        relay.tell(new StreamRelay.Ack(seqAtOutput));
        if (allEnded() && pending.isEmpty()) {
            return Behaviors.stopped();
        }
        pushOutput();
        return this;
    }

    private boolean allEnded() {
        return sequencesEnded == p.sequences().length;
    }

    private Behavior<Command> onWorkerGone(WorkerGone g) {
        if (g.attempt() != attempt) {
            return this;
        }
        return workerLost("left the cluster or stopped");
    }

    private Behavior<Command> onNodeUnreachable(NodeUnreachable u) {
        ActorRef<?> current = relay != null ? relay : batcher;
        if (current == null || phase.compareTo(Phase.SUBMITTED) < 0) {
            return this;
        }
        Address a = current.path().address();
        return !a.hasLocalScope() && a.toString().equals(u.address()) ? workerLost("became unreachable") : this;
    }

    /** The worker is gone: before the first token the request goes elsewhere, after it the stream fails. */
    private Behavior<Command> workerLost(String what) {
        if (phase == Phase.STREAMING) {
            if (allEnded()) {
                return this; // everything arrived (some may still wait for the client); the relay is done
            }
            getContext().getLog().info("worker {} {} while streaming; the request fails", workerId, what);
            cancelAtWorker();
            output.tell(new Failed("the worker serving this request (" + workerId + ") " + what
                    + " after streaming had begun; the partial output above is all there is"));
            return Behaviors.stopped();
        }
        if (phase != Phase.SUBMITTED && phase != Phase.ADMITTED) {
            return this;
        }
        getContext().getLog().info("worker {} {} before the first token; routing the request again", workerId, what);
        cancelAtWorker();
        lostWorkers.add(workerId);
        forgetWorker();
        route();
        return this;
    }

    private Behavior<Command> onDeadlinePassed(DeadlinePassed d) {
        if (phase.compareTo(Phase.SUBMITTED) <= 0 && phase != Phase.NEW) { // not running yet: the worker's timer has not started
            return refuse(Reason.TIMEOUT, "no worker could start the request within its timeout ("
                    + p.timeoutMs() + " ms)", 0);
        }
        return this;
    }

    private Behavior<Command> onCancel(Cancel c) {
        if (replyTo != null && phase.compareTo(Phase.STREAMING) < 0) {
            return refuse(Reason.CANCELLED, "the client went away", 0);
        }
        cancelAtWorker();
        return Behaviors.stopped();
    }

    private Behavior<Command> refuse(Reason reason, String message, long retryAfterMs) {
        cancelAtWorker();
        replyTo.tell(new Refusal(reason, message, retryAfterMs));
        return Behaviors.stopped();
    }

    /** Withdraws the current submission, or cancels it where it runs (a dead worker ignores both). */
    private void cancelAtWorker() {
        if (relay != null) {
            relay.tell(StreamRelay.Cancel.INSTANCE);
        } else if (batcher != null && phase == Phase.SUBMITTED) {
            batcher.tell(new Batcher.Withdraw(attempt, getContext().getSelf()));
        }
    }

    private void forgetWorker() {
        if (batcher != null) {
            getContext().unwatch(batcher);
        }
        if (relay != null) {
            getContext().unwatch(relay);
        }
        batcher = null;
        relay = null;
    }

    private void leaveQueue() {
        if (holdsQueueSlot) {
            holdsQueueSlot = false;
            p.queue().leave();
            timers.cancel(QueueTimedOut.INSTANCE);
        }
    }

    private Behavior<Command> onPostStop(PostStop s) {
        leaveQueue();
        releaseReservation();
        return this;
    }

    /** The request ended there or goes elsewhere: the router stops counting the route's footprint on the worker. */
    private void releaseReservation() {
        if (reservation != null) {
            p.directory().tell(new KvDirectory.Release(reservation));
            reservation = null;
        }
    }
}
