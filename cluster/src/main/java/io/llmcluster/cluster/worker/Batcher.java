package io.llmcluster.cluster.worker;

import io.llmcluster.cluster.gateway.RequestSession;
import io.llmcluster.cluster.serialization.CrossNode;
import io.llmcluster.kv.KvSnapshot;
import io.llmcluster.kv.KvSnapshotRequest;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import io.llmcluster.worker.actor.WorkerLoad;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One worker as the cluster sees it: the entry point gateways submit requests to (registered with the
 * Receptionist; its actor name is the worker id). A thin shell around {@link AdmissionQueue}: admits a request when
 * its predicted KV footprint (prompt + max_tokens of each sequence, in blocks) fits in the blocks not reserved by
 * those in flight, else queues it by priority (bounded) or refuses it; each admitted request gets a
 * {@link StreamRelay} child that runs it on the {@link GpuWorker} and streams it back, and its reservation ends
 * when that child stops. Publishes the worker's {@link WorkerReport} every report interval and when it starts
 * draining; forwards KV snapshot requests to the engine. The engine's step loop never waits on this actor: it
 * only tells the relays its chunks.
 */
public final class Batcher extends AbstractBehavior<Batcher.Command> {

    /** The batcher's protocol. */
    public sealed interface Command {}

    /**
     * From a gateway's session (cross-node): run these sequences; the answer is {@link RequestSession.Admitted}
     * (from the relay), or {@link RequestSession.Refused}.
     *
     * @param attempt   the session's submission number, echoed in every answer
     * @param timeoutMs the engine cancels each sequence this long after it starts (0 = never)
     */
    public record Submit(int attempt, SequenceSpec[] sequences, long timeoutMs, ActorRef<RequestSession.Command> session)
            implements Command, CrossNode {}

    /** From a session (cross-node): forget submission {@code attempt}, queued or running (running: cancelled). */
    public record Withdraw(int attempt, ActorRef<RequestSession.Command> session) implements Command, CrossNode {}

    /** Stop taking requests; the queued ones are refused (their gateways route them elsewhere), running ones finish. */
    public record Drain(ActorRef<DrainStarted> replyTo) implements Command, CrossNode {}

    /** The answer to {@link Drain}. */
    public record DrainStarted(String workerId, int requestsInFlight, int requestsRefused) implements CrossNode {}

    /** A directory replica's request for the engine's KV snapshot (cross-node), passed to the {@link GpuWorker}. */
    public record GetKvSnapshot(KvSnapshotRequest request, ActorRef<KvSnapshot> replyTo) implements Command, CrossNode {}

    private enum Tick implements Command { INSTANCE }

    private record LoadReceived(WorkerLoad load) implements Command {}

    private enum LoadFailed implements Command { INSTANCE }

    /** Asks the engine's load again soon: requests wait for the pool's size. */
    private enum Recheck implements Command { INSTANCE }

    private record RelayStopped(Ticket ticket) implements Command {}

    /** One submission: a session may submit to the same worker again after a refusal, with a new attempt. */
    private record Ticket(ActorRef<RequestSession.Command> session, int attempt) {}

    private final String workerId;
    private final ActorRef<GpuWorker.Command> worker;
    private final ActorRef<Topic.Command<WorkerReport>> reports;
    private final BatcherSettings settings;
    private final AdmissionQueue<Ticket> admission;
    private final TimerScheduler<Command> timers;
    private final Map<Ticket, Submit> waiting = new HashMap<>();
    private final Map<Ticket, ActorRef<StreamRelay.Command>> running = new HashMap<>();
    private long relays;

