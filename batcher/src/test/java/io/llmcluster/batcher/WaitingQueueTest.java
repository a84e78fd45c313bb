package io.llmcluster.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The ring buffer behind the waiting queue: order across wrap-around and growth. */
class WaitingQueueTest {

    private static Request request(long id, int priority) {
        Request request = new Request(id, new int[] {1}, SamplingParams.defaults(), priority, 0L);
        request.arrivalSeq = id;
        return request;
    }

    private static String ids(WaitingQueue queue) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < queue.size(); i++) {
            sb.append(i == 0 ? "" : " ").append(queue.get(i).id());
        }
        return sb.toString();
    }

    @Test
    void shouldKeepOrderAcrossWrapAroundAndGrowth() {
        WaitingQueue queue = new WaitingQueue(4);
        queue.addLast(request(1, 0));
        queue.addLast(request(2, 0));
        assertEquals(1, queue.pollFirst().id());
        queue.addLast(request(3, 0));
        queue.addLast(request(4, 0));
        queue.addFirst(request(0, 0)); // wraps to the end of the array
        queue.addLast(request(5, 0)); // grows
        queue.addFirst(request(9, 0));

        assertEquals("9 0 2 3 4 5", ids(queue));
        assertEquals(6, queue.size());
    }

    @Test
    void shouldInsertByPriorityThenArrival() {
        WaitingQueue queue = new WaitingQueue(2);
        queue.insertByPriority(request(1, 3));
        queue.insertByPriority(request(2, 1));
        queue.insertByPriority(request(3, 3));
        queue.insertByPriority(request(4, 0));
        queue.insertByPriority(request(5, 1));

        assertEquals("4 2 5 1 3", ids(queue));
    }

    @Test
    void shouldRemoveFromTheMiddleAndEnds() {
        WaitingQueue queue = new WaitingQueue(4);
        Request[] requests = new Request[6];
        for (int i = 0; i < requests.length; i++) {
            requests[i] = request(i, 0);
            queue.addLast(requests[i]);
        }
        queue.pollFirst();
        queue.pollFirst();

        assertTrue(queue.remove(requests[3]));
        assertTrue(queue.remove(requests[5]));
        assertFalse(queue.remove(requests[0]));
        assertEquals("2 4", ids(queue));
        assertSame(requests[2], queue.pollFirst());
        assertSame(requests[4], queue.pollFirst());
        assertNull(queue.pollFirst());
        assertTrue(queue.isEmpty());
    }
}
