package io.llmcluster.batcher;

import static io.llmcluster.batcher.Fixture.config;
import static io.llmcluster.batcher.Fixture.request;
import static io.llmcluster.batcher.SchedulingPolicy.FCFS;
import static io.llmcluster.batcher.SchedulingPolicy.PRIORITY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The prefill cap while decoding: exact plans with and without it, on blocks of four tokens. */
class SchedulerPrefillCapTest {

    private static Fixture withCap(int budget, int cap) {
        return new Fixture(40, config(budget, 4, 64, false, FCFS).withMaxPrefillTokensWhileDecoding(cap));
    }

    @Test
    void shouldSpreadAPromptThatArrivesDuringADecodeOverStepsOfAtMostTheCap() {
        Fixture f = withCap(16, 4);
        f.add(request(1, 3, 10));
        assertEquals("1@0+3*", f.step(7));
        f.add(request(2, 10, 10));

        assertEquals("1@3+1* 2@0+4", f.step(7));
        assertEquals("1@4+1* 2@4+4", f.step(7));
        assertEquals("1@5+1* 2@8+2*", f.step(7));
        assertEquals("1@6+1* 2@10+1*", f.step(7));
    }

    @Test
    void shouldComputeTheWholePromptInOneStepWithoutTheCap() {
        Fixture f = withCap(16, 0);
        f.add(request(1, 3, 10));
        assertEquals("1@0+3*", f.step(7));
        f.add(request(2, 10, 10));

        assertEquals("1@3+1* 2@0+10*", f.step(7));
    }

    @Test
    void shouldOpenTheWholeBudgetWhileNoRequestDecodes() {
        Fixture f = withCap(16, 4);
        f.add(request(1, 20, 5));
        f.add(request(2, 30, 5));

        assertEquals("1@0+16", f.step(7));
        assertEquals("1@16+4* 2@0+12", f.step(7)); // request 1 was not decoding yet: no cap
        assertEquals("1@20+1* 2@12+4", f.step(7));
        assertEquals("1@21+1* 2@16+4", f.step(7));
    }

    @Test
    void shouldStopAdmittingOnceTheCapIsSpentEvenForAOneTokenPrompt() {
        Fixture f = withCap(16, 4);
        f.add(request(1, 12, 10));
        f.add(request(2, 12, 10));
        assertEquals("1@0+12* 2@0+4", f.step(7));
        f.add(request(3, 1, 10));

        assertEquals("1@12+1* 2@4+4", f.step(7));
        assertEquals(1, f.scheduler.numWaiting());
        assertEquals("1@13+1* 2@8+4*", f.step(7));
        assertEquals("1@14+1* 2@12+1* 3@0+1*", f.step(7));
    }

    @Test
    void shouldAdmitSeveralShortPromptsWithinTheCap() {
        Fixture f = withCap(16, 6);
        f.add(request(1, 2, 10));
        assertEquals("1@0+2*", f.step(7));
        f.add(request(2, 2, 10));
        f.add(request(3, 3, 10));
        f.add(request(4, 5, 10));

        assertEquals("1@2+1* 2@0+2* 3@0+3* 4@0+1", f.step(7));
        assertEquals("1@3+1* 2@2+1* 3@3+1* 4@1+4*", f.step(7));
    }

    @Test
    void shouldCapUnderThePriorityPolicyToo() {
        Fixture f = new Fixture(40, config(16, 4, 64, false, PRIORITY).withMaxPrefillTokensWhileDecoding(5));
        f.add(request(1, 3, 10, 1));
        assertEquals("1@0+3*", f.step(7));
        f.add(request(2, 12, 10, 0));

        assertEquals("1@3+1* 2@0+5", f.step(7));
        assertEquals("1@4+1* 2@5+5", f.step(7));
    }

    @Test
    void shouldRejectANegativeCap() {
        assertEquals("maxPrefillTokensWhileDecoding must be >= 0 (0 = no cap), got -1",
                assertThrows(IllegalArgumentException.class,
                        () -> config(16, 4, 64, false, FCFS).withMaxPrefillTokensWhileDecoding(-1)).getMessage());
    }

    @Test
    void shouldKeepTheCapInCopiesAndEquality() {
        SchedulerConfig capped = config(16, 4, 64, false, FCFS).withMaxPrefillTokensWhileDecoding(8);
        assertEquals(8, capped.withPolicy(PRIORITY).withPrefixCaching(true).maxPrefillTokensWhileDecoding());
        assertEquals(0, config(16, 4, 64, false, FCFS).maxPrefillTokensWhileDecoding());
        assertEquals(capped, config(16, 4, 64, false, FCFS).withMaxPrefillTokensWhileDecoding(8));
        assertEquals(false, capped.equals(config(16, 4, 64, false, FCFS)));
    }
}