    /**
     * @param worker  the engine's actor on this node
     * @param reports the worker-reports topic
     */
    public static Behavior<Command> create(String workerId, ActorRef<GpuWorker.Command> worker,
                                           ActorRef<Topic.Command<WorkerReport>> reports, BatcherSettings settings) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Batcher(ctx, timers, workerId, worker,
                reports, settings)));
    }

    private Batcher(ActorContext<Command> ctx, TimerScheduler<Command> timers, String workerId,
                    ActorRef<GpuWorker.Command> worker, ActorRef<Topic.Command<WorkerReport>> reports,
                    BatcherSettings settings) {
        super(ctx);
        this.workerId = workerId;
        this.worker = worker;
        this.reports = reports;
        this.settings = settings;
        this.timers = timers;
        this.admission = new AdmissionQueue<>(settings.maxQueued(), settings.maxInFlight());
        timers.startTimerWithFixedDelay(Tick.INSTANCE, Duration.ofMillis(settings.reportIntervalMs()));
        askLoad();
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Submit.class, this::onSubmit)
                .onMessage(Withdraw.class, this::onWithdraw)
                .onMessage(Drain.class, this::onDrain)
                .onMessage(GetKvSnapshot.class, this::onGetKvSnapshot)
                .onMessage(Tick.class, t -> askLoad())
                .onMessage(Recheck.class, t -> askLoad())
                .onMessage(LoadReceived.class, this::onLoadReceived)
                .onMessage(LoadFailed.class, f -> this)
                .onMessage(RelayStopped.class, this::onRelayStopped)
                .build();
    }

    private Behavior<Command> onSubmit(Submit s) {
        Ticket t = new Ticket(s.session(), s.attempt());
        if (waiting.containsKey(t) || running.containsKey(t)) {
            return this; // a duplicate
        }
        int[] tokens = new int[s.sequences().length];
        int priority = Integer.MAX_VALUE;
        for (int i = 0; i < tokens.length; i++) {
            SequenceSpec q = s.sequences()[i];
            tokens[i] = q.promptTokenIds().length + q.params().maxTokens();
            priority = Math.min(priority, q.priority());
        }
        AdmissionQueue.Outcome outcome = admission.offer(t, tokens, priority);
        getContext().getLog().debug("{}: submission {} of {}: {} (reserved {}, queued {})", workerId, s.attempt(),
                s.session().path().name(), outcome, admission.reservedBlocks(), admission.requestsQueued());
        switch (outcome) {
            case ADMITTED -> start(t, s);
            case QUEUED -> {
                waiting.put(t, s);
                if (!admission.isConfigured()) {
                    askLoad();
                }
            }
            case QUEUE_FULL -> refuse(s, RequestSession.Reason.QUEUE_FULL, "worker " + workerId + " is full: "
                    + admission.sequencesInFlight() + " sequences in flight, " + admission.requestsQueued() + " requests queued");
            case DRAINING -> refuse(s, RequestSession.Reason.DRAINING, "worker " + workerId + " is draining");
            case NOT_READY -> refuse(s, RequestSession.Reason.NOT_READY, "worker " + workerId + " is still starting");
        }
        return this;
    }

    private void start(Ticket t, Submit s) {
        ActorRef<StreamRelay.Command> relay = getContext().spawn(StreamRelay.create(s.session(), s.attempt(),
                s.sequences(), s.timeoutMs(), worker, workerId, settings.streamWindow()), "req-" + (++relays));
        getContext().watchWith(relay, new RelayStopped(t));
        running.put(t, relay);
    }

    private void refuse(Submit s, RequestSession.Reason reason, String message) {
        s.session().tell(new RequestSession.Refused(s.attempt(), reason, message, settings.retryAfterMs()));
    }

    private Behavior<Command> onWithdraw(Withdraw w) {
        Ticket t = new Ticket(w.session(), w.attempt());
        ActorRef<StreamRelay.Command> relay = running.get(t);
        if (relay != null) {
            relay.tell(StreamRelay.Cancel.INSTANCE); // its reservation ends when it stops
        } else if (waiting.remove(t) != null) {
            admitted(admission.release(t));
        }
        return this;
    }

    private Behavior<Command> onRelayStopped(RelayStopped r) {
        running.remove(r.ticket());
        admitted(admission.release(r.ticket()));
        return this;
    }

    private void admitted(List<Ticket> tickets) {
        for (Ticket t : tickets) {
            start(t, waiting.remove(t));
        }
    }

    private Behavior<Command> onDrain(Drain d) {
        boolean first = !admission.isDraining();
        List<Ticket> refused = admission.startDraining();
        for (Ticket t : refused) {
            refuse(waiting.remove(t), RequestSession.Reason.DRAINING, "worker " + workerId + " is draining");
        }
        if (first) {
            getContext().getLog().info("worker {} draining: {} requests running, {} queued ones sent elsewhere",
                    workerId, running.size(), refused.size());
            worker.tell(new GpuWorker.Drain(getContext().getSystem().ignoreRef()));
        }
        d.replyTo().tell(new DrainStarted(workerId, running.size(), refused.size()));
        askLoad(); // the gateways hear of the drain with the next report, now
        return this;
    }

    private Behavior<Command> onGetKvSnapshot(GetKvSnapshot g) {
        worker.tell(new GpuWorker.GetKvSnapshot(g.request(), g.replyTo()));
        return this;
    }

    private Behavior<Command> askLoad() {
        getContext().ask(WorkerLoad.class, worker, Duration.ofMillis(Math.max(1000, settings.reportIntervalMs())),
                GpuWorker.GetLoad::new, (load, error) -> error == null ? new LoadReceived(load) : LoadFailed.INSTANCE);
        return this;
    }

    private Behavior<Command> onLoadReceived(LoadReceived r) {
        WorkerLoad l = r.load();
        if (!admission.isConfigured() && l.isReady() && l.engine().totalBlocks() > 0 && l.kvBlockSize() > 0) {
            admitted(admission.configure(l.engine().totalBlocks(), l.kvBlockSize()));
        } else if (!admission.isConfigured() && !waiting.isEmpty()) {
            timers.startSingleTimer(Recheck.INSTANCE, Duration.ofMillis(50));
        }
        WorkerReport report = report(l);
        if (report != null) {
            reports.tell(Topic.publish(report));
        }
        return this;
    }

    private WorkerReport report(WorkerLoad l) {
        return WorkerReport.of(l, new WorkerReport.Admission(admission.admittableBlocks(), admission.reservedBlocks(),
                admission.requestsQueued(), admission.sequencesQueued(), admission.isDraining()));
    }
}
