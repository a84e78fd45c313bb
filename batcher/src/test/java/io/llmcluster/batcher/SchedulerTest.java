package io.llmcluster.batcher;

import static io.llmcluster.batcher.Fixture.config;
import static io.llmcluster.batcher.Fixture.request;
import static io.llmcluster.batcher.SchedulingPolicy.FCFS;
import static io.llmcluster.batcher.SchedulingPolicy.PRIORITY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Exact step plans on a pool of blocks of four tokens. */
class SchedulerTest {

    @Test
    void shouldScheduleDecodesFirstThenAChunkedPrefillFillingTheRemainingBudget() {
        Fixture f = new Fixture(20, config(8, 4, 32, false, FCFS));
        f.add(request(1, 5, 10));
        f.add(request(2, 5, 10));

        assertEquals("1@0+5* 2@0+3", f.step(7));
        assertEquals(8, f.lastPlan.totalTokens());
        assertEquals(1, f.lastPlan.numSampled());

        f.add(request(3, 10, 10));
        assertEquals("1@5+1* 2@3+2* 3@0+5", f.step(7));
        assertEquals(8, f.lastPlan.totalTokens());
        assertEquals("1@6+1* 2@5+1* 3@5+5*", f.step(7));
        assertEquals(7, f.lastPlan.totalTokens());
        assertEquals("1@7+1* 2@6+1* 3@10+1*", f.step(7));
        assertEquals(3, f.lastPlan.totalTokens());
    }

    @Test
    void shouldReportTheNewTokenOnlyForEntriesThatCompleteTheirTokens() {
        Fixture f = new Fixture(20, config(8, 4, 32, false, FCFS));
        Request first = f.add(request(1, 5, 10));
        Request second = f.add(request(2, 5, 10));

        f.step(7);

        StepResult result = f.lastResult;
        assertEquals(2, result.numEntries());
        assertEquals(1, result.requestId(0));
        assertEquals(7, result.newToken(0));
        assertEquals(2, result.requestId(1));
        assertEquals(StepResult.NO_TOKEN, result.newToken(1));
        assertFalse(result.finished(1));
        assertEquals(6, first.numTokens());
        assertEquals(5, first.numComputedTokens());
        assertEquals(5, second.numTokens());
        assertEquals(3, second.numComputedTokens());
        assertArrayEquals(new int[] {100, 101, 102, 103, 104, 7}, tokens(first));
    }

    @Test
    void shouldGiveThePlanTheBlockTablesAndStartPositions() {
        Fixture f = new Fixture(20, config(16, 4, 32, false, FCFS));
        f.add(request(1, 6, 10));
        f.add(request(2, 3, 10));

        f.schedule();

        assertArrayEquals(new int[] {0, 1}, f.lastPlan.blocks(0).toArray());
        assertArrayEquals(new int[] {2}, f.lastPlan.blocks(1).toArray());
        assertEquals(0, f.lastPlan.startPosition(1));
        assertEquals(0, f.lastPlan.numWaiting());
        assertEquals(2, f.lastPlan.numRunning());
        assertEquals(0, f.lastPlan.step());
    }

    @Test
    void shouldCapRunningRequestsAtMaxNumSeqs() {
        Fixture f = new Fixture(20, config(16, 2, 32, false, FCFS));
        f.add(request(1, 2, 1));
        f.add(request(2, 2, 5));
        f.add(request(3, 2, 5));

        assertEquals("1@0+2* 2@0+2*", f.step(7));
        assertEquals(1, f.lastPlan.numWaiting());
        assertEquals(FinishReason.LENGTH, f.lastResult.finishReason(0));
        assertEquals("2@2+1* 3@0+2*", f.step(7));
        assertEquals(0, f.lastPlan.numWaiting());
    }

    @Test
    void shouldAdmitInTheOrderOfAddUnderFcfs() {
        Fixture f = new Fixture(20, config(16, 2, 32, false, FCFS));
        f.add(request(5, 2, 5, 9));
        f.add(request(3, 2, 5, 0));
        f.add(request(9, 2, 5, -3));

        assertEquals("5@0+2* 3@0+2*", f.step(7));
        assertEquals(9, f.scheduler.waitingRequest(0).id());
    }

    @Test
    void shouldAdmitByPriorityThenArrivalUnderPriority() {
        Fixture f = new Fixture(20, config(16, 3, 32, false, PRIORITY));
        f.add(request(1, 2, 5, 2));
        f.add(request(2, 2, 5, 0));
        f.add(request(3, 2, 5, 1));
        f.add(request(4, 2, 5, 0));

        assertEquals("2@0+2* 4@0+2* 3@0+2*", f.step(7));
        assertEquals(1, f.scheduler.waitingRequest(0).id());
    }

    @Test
    void shouldStopAdmittingAtTheFirstWaitingRequestThatDoesNotFit() {
        Fixture f = new Fixture(8, config(40, 4, 32, false, FCFS));
        f.add(request(1, 20, 5)); // 5 blocks; then 2's 16 tokens need 4 of the 3 left, and 3 waits behind it
        f.add(request(2, 16, 5));
        f.add(request(3, 2, 5));

        assertEquals("1@0+20*", f.step(7));
        assertEquals(2, f.lastPlan.numWaiting());
        assertEquals(3, f.pool.numFreeBlocks());
    }

