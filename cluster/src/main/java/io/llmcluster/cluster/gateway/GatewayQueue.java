package io.llmcluster.cluster.gateway;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The bound on requests a gateway holds while every worker is full: a slot is taken when a request starts to wait
 * and given back when it leaves (routed, refused, cancelled). Shared by the gateway's {@link RequestSession}s,
 * which run on any thread, hence atomic.
 */
public final class GatewayQueue {
    private final int capacity;
    private final AtomicInteger waiting = new AtomicInteger();

    public GatewayQueue(int capacity) {
        this.capacity = capacity;
    }

    /** Takes a slot; false when all {@code capacity} are taken. */
    public boolean tryEnter() {
        while (true) {
            int n = waiting.get();
            if (n >= capacity) {
                return false;
            }
            if (waiting.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }

    public void leave() {
        waiting.decrementAndGet();
    }

    public int waiting() {
        return waiting.get();
    }

    public int capacity() {
        return capacity;
    }
}
