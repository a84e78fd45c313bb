package io.llmcluster.worker.actor;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.kv.KvSnapshot;
import io.llmcluster.kv.KvSnapshotRequest;
import java.util.function.Consumer;
import io.llmcluster.worker.engine.EngineStats;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.engine.TokenSink;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * Fronts one engine (one GPU, or the CPU): starts it on a thread of its own (model load and warm-up), admits
 * requests through {@link Admission}, submits them, streams each {@link TokenChunk} straight from the engine
 * thread to the requester's {@code chunksTo} (a {@code tell}, so the step loop never blocks), cancels on
 * request or after the per-request timeout, drains, and closes the engine when it stops.
 *
 * <p>A request's sequences ({@code n} choices, or several prompts) are admitted together or refused together.
 */
public final class GpuWorker extends AbstractBehavior<GpuWorker.Command> {

    /** The worker's protocol. */
    public sealed interface Command {}

    /**
     * Generate: each sequence is one engine request; chunks of all go to {@code chunksTo} (their
     * {@code requestId} tells them apart); the reply says which ids they got, or why they were refused.
     *
     * @param timeoutMs each sequence is cancelled this long after admission (0 = never)
     */
    public record Generate(List<SequenceSpec> sequences, long timeoutMs, ActorRef<TokenChunk> chunksTo,
                           ActorRef<GenerateReply> replyTo) implements Command {}

    /** One engine request: a tokenized prompt with its sampling parameters. */
    public record SequenceSpec(int[] promptTokenIds, SamplingParams params, int priority) {}

    /** Cancels requests (client gone): their KV blocks are freed on the engine's next turn, last chunk ABORT. */
    public record Cancel(long[] requestIds) implements Command {}

    /** Asks for the worker's state and load. */
    public record GetLoad(ActorRef<WorkerLoad> replyTo) implements Command {}

    /** Stops admitting; the reply comes once every request in flight has finished. */
    public record Drain(ActorRef<WorkerLoad> replyTo) implements Command {}

    /**
     * Asks for the engine's KV snapshot (a directory replica saw a gap or a new epoch); it is taken on the engine
     * thread between steps. Cross-node: serialized with Kryo. No reply before the engine has started.
     */
    public record GetKvSnapshot(KvSnapshotRequest request, ActorRef<KvSnapshot> replyTo) implements Command {}

    /** The answer to {@link Generate}. */
    public sealed interface GenerateReply {}

    /** Admitted: the engine request ids, in the order of the sequences. */
    public record Accepted(long[] requestIds) implements GenerateReply {}

    /** Refused; nothing of the request runs. */
    public record Rejected(Reason reason, String message, long retryAfterMs) implements GenerateReply {}

    /** Why a request was refused. */
    public enum Reason { NOT_READY, DRAINING, QUEUE_FULL, INVALID }

    private record EngineStarted(LoadedEngine engine) implements Command {}

    private record EngineFailed(Throwable error) implements Command {}

    private record SequenceFinished(long requestId) implements Command {}

    private record TimedOut(long requestId) implements Command {}

    private final WorkerSettings settings;
    private final TimerScheduler<Command> timers;
    private final CompletableFuture<LoadedEngine> starting;
    private final Admission admission;
    private final List<ActorRef<WorkerLoad>> drainWaiters = new ArrayList<>();
    private LoadedEngine loaded;
    private long cancels;
    private long lastCancelAtStep = -1;

    /** A worker that starts its engine with {@code factory} and serves once it has. */
    public static Behavior<Command> create(WorkerSettings settings, EngineFactory factory) {
        return create(settings, factory, batch -> {});
    }

