package io.llmcluster.batcher;

import static io.llmcluster.batcher.Fixture.config;
import static io.llmcluster.batcher.Fixture.request;
import static io.llmcluster.batcher.SchedulingPolicy.FCFS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/**
 * The fill phase: a burst of waiting requests with free seats is admitted at the whole budget, not at the prefill
 * cap; a lone arrival stays capped. Exact plans on blocks of four tokens, budget 16, 4 seats, cap 4.
 */
class SchedulerFillPhaseTest {

    private static Fixture withFill(int minWaiting) {
        return new Fixture(40, config(16, 4, 64, false, FCFS).withMaxPrefillTokensWhileDecoding(4)
                .withFillPhaseMinWaiting(minWaiting));
    }

    @Test
    void shouldAdmitABurstAtTheWholeBudgetAndKeepFillingUntilTheQueueIsEmpty() {
        Fixture f = withFill(2);
        f.add(request(1, 3, 10));
        assertEquals("1@0+3*", f.step(7));
        f.add(request(2, 10, 10));
        f.add(request(3, 10, 10));
        f.add(request(4, 6, 10));

        assertEquals("1@3+1* 2@0+10* 3@0+5", f.step(7)); // 3 waiting, 3 free seats: fill, no cap
        // one waiting request is below the threshold, but the phase lasts while any waiting one could take a seat
        assertEquals("1@4+1* 2@10+1* 3@5+5* 4@0+6*", f.step(7));
        assertEquals("1@5+1* 2@11+1* 3@10+1* 4@6+1*", f.step(7));
        assertEquals(2, f.scheduler.numFillSteps());
    }

    @Test
    void shouldAdmitTheSameBurstAtTheCapWithoutAFillPhase() {
        Fixture f = withFill(0);
        f.add(request(1, 3, 10));
        assertEquals("1@0+3*", f.step(7));
        f.add(request(2, 10, 10));
        f.add(request(3, 10, 10));
        f.add(request(4, 6, 10));

        assertEquals("1@3+1* 2@0+4", f.step(7));
        assertEquals("1@4+1* 2@4+4", f.step(7));
    }

    @Test
    void shouldCapALoneArrivalBelowTheThreshold() {
        Fixture f = withFill(2);
        f.add(request(1, 3, 10));
        assertEquals("1@0+3*", f.step(7));
        f.add(request(2, 10, 10));

        assertEquals("1@3+1* 2@0+4", f.step(7));
        assertEquals("1@4+1* 2@4+4", f.step(7));
    }

    @Test
    void shouldEndTheFillPhaseOnceTheSeatsAreFullAndCapTheRequestsThatWaitAfter() {
        Fixture f = withFill(2);
        f.add(request(1, 3, 10));
        assertEquals("1@0+3*", f.step(7));
        f.add(request(2, 6, 2));
        for (int id = 3; id <= 6; id++) {
            f.add(request(id, 6, 10));
        }

        assertEquals("1@3+1* 2@0+6* 3@0+6* 4@0+3", f.step(7)); // 5 waiting, 3 seats: fill; then the seats are full
        assertEquals("1@4+1* 2@6+1* 3@6+1* 4@3+3*", f.step(7)); // none can take a seat: the phase ends, cap 4
        assertEquals(FinishReason.LENGTH, f.lastResult.finishReason(1));
        assertEquals(3, f.scheduler.numRunning());
        // request 2 ended: 2 waiting, 1 free seat, 1 < 2: capped
        assertEquals("1@5+1* 3@7+1* 4@6+1* 5@0+4", f.step(7));
        assertEquals("1@6+1* 3@8+1* 4@7+1* 5@4+2*", f.step(7));
        assertEquals(1, f.scheduler.numFillSteps());
    }

    @Test
    void shouldRejectANegativeThresholdAndKeepItInEqualityAndCopies() {
        assertEquals("fillPhaseMinWaiting must be >= 0 (0 = never), got -1",
                assertThrows(IllegalArgumentException.class, () -> withFill(-1)).getMessage());
        SchedulerConfig a = config(16, 4, 64, false, FCFS).withFillPhaseMinWaiting(3);
        assertEquals(3, a.withMaxPrefillTokensWhileDecoding(8).withPolicy(SchedulingPolicy.PRIORITY)
                .withPrefixCaching(true).fillPhaseMinWaiting());
        assertEquals(0, config(16, 4, 64, false, FCFS).fillPhaseMinWaiting());
        assertEquals(false, a.equals(config(16, 4, 64, false, FCFS)));
        assertEquals(2, SchedulerConfig.defaultFillPhaseMinWaiting(4));
        assertEquals(32, SchedulerConfig.defaultFillPhaseMinWaiting(256));
    }
}