    @Test
    void shouldSkipExactlyTheCachedFullBlocksOfAPrefixHit() {
        Fixture f = new Fixture(20, config(16, 4, 32, true, FCFS));
        int[] prompt = Fixture.prompt(1, 10);
        f.add(new Request(1, prompt, Fixture.greedy(1)));
        assertEquals("1@0+10*", f.step(7));
        assertArrayEquals(new int[] {}, f.blocksOf(1));

        Request hit = f.add(new Request(2, prompt, Fixture.greedy(5)));
        assertEquals("2@8+2*", f.step(7));
        assertEquals(8, hit.numCachedTokens());
        assertArrayEquals(new int[] {0, 1, 2}, f.blocksOf(2));
    }

    @Test
    void shouldNeverTakeTheLastPromptTokenFromThePrefixCache() {
        Fixture f = new Fixture(20, config(16, 4, 32, true, FCFS));
        int[] prompt = Fixture.prompt(1, 8);
        f.add(new Request(1, prompt, Fixture.greedy(1)));
        f.step(7);

        Request hit = f.add(new Request(2, prompt, Fixture.greedy(5)));
        assertEquals("2@4+4*", f.step(7));
        assertEquals(4, hit.numCachedTokens());
        assertEquals(0.25, f.scheduler.stats().kv().prefixHitRate()); // 4 of 16 queried tokens
    }

    @Test
    void shouldNotLookUpThePrefixCacheWhenPrefixCachingIsOff() {
        Fixture f = new Fixture(20, config(16, 4, 32, false, FCFS));
        int[] prompt = Fixture.prompt(1, 10);
        f.add(new Request(1, prompt, Fixture.greedy(1)));
        f.step(7);

        f.add(new Request(2, prompt, Fixture.greedy(5)));
        assertEquals("2@0+10*", f.step(7));
        assertEquals(0, f.scheduler.stats().kv().prefixQueries());
    }

    @Test
    void shouldFreeBlocksAtOnceWhenARunningRequestIsCancelled() {
        Fixture f = new Fixture(20, config(16, 4, 32, false, FCFS));
        Request request = f.add(request(1, 10, 5));
        f.step(7);
        assertEquals(17, f.pool.numFreeBlocks());

        assertTrue(f.scheduler.cancel(1));

        assertEquals(20, f.pool.numFreeBlocks());
        assertFalse(f.kv.hasRequest(1));
        assertSame(RequestStatus.FINISHED, request.status());
        assertSame(FinishReason.ABORT, request.finishReason());
        assertEquals(0, f.scheduler.numRunning());
        assertNull(f.scheduler.request(1));
        assertFalse(f.scheduler.cancel(1));
        assertEquals("", f.schedule());
    }

    @Test
    void shouldRemoveAWaitingRequestWhenCancelled() {
        Fixture f = new Fixture(20, config(16, 1, 32, false, FCFS));
        f.add(request(1, 2, 5));
        Request waiting = f.add(request(2, 2, 5));
        f.step(7);

        assertTrue(f.scheduler.cancel(2));

        assertEquals(0, f.scheduler.numWaiting());
        assertSame(FinishReason.ABORT, waiting.finishReason());
        assertFalse(f.scheduler.cancel(3));
    }

    @Test
    void shouldGiveNoTokenToAnEntryCancelledBetweenScheduleAndUpdate() {
        Fixture f = new Fixture(20, config(16, 4, 32, false, FCFS));
        Request cancelled = f.add(request(1, 4, 5));
        f.add(request(2, 4, 5));
        f.schedule();

        f.scheduler.cancel(1);
        StepResult result = f.scheduler.update(f.lastPlan, new int[] {7, 8});

        assertEquals(StepResult.NO_TOKEN, result.newToken(0));
        assertFalse(result.finished(0));
        assertEquals(8, result.newToken(1));
        assertEquals(0, cancelled.numOutputTokens());
        assertEquals(19, f.pool.numFreeBlocks());
        assertEquals("2@4+1*", f.step(7));
    }

    @Test
    void shouldFreeBlocksAtOnceWhenFinishedByAStopString() {
        Fixture f = new Fixture(20, config(16, 4, 32, false, FCFS));
        Request request = f.add(request(1, 10, 5));
        f.step(7);

        assertTrue(f.scheduler.finish(1, FinishReason.STOP));

        assertEquals(20, f.pool.numFreeBlocks());
        assertSame(FinishReason.STOP, request.finishReason());
        assertFalse(f.scheduler.hasUnfinishedRequests());
    }

    @Test
    void shouldCountStepsPreemptionsAndQueuesInStats() {
        Fixture f = new Fixture(20, config(16, 1, 32, false, FCFS));
        f.add(request(1, 6, 5));
        f.add(request(2, 2, 5));
        f.step(7);
        f.step(7);

        SchedulerStats stats = f.scheduler.stats();
        assertEquals(1, stats.numRunning());
        assertEquals(1, stats.numWaiting());
        assertEquals(2, stats.numSteps());
        assertEquals(0, stats.numPreemptions());
        assertEquals(18, stats.kv().freeBlocks());
    }

    private static int[] tokens(Request request) {
        int[] tokens = new int[request.numTokens()];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = request.tokenAt(i);
        }
        return tokens;
    }
}
