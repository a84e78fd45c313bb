package io.llmcluster.cluster.worker;

import static io.llmcluster.cluster.worker.AdmissionQueue.Outcome.ADMITTED;
import static io.llmcluster.cluster.worker.AdmissionQueue.Outcome.DRAINING;
import static io.llmcluster.cluster.worker.AdmissionQueue.Outcome.NOT_READY;
import static io.llmcluster.cluster.worker.AdmissionQueue.Outcome.QUEUED;
import static io.llmcluster.cluster.worker.AdmissionQueue.Outcome.QUEUE_FULL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Exact admissions on a pool of 10 blocks of 4 tokens. */
class AdmissionQueueTest {
    private final AdmissionQueue<String> q = new AdmissionQueue<>(3, 4);

    private static int[] tokens(int... perSequence) {
        return perSequence;
    }

    @Test
    void shouldReserveEachSequencesPromptPlusMaxTokensInWholeBlocks() {
        q.configure(10, 4);
        assertEquals(ADMITTED, q.offer("a", tokens(5, 8), 0)); // 2 + 2 blocks
        assertEquals(4, q.reservedBlocks());
        assertEquals(6, q.admittableBlocks());
        assertEquals(2, q.sequencesInFlight());
        assertEquals(10, q.footprintBlocks(tokens(100))); // capped at the pool
    }

    @Test
    void shouldQueueWhatDoesNotFitAndAdmitInOrderAsBlocksComeBack() {
        q.configure(10, 4);
        assertEquals(ADMITTED, q.offer("a", tokens(8), 0));   // 2 blocks
        assertEquals(QUEUED, q.offer("big", tokens(40), 0));  // 10 blocks: waits for a
        assertEquals(QUEUED, q.offer("small", tokens(4), 0)); // 1 block would fit, but waits behind big
        assertEquals(0, q.admittableBlocks());
        assertEquals(List.of("big"), q.release("a"));         // big alone holds the whole pool
        assertEquals(10, q.reservedBlocks());
        assertEquals(List.of("small"), q.release("big"));
        assertEquals(List.of(), q.release("small"));
        assertEquals(0, q.reservedBlocks());
        assertEquals(10, q.admittableBlocks());
    }

    @Test
    void shouldAdmitTheLowestPriorityValueFirstThenByArrival() {
        q.configure(10, 4);
        assertEquals(ADMITTED, q.offer("running", tokens(40), 0));
        assertEquals(QUEUED, q.offer("late", tokens(36), 5));
        assertEquals(QUEUED, q.offer("urgent", tokens(36), 1));
        assertEquals(QUEUED, q.offer("urgent-2", tokens(4), 1));
        // priority 1 before 5, and within priority 1 by arrival: 9 + 1 blocks fill the pool, late waits
        assertEquals(List.of("urgent", "urgent-2"), q.release("running"));
        assertTrue(q.isQueued("late"));
        assertEquals(List.of("late"), q.release("urgent"));
    }

    @Test
    void shouldHoldTheInFlightSequenceLimit() {
        q.configure(100, 4);
        assertEquals(ADMITTED, q.offer("a", tokens(4, 4, 4), 0));
        assertEquals(QUEUED, q.offer("b", tokens(4, 4), 0)); // 3 + 2 > 4
        assertEquals(0, q.admittableBlocks());
        assertEquals(QUEUE_FULL, q.offer("huge", tokens(1, 1, 1, 1, 1), 0)); // 5 sequences can never run
        assertEquals(List.of("b"), q.release("a"));
    }

    @Test
    void shouldRefuseWhenTheQueueIsFull() {
        q.configure(2, 4);
        assertEquals(ADMITTED, q.offer("a", tokens(8), 0));
        assertEquals(QUEUED, q.offer("b", tokens(8), 0));
        assertEquals(QUEUED, q.offer("c", tokens(8), 0));
        assertEquals(QUEUED, q.offer("d", tokens(8), 0));
        assertEquals(QUEUE_FULL, q.offer("e", tokens(8), 0));
        assertEquals(3, q.requestsQueued());
        assertEquals(3, q.sequencesQueued());
    }

    @Test
    void shouldHoldRequestsUntilThePoolIsKnown() {
        assertEquals(QUEUED, q.offer("early", tokens(8), 0));
        assertFalse(q.isConfigured());
        assertEquals(0, q.admittableBlocks());
        assertEquals(List.of("early"), q.configure(10, 4));
        assertEquals(2, q.reservedBlocks());
        AdmissionQueue<String> none = new AdmissionQueue<>(0, 4);
        assertEquals(NOT_READY, none.offer("x", tokens(8), 0));
    }

    @Test
    void shouldLetAWithdrawnHeadMakeWayForTheNext() {
        q.configure(10, 4);
        assertEquals(ADMITTED, q.offer("a", tokens(32), 0));   // 8 blocks
        assertEquals(QUEUED, q.offer("head", tokens(12), 0));  // 3 blocks: waits
        assertEquals(QUEUED, q.offer("next", tokens(8), 0));   // 2 blocks: behind head
        assertEquals(List.of("next"), q.release("head"));
        assertEquals(10, q.reservedBlocks());
    }

    @Test
    void shouldRefuseNewWorkAndHandBackTheQueueWhenDraining() {
        q.configure(10, 4);
        assertEquals(ADMITTED, q.offer("a", tokens(40), 0));
        assertEquals(QUEUED, q.offer("b", tokens(4), 0));
        assertEquals(List.of("b"), q.startDraining());
        assertEquals(DRAINING, q.offer("c", tokens(4), 0));
        assertFalse(q.isDrained());
        assertEquals(List.of(), q.release("a"));
        assertTrue(q.isDrained());
    }
}
