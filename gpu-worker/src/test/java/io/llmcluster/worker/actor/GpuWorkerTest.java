package io.llmcluster.worker.actor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The GpuWorker actor around a real engine on the tiny Llama. */
class GpuWorkerTest {
    private static final ActorTestKit KIT = ActorTestKit.create();
    private static final int[] PROMPT = {507, 82, 470, 273, 76};
    private static final SamplingParams LONG = SamplingParams.builder().temperature(0).maxTokens(200).ignoreEos(true).build();

    private final AtomicReference<Engine> engine = new AtomicReference<>();
    private ActorRef<GpuWorker.Command> worker;

    @AfterAll
    static void shutdown() {
        KIT.shutdownTestKit();
    }

    @AfterEach
    void stopWorker() {
        if (worker != null) {
            KIT.stop(worker);
        }
    }

    private EngineFactory tinyEngine(CountDownLatch startGate) {
        return kvEvents -> {
            startGate.await();
            ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
            CpuBackend cpu = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(1).withKvCacheBytes(4L << 20));
            SlowBackend backend = new SlowBackend(cpu, 2); // 200 tokens take at least 0.4 s, longer than the test needs
            Engine e = new Engine(model, backend, EngineConfig.defaults(), kvEvents);
            engine.set(e);
            return new LoadedEngine(e, backend.describe(), EngineConfig.defaults(), () -> {
                backend.close();
                model.close();
            });
        };
    }

    private ActorRef<GpuWorker.Command> start(int maxInFlight, CountDownLatch gate) {
        worker = KIT.spawn(GpuWorker.create(new WorkerSettings("w0", maxInFlight, 1000), tinyEngine(gate)));
        return worker;
    }

    private WorkerLoad awaitReady() {
        TestProbe<WorkerLoad> probe = KIT.createTestProbe();
        return probe.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(20), () -> {
            worker.tell(new GpuWorker.GetLoad(probe.ref()));
            WorkerLoad l = probe.receiveMessage();
            assertTrue(l.isReady());
            return l;
        });
    }

    private GpuWorker.GenerateReply generate(SamplingParams params, long timeoutMs, TestProbe<TokenChunk> chunks) {
        TestProbe<GpuWorker.GenerateReply> reply = KIT.createTestProbe();
        worker.tell(new GpuWorker.Generate(List.of(new GpuWorker.SequenceSpec(PROMPT, params, 0)), timeoutMs,
                chunks.ref(), reply.ref()));
        return reply.receiveMessage(Duration.ofSeconds(10));
    }

    private static TokenChunk lastChunk(TestProbe<TokenChunk> chunks) {
        return chunks.fishForMessage(Duration.ofSeconds(30), c -> c.isLast()
                ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
                : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore()).getLast();
    }

    @Test
    void shouldRefuseAsNotReadyUntilTheEngineHasStartedThenServe() {
        CountDownLatch gate = new CountDownLatch(1);
        start(4, gate);
        TestProbe<TokenChunk> chunks = KIT.createTestProbe();
        GpuWorker.Rejected r = assertInstanceOf(GpuWorker.Rejected.class, generate(LONG, 0, chunks));
        assertEquals(GpuWorker.Reason.NOT_READY, r.reason());
        gate.countDown();
        awaitReady();
        assertInstanceOf(GpuWorker.Accepted.class, generate(SamplingParams.greedy(4), 0, chunks));
        TokenChunk last = lastChunk(chunks);
        assertEquals(FinishReason.LENGTH, last.finishReason());
        assertEquals(4, last.completionTokens());
    }

    @Test
    void shouldRefuseAsQueueFullBeyondTheLimitAndFreeBlocksWithinOneStepOfACancel() {
        start(1, new CountDownLatch(0));
        awaitReady();
        TestProbe<TokenChunk> chunks = KIT.createTestProbe();
        long id = assertInstanceOf(GpuWorker.Accepted.class, generate(LONG, 0, chunks)).requestIds()[0];
        chunks.receiveMessage(Duration.ofSeconds(10));
        GpuWorker.Rejected full = assertInstanceOf(GpuWorker.Rejected.class, generate(LONG, 0, KIT.createTestProbe()));
        assertEquals(GpuWorker.Reason.QUEUE_FULL, full.reason());
        assertEquals(1000, full.retryAfterMs());

        worker.tell(new GpuWorker.Cancel(new long[] {id}));
        TokenChunk last = lastChunk(chunks);
        assertEquals(FinishReason.ABORT, last.finishReason());
        assertTrue(last.completionTokens() < 200);
        TestProbe<WorkerLoad> probe = KIT.createTestProbe();
        probe.awaitAssert(Duration.ofSeconds(5), Duration.ofMillis(5), () -> {
            var s = engine.get().stats();
            assertEquals(0, s.usedBlocks());
            assertEquals(0, s.running());
            return null;
        });
        WorkerLoad after = probe.awaitAssert(Duration.ofSeconds(5), Duration.ofMillis(10), () -> {
            worker.tell(new GpuWorker.GetLoad(probe.ref()));
            WorkerLoad l = probe.receiveMessage();
            assertEquals(0, l.inFlight());
            return l;
        });
        // the engine frees a cancelled request's blocks on the turn that reads the cancel: at most the step in
        // progress when the cancel was queued runs in between (nothing else runs, so the count stops there)
        assertEquals(1, after.cancels());
        assertTrue(engine.get().stats().steps() <= after.lastCancelAtStep() + 1,
                "steps " + engine.get().stats().steps() + " > " + after.lastCancelAtStep() + " + 1");
    }

    @Test
    void shouldCancelARequestThatRunsPastItsTimeout() {
        start(4, new CountDownLatch(0));
        awaitReady();
        TestProbe<TokenChunk> chunks = KIT.createTestProbe();
        SamplingParams endless = SamplingParams.builder().temperature(0).maxTokens(100_000).ignoreEos(true).build();
        assertInstanceOf(GpuWorker.Accepted.class, generate(endless, 100, chunks)); // the context ends it after 0.5 s
        TokenChunk last = lastChunk(chunks);
        assertEquals(FinishReason.ABORT, last.finishReason());
        KIT.createTestProbe().awaitAssert(Duration.ofSeconds(5), Duration.ofMillis(10), () -> {
            assertEquals(0, engine.get().stats().usedBlocks());
            return null;
        });
    }

    @Test
    void shouldRefuseNewRequestsWhileDrainingAndAnswerTheDrainWhenTheLastRequestEnds() {
        start(4, new CountDownLatch(0));
        awaitReady();
        TestProbe<TokenChunk> chunks = KIT.createTestProbe();
        assertInstanceOf(GpuWorker.Accepted.class, generate(SamplingParams.builder().temperature(0).maxTokens(40)
                .ignoreEos(true).build(), 0, chunks));
        TestProbe<WorkerLoad> drained = KIT.createTestProbe();
        worker.tell(new GpuWorker.Drain(drained.ref()));
        GpuWorker.Rejected r = assertInstanceOf(GpuWorker.Rejected.class, generate(LONG, 0, KIT.createTestProbe()));
        assertEquals(GpuWorker.Reason.DRAINING, r.reason());
        assertEquals(FinishReason.LENGTH, lastChunk(chunks).finishReason(), "the request in flight completes");
        WorkerLoad l = drained.receiveMessage(Duration.ofSeconds(30));
        assertEquals(WorkerState.DRAINING, l.state());
        assertEquals(0, l.inFlight());
    }
}
