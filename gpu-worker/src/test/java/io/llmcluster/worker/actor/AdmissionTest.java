package io.llmcluster.worker.actor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AdmissionTest {
    @Test
    void shouldRefuseUntilReady() {
        Admission a = new Admission(4);
        assertEquals(Admission.Decision.NOT_READY, a.admit(1));
        a.ready();
        assertEquals(Admission.Decision.ADMIT, a.admit(1));
    }

    @Test
    void shouldAdmitARequestWholeOrRefuseItAsQueueFull() {
        Admission a = new Admission(3);
        a.ready();
        a.started(1);
        a.started(2);
        assertEquals(Admission.Decision.ADMIT, a.admit(1));
        assertEquals(Admission.Decision.QUEUE_FULL, a.admit(2));
        assertTrue(a.finished(1));
        assertFalse(a.finished(1), "a second finish is ignored");
        assertEquals(Admission.Decision.ADMIT, a.admit(2));
    }

    @Test
    void shouldStartACancelOnlyOnceAndOnlyForARequestInFlight() {
        Admission a = new Admission(3);
        a.ready();
        a.started(5);
        assertTrue(a.startCancel(5));
        assertFalse(a.startCancel(5));
        assertFalse(a.startCancel(6));
        a.finished(5);
        assertFalse(a.startCancel(5));
    }

    @Test
    void shouldRefuseNewRequestsWhileDrainingAndBeDrainedWhenNothingIsInFlight() {
        Admission a = new Admission(3);
        a.ready();
        a.started(7);
        a.startDraining();
        assertEquals(WorkerState.DRAINING, a.state());
        assertEquals(Admission.Decision.DRAINING, a.admit(1));
        assertFalse(a.isDrained());
        a.finished(7);
        assertTrue(a.isDrained());
    }
}
