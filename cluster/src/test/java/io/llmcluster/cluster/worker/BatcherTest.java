package io.llmcluster.cluster.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.cluster.gateway.RequestSession;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.WorkerLoad;
import io.llmcluster.worker.actor.WorkerState;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.EngineStats;
import io.llmcluster.worker.engine.TokenChunk;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The Batcher and its StreamRelays against a fake engine actor (a pool of 10 blocks of 4 tokens, at most 4
 * sequences in flight): admission by KV footprint, queueing and admission on release, the ack window of the token
 * stream, cancel, drain. Sessions are test probes.
 */
class BatcherTest {
    private static final ActorTestKit KIT = ActorTestKit.create("batcher-test");
    private static final Duration SHORT = Duration.ofMillis(300);

    @AfterAll
    static void stop() {
        KIT.shutdownTestKit();
    }

    /** Answers GetLoad with a ready engine of 10 blocks x 4 tokens; hands everything else to {@code seen}. */
    private static Behavior<GpuWorker.Command> fakeEngine(ActorRef<GpuWorker.Command> seen) {
        EngineStats stats = new EngineStats(0, 0, 10, 10, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0);
        WorkerLoad load = new WorkerLoad("w", WorkerState.READY, 0, 4, 64, "fake", EngineConfig.defaults(), stats, 0,
                -1, 1, 4);
        return Behaviors.receive(GpuWorker.Command.class)
                .onMessage(GpuWorker.GetLoad.class, g -> {
                    g.replyTo().tell(load);
                    return Behaviors.same();
                })
                .onAnyMessage(m -> {
                    seen.tell(m);
                    return Behaviors.same();
                })
                .build();
    }

    private static GpuWorker.SequenceSpec[] sequences(int count, int promptTokens, int maxTokens) {
        GpuWorker.SequenceSpec[] out = new GpuWorker.SequenceSpec[count];
        for (int i = 0; i < count; i++) {
            out[i] = new GpuWorker.SequenceSpec(new int[promptTokens], SamplingParams.greedy(maxTokens), 0);
        }
        return out;
    }

    private static TokenChunk chunk(long engineId, int token, FinishReason end) {
        return new TokenChunk(engineId, token, "t", Float.NaN, new int[0], new float[0], end, 4, 1);
    }

    /** Receives batches until {@code sequences} last chunks have come; the number of the last batch. */
    private static long receiveUntilEnded(TestProbe<RequestSession.Command> session, int sequences) {
        int ended = 0;
        long seq = 0;
        while (ended < sequences) {
            RequestSession.ChunkBatch b = session.expectMessageClass(RequestSession.ChunkBatch.class);
            seq = b.seq();
            for (TokenChunk c : b.chunks()) {
                ended += c.isLast() ? 1 : 0;
            }
        }
        return seq;
    }

    private record Setup(ActorRef<Batcher.Command> batcher, TestProbe<GpuWorker.Command> engine) {}

    private static Setup start(String name, int window, int maxQueued) {
        TestProbe<GpuWorker.Command> engine = KIT.createTestProbe();
        ActorRef<GpuWorker.Command> worker = KIT.spawn(fakeEngine(engine.getRef()), name + "-engine");
        ActorRef<Topic.Command<WorkerReport>> reports = KIT.spawn(Topic.create(WorkerReport.class, name + "-reports"));
        TestProbe<WorkerReport> published = KIT.createTestProbe();
        reports.tell(Topic.subscribe(published.getRef()));
        ActorRef<Batcher.Command> batcher = KIT.spawn(Batcher.create(name, worker, reports,
                new BatcherSettings(4, maxQueued, window, 50, 1000)), name);
        WorkerReport first = published.expectMessageClass(WorkerReport.class, Duration.ofSeconds(10));
        assertEquals(10, first.load().freeBlocks()); // it knows the pool: admissions from now on are by footprint
        return new Setup(batcher, engine);
    }

    @Test
    void shouldStreamUnderTheAckWindowMergingWhatWaitsAndStopAfterTheLastAck() {
        Setup s = start("w-window", 2, 4);
        TestProbe<RequestSession.Command> session = KIT.createTestProbe();
        s.batcher().tell(new Batcher.Submit(1, sequences(1, 4, 8), 0, session.getRef()));
        GpuWorker.Generate g = s.engine().expectMessageClass(GpuWorker.Generate.class);
        g.replyTo().tell(new GpuWorker.Accepted(new long[] {77}));
        RequestSession.Admitted admitted = session.expectMessageClass(RequestSession.Admitted.class);
        assertEquals(1, admitted.attempt());
        for (int t = 1; t <= 5; t++) {
            g.chunksTo().tell(chunk(77, t, t == 5 ? FinishReason.LENGTH : null));
        }
        RequestSession.ChunkBatch first = session.expectMessageClass(RequestSession.ChunkBatch.class);
        RequestSession.ChunkBatch second = session.expectMessageClass(RequestSession.ChunkBatch.class);
        assertEquals(1, first.seq());
        assertEquals(2, second.seq());
        session.expectNoMessage(SHORT); // two unacknowledged: the rest waits on the worker
        admitted.relay().tell(new StreamRelay.Ack(1));
        RequestSession.ChunkBatch merged = session.expectMessageClass(RequestSession.ChunkBatch.class);
        assertEquals(3, merged.seq());
        int[] tokens = java.util.Arrays.stream(merged.chunks()).mapToInt(TokenChunk::tokenId).toArray();
        assertEquals(first.chunks().length + second.chunks().length + tokens.length, 5);
        assertEquals(0, merged.chunks()[0].requestId()); // renumbered: sequence 0
        assertEquals(FinishReason.LENGTH, merged.chunks()[merged.chunks().length - 1].finishReason());
        admitted.relay().tell(new StreamRelay.Ack(3));
        session.expectTerminated(admitted.relay(), Duration.ofSeconds(5));
    }