    /**
     * A worker whose engine's KV events go to {@code kvEvents} (one batch per step, called on the engine
     * thread: it must not block; a {@code tell} to a pub-sub topic is what the node passes).
     */
    public static Behavior<Command> create(WorkerSettings settings, EngineFactory factory,
                                           Consumer<KvEventBatch> kvEvents) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new GpuWorker(ctx, timers, settings, factory,
                kvEvents)));
    }

    private GpuWorker(ActorContext<Command> ctx, TimerScheduler<Command> timers, WorkerSettings settings,
                      EngineFactory factory, Consumer<KvEventBatch> kvEvents) {
        super(ctx);
        this.settings = settings;
        this.timers = timers;
        this.admission = new Admission(settings.maxInFlight());
        String id = settings.workerId();
        this.starting = startAsync(id, () -> factory.start(events -> kvEvents.accept(KvEventBatch.of(id, events))));
        ctx.pipeToSelf(starting, (engine, error) -> error == null ? new EngineStarted(engine) : new EngineFailed(error));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Generate.class, this::onGenerate)
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(GetLoad.class, this::onGetLoad)
                .onMessage(Drain.class, this::onDrain)
                .onMessage(GetKvSnapshot.class, this::onGetKvSnapshot)
                .onMessage(EngineStarted.class, this::onEngineStarted)
                .onMessage(EngineFailed.class, this::onEngineFailed)
                .onMessage(SequenceFinished.class, this::onSequenceFinished)
                .onMessage(TimedOut.class, this::onTimedOut)
                .onSignal(PostStop.class, this::onPostStop)
                .build();
    }

    private Behavior<Command> onGenerate(Generate g) {
        Admission.Decision decision = admission.admit(g.sequences().size());
        if (decision != Admission.Decision.ADMIT) {
            g.replyTo().tell(refusal(decision));
            return this;
        }
        long[] ids = new long[g.sequences().size()];
        TokenSink sink = sinkFor(g.chunksTo());
        for (int i = 0; i < ids.length; i++) {
            SequenceSpec s = g.sequences().get(i);
            try {
                ids[i] = loaded.engine().submit(s.promptTokenIds(), s.params(), s.priority(), sink);
            } catch (IllegalArgumentException e) { // the HTTP layer validates first; this is the last guard
                cancelAll(ids, i);
                g.replyTo().tell(new Rejected(Reason.INVALID, e.getMessage(), 0));
                return this;
            }
            admission.started(ids[i]);
            if (g.timeoutMs() > 0) {
                timers.startSingleTimer(ids[i], new TimedOut(ids[i]), Duration.ofMillis(g.timeoutMs()));
            }
        }
        g.replyTo().tell(new Accepted(ids));
        return this;
    }

    /** Chunks go straight from the engine's emitter thread to the requester; the worker hears of each request's end. */
    private TokenSink sinkFor(ActorRef<TokenChunk> chunksTo) {
        ActorRef<Command> self = getContext().getSelf();
        return chunk -> {
            if (chunk.isLast()) {
                self.tell(new SequenceFinished(chunk.requestId()));
            }
            chunksTo.tell(chunk);
        };
    }

    private Behavior<Command> onCancel(Cancel c) {
        cancelAll(c.requestIds(), c.requestIds().length);
        return this;
    }

    private void cancelAll(long[] ids, int count) {
        for (int i = 0; i < count; i++) {
            if (admission.startCancel(ids[i])) {
                cancel(ids[i]);
            }
        }
    }

    private void cancel(long requestId) {
        loaded.engine().cancel(requestId);
        cancels++;
        lastCancelAtStep = loaded.engine().stats().steps(); // read after queueing: at most one step is in progress
    }

    private Behavior<Command> onTimedOut(TimedOut t) {
        if (admission.startCancel(t.requestId())) {
            getContext().getLog().info("request {} ran past its timeout; cancelling it", t.requestId());
            cancel(t.requestId());
        }
        return this;
    }

    private Behavior<Command> onSequenceFinished(SequenceFinished f) {
        timers.cancel(f.requestId());
        admission.finished(f.requestId());
        replyIfDrained();
        return this;
    }

    private Behavior<Command> onGetLoad(GetLoad g) {
        g.replyTo().tell(load());
        return this;
    }

    private Behavior<Command> onGetKvSnapshot(GetKvSnapshot g) {
        if (loaded != null) { // before: the replica asks again on its next tick
            loaded.engine().kvSnapshot(settings.workerId()).thenAccept(g.replyTo()::tell);
        }
        return this;
    }

    private Behavior<Command> onDrain(Drain d) {
        admission.startDraining();
        drainWaiters.add(d.replyTo());
        getContext().getLog().info("worker {} draining: {} requests in flight", settings.workerId(), admission.inFlight());
        replyIfDrained();
        return this;
    }

    private void replyIfDrained() {
        if (!drainWaiters.isEmpty() && admission.isDrained()) {
            WorkerLoad l = load();
            drainWaiters.forEach(w -> w.tell(l));
            drainWaiters.clear();
        }
    }

    private Behavior<Command> onEngineStarted(EngineStarted s) {
        loaded = s.engine();
        admission.ready();
        getContext().getLog().info("worker {} ready: {}, {} tokens per sequence", settings.workerId(),
                loaded.backendDescription(), loaded.engine().maxModelLen());
        return this;
    }

    /** Without an engine there is nothing to serve: the worker says why and stops (its node stops with it). */
    private Behavior<Command> onEngineFailed(EngineFailed f) {
        Throwable cause = f.error() instanceof java.util.concurrent.CompletionException c && c.getCause() != null
                ? c.getCause() : f.error();
        admission.failed();
        getContext().getLog().error("worker {} could not start its engine: {}", settings.workerId(), cause.toString());
        return Behaviors.stopped();
    }

    private Behavior<Command> onPostStop(PostStop signal) {
        starting.thenAccept(GpuWorker::closeQuietly); // now if started, or whenever the start completes
        return this;
    }

    private Rejected refusal(Admission.Decision decision) {
        return switch (decision) {
            case NOT_READY, FAILED -> new Rejected(Reason.NOT_READY, "the model is still loading", settings.retryAfterMs());
            case DRAINING -> new Rejected(Reason.DRAINING, "the server is shutting down (draining)", settings.retryAfterMs());
            case QUEUE_FULL -> new Rejected(Reason.QUEUE_FULL, "the server is at capacity: " + admission.inFlight()
                    + " sequences in flight of " + admission.maxInFlight(), settings.retryAfterMs());
            case ADMIT -> throw new IllegalStateException("not a refusal");
        };
    }

    private WorkerLoad load() {
        if (loaded == null) {
            return new WorkerLoad(settings.workerId(), admission.state(), admission.inFlight(),
                    admission.maxInFlight(), 0, "", null, EngineStats.EMPTY, cancels, lastCancelAtStep, 0, 0);
        }
        return new WorkerLoad(settings.workerId(), admission.state(), admission.inFlight(), admission.maxInFlight(),
                loaded.engine().maxModelLen(), loaded.backendDescription(), loaded.config(), loaded.engine().stats(),
                cancels, lastCancelAtStep, loaded.engine().kvEpoch(), loaded.engine().kvBlockSize());
    }

    /** Builds the engine (the factory bound to this worker's KV event sink). */
    private interface Starter {
        LoadedEngine start() throws Exception;
    }

    private static CompletableFuture<LoadedEngine> startAsync(String workerId, Starter factory) {
        CompletableFuture<LoadedEngine> f = new CompletableFuture<>();
        Thread.ofPlatform().name(workerId + "-start").daemon().start(() -> {
            try {
                f.complete(factory.start());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    private static void closeQuietly(LoadedEngine engine) {
        try {
            engine.close();
        } catch (Exception e) {
            System.err.println("[gpu-worker] closing the engine failed: " + e);
        }
    }
}
