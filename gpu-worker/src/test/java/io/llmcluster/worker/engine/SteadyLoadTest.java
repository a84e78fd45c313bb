package io.llmcluster.worker.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.TimedBackend;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The steady-load measurement on the tiny reference Llama (CPU): sane, self-consistent numbers; the engine left idle. */
class SteadyLoadTest {

    @Test
    void shouldKeepTheStreamsInFlightAndMeasureConsistentLatenciesAndThroughput() throws Exception {
        try (ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
             CpuBackend cpu = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(8L << 20).withMaxBatchTokens(128))) {
            TimedBackend timed = new TimedBackend(cpu);
            try (Engine engine = new Engine(model, timed, EngineConfig.defaults().withMaxNumSeqs(8).withMaxNumBatchedTokens(128)
                    .withPrefixCaching(false).withMaxPrefillTokensWhileDecoding(16))) {
                AtomicInteger maxInFlight = new AtomicInteger();
                AtomicBoolean watching = new AtomicBoolean(true);
                Thread watcher = Thread.ofPlatform().start(() -> {
                    while (watching.get()) {
                        EngineStats s = engine.stats();
                        maxInFlight.accumulateAndGet(s.running() + s.waiting(), Math::max);
                        try {
                            Thread.sleep(1);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                SteadyLoad.Result r = SteadyLoad.run(engine, model.config().vocabSize(),
                        new SteadyLoad.Options(4, 8, 40, 16, 1.0, 2.0, 3), timed::forwardNanos);
                watching.set(false);
                watcher.join();

                assertEquals(0, r.errors());
                assertEquals(4, maxInFlight.get(), "running + waiting never passes the streams, and reaches them");
                assertTrue(r.windowSeconds() >= 2.0 && r.windowSeconds() < 4, "window " + r.windowSeconds());
                assertTrue(r.tokens() >= 20, "tokens in the window " + r.tokens()); // hundreds on a quiet machine
                assertEquals(r.tokens(), r.gaps() + r.ttfts(), "each token in the window is a first token or ends a gap");
                assertEquals(r.tokens() / r.windowSeconds(), r.outputTokensPerSecond(), 1e-9);
                assertTrue(r.completed() >= 1 && r.ttfts() >= 1, "requests ended and started in the window: " + r);
                assertTrue(r.itlP50Ms() > 0 && r.itlP50Ms() <= r.itlP90Ms() && r.itlP90Ms() <= r.itlP99Ms()
                        && r.itlP99Ms() <= r.itlP999Ms() && r.itlP999Ms() <= r.itlMaxMs(), "ordered percentiles " + r);
                assertTrue(r.itlMeanMs() > 0 && r.itlMeanMs() <= r.itlMaxMs());
                assertTrue(r.ttftP50Ms() > 0 && r.ttftP50Ms() <= r.ttftP99Ms());
                // four streams decode one token per step each: the window's steps bound its tokens from both sides
                assertTrue(r.steps() > 0 && r.tokens() <= 4 * (r.steps() + 2), r.steps() + " steps, " + r.tokens() + " tokens");
                assertTrue(r.promptTokens() >= 8, "new prompts were computed in the window: " + r.promptTokens());
                assertTrue(r.backendBusyFraction() > 0 && r.backendBusyFraction() <= 1.0, "busy " + r.backendBusyFraction());
                assertTrue(r.stepMs() > 0);

                for (int i = 0; i < 200 && (engine.stats().running() + engine.stats().waiting() > 0 || engine.stats().usedBlocks() > 0); i++) {
                    Thread.sleep(10);
                }
                assertEquals(0, engine.stats().running() + engine.stats().waiting(), "left idle");
                assertEquals(0, engine.stats().usedBlocks());
            }
        }
    }

    @Test
    void shouldRejectARequestThatCannotFitTheContextAndBadOptions() throws Exception {
        try (ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
             CpuBackend cpu = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(1).withKvCacheBytes(8L << 20));
             Engine engine = new Engine(model, cpu, EngineConfig.defaults())) {
            int len = engine.maxModelLen();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SteadyLoad.run(engine,
                    model.config().vocabSize(), new SteadyLoad.Options(2, 8, len, 16, 0, 1, 1), null));
            assertEquals("a prompt of " + len + " tokens plus 16 output tokens does not fit the engine's " + len
                    + "-token context", e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new SteadyLoad.Options(0, 8, 16, 16, 0, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new SteadyLoad.Options(2, 16, 8, 16, 0, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new SteadyLoad.Options(2, 8, 16, 16, 0, 0, 1));
    }

    @Test
    void shouldTakeNearestRankPercentiles() {
        long[] ms = new long[100];
        for (int i = 0; i < ms.length; i++) {
            ms[i] = (i + 1) * 1_000_000L;
        }
        assertEquals(50.0, SteadyLoad.percentile(ms, 0.50));
        assertEquals(99.0, SteadyLoad.percentile(ms, 0.99));
        assertEquals(100.0, SteadyLoad.percentile(ms, 0.999));
        assertEquals(1.0, SteadyLoad.percentile(ms, 0.0));
        assertEquals(7.0, SteadyLoad.percentile(new long[] {7_000_000L}, 0.99));
        assertTrue(Double.isNaN(SteadyLoad.percentile(new long[0], 0.5)));
    }
}
