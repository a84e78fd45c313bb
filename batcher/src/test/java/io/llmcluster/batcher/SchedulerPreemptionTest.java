package io.llmcluster.batcher;

import static io.llmcluster.batcher.Fixture.config;
import static io.llmcluster.batcher.Fixture.request;
import static io.llmcluster.batcher.SchedulingPolicy.FCFS;
import static io.llmcluster.batcher.SchedulingPolicy.PRIORITY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

/** Preemption by recompute: exact victims, plans, block tables and free queues. */
class SchedulerPreemptionTest {

    /** Two 12-token prompts fill 6 of 8 blocks; each decode crossing a block boundary needs one more. */
    private static Fixture twoRunningRequestsFillingThePool(boolean prefixCaching) {
        Fixture f = new Fixture(8, config(32, 4, 32, prefixCaching, FCFS));
        f.add(request(1, 12, 6));
        f.add(request(2, 12, 20));
        assertEquals("1@0+12* 2@0+12*", f.step(7));
        assertEquals("1@12+1* 2@12+1*", f.step(7));
        assertArrayEquals(new int[] {0, 1, 2, 6}, f.blocksOf(1));
        assertArrayEquals(new int[] {3, 4, 5, 7}, f.blocksOf(2));
        assertEquals("1@13+1* 2@13+1*", f.step(7));
        assertEquals("1@14+1* 2@14+1*", f.step(7));
        assertEquals("1@15+1* 2@15+1*", f.step(7));
        assertEquals(0, f.pool.numFreeBlocks());
        return f;
    }

    @Test
    void shouldPreemptNewestRunningWhenNoFreeBlocks() {
        Fixture f = twoRunningRequestsFillingThePool(false);
        Request victim = f.scheduler.request(2);
        Request later = f.add(request(3, 4, 5));

        assertEquals("1@16+1* preempted=2", f.schedule());

        assertArrayEquals(new int[] {0, 1, 2, 6, 7}, f.blocksOf(1));
        assertArrayEquals(new int[] {5, 4, 3}, f.pool.freeBlocksInEvictionOrder());
        assertFalse(f.kv.hasRequest(2));
        assertSame(RequestStatus.WAITING, victim.status());
        assertEquals(0, victim.numComputedTokens());
        assertEquals(1, victim.numPreemptions());
        assertEquals(17, victim.numTokens());
        assertEquals(5, victim.numOutputTokens());
        assertSame(victim, f.scheduler.waitingRequest(0));
        assertSame(later, f.scheduler.waitingRequest(1));
        assertEquals(1, f.scheduler.stats().numPreemptions());
        assertEquals(1, f.lastPlan.numRunning());
        assertEquals(2, f.lastPlan.numWaiting());
    }

    @Test
    void shouldReadmitThePreemptedRequestFirstAndRecomputeItsPromptAndOutput() {
        Fixture f = twoRunningRequestsFillingThePool(false);
        Request victim = f.scheduler.request(2);
        f.add(request(3, 4, 5));
        assertEquals("1@16+1* preempted=2", f.step(7));
        assertSame(FinishReason.LENGTH, f.lastResult.finishReason(0));
        assertEquals(8, f.pool.numFreeBlocks());

        assertEquals("2@0+17* 3@0+4*", f.step(9));

        assertArrayEquals(new int[] {7, 5, 4, 3, 6}, f.blocksOf(2));
        assertArrayEquals(new int[] {2}, f.blocksOf(3));
        assertEquals(17, victim.numComputedTokens());
        assertArrayEquals(new int[] {7, 7, 7, 7, 7, 9}, victim.outputTokenIds());
        assertEquals(1, victim.numPreemptions());
    }

    @Test
    void shouldRecoverTheCachedPrefixWhenReadmittingAPreemptedRequest() {
        Fixture f = twoRunningRequestsFillingThePool(true);
        f.add(request(3, 4, 5));
        assertEquals("1@16+1* preempted=2", f.step(7));

        assertEquals("2@12+5* 3@0+4*", f.step(7));

        assertArrayEquals(new int[] {3, 4, 5, 7, 6}, f.blocksOf(2));
        assertArrayEquals(new int[] {2}, f.blocksOf(3));
    }

    @Test
    void shouldPreemptTheRequestItselfWhenItIsTheNewestUnderFcfs() {
        Fixture f = new Fixture(6, config(16, 4, 24, false, FCFS));
        f.add(request(1, 8, 20));
        assertEquals("1@0+8*", f.step(7));
        f.add(request(2, 12, 20));
        assertEquals("1@8+1* 2@0+12*", f.step(7));

        assertEquals("1@9+1* preempted=2", f.schedule());

        assertArrayEquals(new int[] {3, 4, 5}, f.pool.freeBlocksInEvictionOrder());
        assertEquals(1, f.lastPlan.totalTokens());
    }

    @Test
    void shouldPreemptTheLowestPriorityRunningRequestEvenIfAlreadyScheduledUnderPriority() {
        Fixture f = new Fixture(6, config(16, 4, 24, false, PRIORITY));
        Request low = f.add(request(1, 8, 20, 5));
        assertEquals("1@0+8*", f.step(7));
        f.add(request(2, 12, 20, 0));
        assertEquals("1@8+1* 2@0+12*", f.step(7));

        assertEquals("2@12+1* preempted=1", f.schedule());

        assertEquals(1, f.lastPlan.totalTokens());
        assertArrayEquals(new int[] {3, 4, 5, 2}, f.blocksOf(2));
        assertArrayEquals(new int[] {1, 0}, f.pool.freeBlocksInEvictionOrder());
        assertSame(RequestStatus.WAITING, low.status());
        assertEquals(1, low.numPreemptions());
        assertEquals(0, low.numComputedTokens());
    }

    @Test
    void shouldLetAHigherPriorityArrivalPreemptALowerPriorityRunningRequestAtTheSequenceCap() {
        Fixture f = new Fixture(6, config(16, 1, 24, false, PRIORITY));
        Request low = f.add(request(1, 4, 20, 5));
        assertEquals("1@0+4*", f.step(7));
        f.add(request(2, 4, 20, 0));

        assertEquals("2@0+4* preempted=1", f.step(7));

        assertEquals(1, low.numPreemptions());
        f.add(request(3, 4, 20, 0));
        assertEquals("2@4+1*", f.step(7));
        assertEquals(3, f.scheduler.waitingRequest(0).id());
        assertSame(low, f.scheduler.waitingRequest(1));
    }

    @Test
    void shouldLetAHigherPriorityArrivalPreemptALowerPriorityRunningRequestForKvRoom() {
        Fixture f = new Fixture(6, config(32, 4, 24, false, PRIORITY));
        Request low = f.add(request(1, 16, 20, 5));
        assertEquals("1@0+16*", f.step(7));
        f.add(request(2, 12, 20, 0));

        assertEquals("2@0+12* preempted=1", f.step(7));

        assertEquals(1, low.numPreemptions());
        assertEquals(3, f.pool.numFreeBlocks());
    }

    @Test
    void shouldNotPreemptForAnArrivalOfEqualPriority() {
        Fixture f = new Fixture(6, config(32, 4, 24, false, PRIORITY));
        f.add(request(1, 16, 20, 0));
        assertEquals("1@0+16*", f.step(7));
        f.add(request(2, 12, 20, 0));

        assertEquals("1@16+1*", f.step(7));
        assertEquals(1, f.scheduler.numWaiting());
    }
}
