package io.llmcluster.batcher;

import static io.llmcluster.batcher.Fixture.config;
import static io.llmcluster.batcher.Fixture.request;
import static io.llmcluster.batcher.SchedulingPolicy.FCFS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.BlockPool;
import io.llmcluster.kv.HashExtra;
import io.llmcluster.kv.KvCacheManager;
import org.junit.jupiter.api.Test;

/** Bad configs, bad requests and misuse of the step protocol are rejected with clear messages. */
class SchedulerValidationTest {
    private final Fixture f = new Fixture(20, config(16, 4, 32, false, FCFS));

    private static String message(Class<? extends Throwable> type, org.junit.jupiter.api.function.Executable call) {
        return assertThrows(type, call).getMessage();
    }

    @Test
    void shouldRejectAnEmptyPrompt() {
        assertEquals("request 1: the prompt is empty",
                message(IllegalArgumentException.class, () -> f.scheduler.add(request(1, 0, 5))));
    }

    @Test
    void shouldRejectAPromptLongerThanMaxModelLenMinusOne() {
        assertEquals("request 1: the prompt has 32 tokens, but maxModelLen 32 allows at most 31 so that one token"
                        + " can be generated",
                message(IllegalArgumentException.class, () -> f.scheduler.add(request(1, 32, 5))));
        assertEquals(0, f.scheduler.numWaiting());
    }

    @Test
    void shouldRejectADuplicateIdAndARequestAddedTwice() {
        Request first = f.add(request(1, 4, 5));
        assertEquals("request 1 is already waiting or running",
                message(IllegalArgumentException.class, () -> f.scheduler.add(request(1, 4, 5))));
        f.scheduler.cancel(1);
        assertEquals("request 1 was added before (FINISHED); make a new Request",
                message(IllegalArgumentException.class, () -> f.scheduler.add(first)));
    }

    @Test
    void shouldRejectAPoolThatCannotHoldOneSequenceOfMaxModelLen() {
        KvCacheManager small = new KvCacheManager(new BlockPool(7, 4, 1),
                new BlockHasher(HashExtra.base("tiny", "f32"), 4));
        assertEquals("the KV pool has 7 blocks of 4 tokens, fewer than the 8 one sequence of maxModelLen 32 tokens"
                        + " needs",
                message(IllegalArgumentException.class,
                        () -> new Scheduler(config(16, 4, 32, false, FCFS), small)));
    }

    @Test
    void shouldRejectBadConfigValues() {
        assertEquals("maxNumSeqs must be >= 1, got 0",
                message(IllegalArgumentException.class, () -> config(16, 0, 32, false, FCFS)));
        assertEquals("maxNumBatchedTokens must be >= maxNumSeqs (4) so every running request can decode in one"
                        + " step, got 3",
                message(IllegalArgumentException.class, () -> config(3, 4, 32, false, FCFS)));
        assertEquals("maxModelLen must be >= 2 (a prompt token and an output token), got 1",
                message(IllegalArgumentException.class, () -> config(16, 4, 1, false, FCFS)));
        assertEquals("eosTokenIds[1] must be a token id >= 0, got -1",
                message(IllegalArgumentException.class,
                        () -> new SchedulerConfig(16, 4, 32, false, FCFS, new int[] {2, -1})));
        assertThrows(NullPointerException.class, () -> new SchedulerConfig(16, 4, 32, false, null, new int[0]));
    }

    @Test
    void shouldCompareConfigsByValueAndNotShareTheEosArray() {
        int[] eos = {2};
        SchedulerConfig config = new SchedulerConfig(16, 4, 32, true, FCFS, eos);
        eos[0] = 9;
        assertEquals(new SchedulerConfig(16, 4, 32, true, FCFS, new int[] {2}), config);
        config.eosTokenIds()[0] = 9;
        assertEquals(2, config.eosTokenIds()[0]);
        assertEquals(SchedulingPolicy.PRIORITY, config.withPolicy(SchedulingPolicy.PRIORITY).policy());
    }

    @Test
    void shouldRejectSchedulingAgainBeforeTheLastPlanIsUpdated() {
        f.add(request(1, 4, 5));
        f.schedule();
        assertEquals("step 0 was scheduled but not updated",
                message(IllegalStateException.class, f.scheduler::schedule));
    }

    @Test
    void shouldRejectUpdatingAPlanTwice() {
        f.add(request(1, 4, 5));
        f.step(7);
        assertEquals("step 0 was already updated",
                message(IllegalStateException.class, () -> f.scheduler.update(f.lastPlan, new int[] {7})));
    }

    @Test
    void shouldRejectTooFewOrNegativeSampledTokensWithoutChangingAnything() {
        Request request = f.add(request(1, 4, 5));
        f.add(request(2, 4, 5));
        f.schedule();
        assertEquals("sampledTokens has 1 tokens for 2 entries",
                message(IllegalArgumentException.class, () -> f.scheduler.update(f.lastPlan, new int[] {7})));
        assertEquals("sampledTokens[1] must be a token id >= 0 (request 2 samples this step), got -1",
                message(IllegalArgumentException.class, () -> f.scheduler.update(f.lastPlan, new int[] {7, -1})));
        assertEquals(0, request.numComputedTokens());
        f.scheduler.update(f.lastPlan, new int[] {7, 8});
        assertEquals(4, request.numComputedTokens());
    }

    @Test
    void shouldAllowSchedulingAgainAfterAnEmptyPlanWithoutUpdate() {
        assertEquals("", f.schedule());
        assertEquals("", f.schedule());
        assertEquals(0, f.scheduler.update(f.lastPlan, new int[0]).numEntries());
    }
}