    @Test
    void shouldQueueWhatDoesNotFitAndAdmitItWhenTheFirstRequestEnds() {
        Setup s = start("w-queue", 4, 4);
        TestProbe<RequestSession.Command> a = KIT.createTestProbe();
        TestProbe<RequestSession.Command> b = KIT.createTestProbe();
        s.batcher().tell(new Batcher.Submit(1, sequences(2, 4, 16), 0, a.getRef())); // 2 x 5 = 10 blocks: the pool
        GpuWorker.Generate ga = s.engine().expectMessageClass(GpuWorker.Generate.class);
        s.batcher().tell(new Batcher.Submit(1, sequences(1, 4, 4), 0, b.getRef()));  // 2 blocks: waits
        s.engine().expectNoMessage(SHORT);
        ga.replyTo().tell(new GpuWorker.Accepted(new long[] {1, 2}));
        RequestSession.Admitted admitted = a.expectMessageClass(RequestSession.Admitted.class);
        ga.chunksTo().tell(chunk(1, 5, FinishReason.STOP));
        ga.chunksTo().tell(chunk(2, 6, FinishReason.STOP));
        long lastSeq = receiveUntilEnded(a, 2);
        s.engine().expectNoMessage(SHORT); // the reservation holds until the gateway has the last batch
        admitted.relay().tell(new StreamRelay.Ack(lastSeq));
        GpuWorker.Generate gb = s.engine().expectMessageClass(GpuWorker.Generate.class);
        assertEquals(1, gb.sequences().size());
    }

    @Test
    void shouldCancelInTheEngineWhenTheSessionCancels() {
        Setup s = start("w-cancel", 4, 4);
        TestProbe<RequestSession.Command> session = KIT.createTestProbe();
        s.batcher().tell(new Batcher.Submit(3, sequences(1, 4, 8), 0, session.getRef()));
        GpuWorker.Generate g = s.engine().expectMessageClass(GpuWorker.Generate.class);
        g.replyTo().tell(new GpuWorker.Accepted(new long[] {42}));
        RequestSession.Admitted admitted = session.expectMessageClass(RequestSession.Admitted.class);
        admitted.relay().tell(StreamRelay.Cancel.INSTANCE);
        assertArrayEquals(new long[] {42}, s.engine().expectMessageClass(GpuWorker.Cancel.class).requestIds());
        g.chunksTo().tell(chunk(42, -1, FinishReason.ABORT)); // the engine ends it: the relay stops, nothing sent
        session.expectTerminated(admitted.relay(), Duration.ofSeconds(5));
    }

    @Test
    void shouldRefuseWhatItQueuesAndWhatComesWhenDraining() {
        Setup s = start("w-drain", 4, 4);
        TestProbe<RequestSession.Command> a = KIT.createTestProbe();
        TestProbe<RequestSession.Command> b = KIT.createTestProbe();
        TestProbe<Batcher.DrainStarted> drained = KIT.createTestProbe();
        s.batcher().tell(new Batcher.Submit(1, sequences(1, 4, 36), 0, a.getRef())); // 10 blocks
        s.engine().expectMessageClass(GpuWorker.Generate.class);
        s.batcher().tell(new Batcher.Submit(2, sequences(1, 4, 4), 0, b.getRef()));
        s.batcher().tell(new Batcher.Drain(drained.getRef()));
        assertEquals(new Batcher.DrainStarted("w-drain", 1, 1), drained.receiveMessage());
        RequestSession.Refused refused = b.expectMessageClass(RequestSession.Refused.class);
        assertEquals(new RequestSession.Refused(2, RequestSession.Reason.DRAINING, "worker w-drain is draining", 1000),
                refused);
        assertInstanceOf(GpuWorker.Drain.class, s.engine().receiveMessage());
        s.batcher().tell(new Batcher.Submit(1, sequences(1, 4, 4), 0, b.getRef()));
        assertEquals(RequestSession.Reason.DRAINING, b.expectMessageClass(RequestSession.Refused.class).reason());
    }

    @Test
    void shouldRefuseWhenItsQueueIsFull() {
        Setup s = start("w-full", 4, 0);
        TestProbe<RequestSession.Command> a = KIT.createTestProbe();
        s.batcher().tell(new Batcher.Submit(1, sequences(1, 4, 36), 0, a.getRef()));
        s.engine().expectMessageClass(GpuWorker.Generate.class);
        s.batcher().tell(new Batcher.Submit(2, sequences(1, 4, 4), 0, a.getRef()));
        RequestSession.Refused r = a.expectMessageClass(RequestSession.Refused.class);
        assertEquals(RequestSession.Reason.QUEUE_FULL, r.reason());
        assertTrue(r.message().contains("1 sequences in flight"), r.message());
        s.engine().expectNoMessage(SHORT); // nothing else reached the engine
    }
}
