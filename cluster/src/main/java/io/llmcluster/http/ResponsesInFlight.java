package io.llmcluster.http;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * Generation requests this node's HTTP API has not finished answering (a stream until its last byte, a whole
 * response until it is built). A node's drain waits for none to be left, not only for the gateway's sessions: a
 * session ends when its last chunks are handed to the HTTP stream, a moment before the response is written.
 */
public final class ResponsesInFlight {
    private static final Duration POLL = Duration.ofMillis(20);
    private final AtomicInteger count = new AtomicInteger();

    void begin() {
        count.incrementAndGet();
    }

    void end() {
        count.decrementAndGet();
    }

    public int count() {
        return count.get();
    }

    /** Completes once none is left (polled), or exceptionally after {@code timeout}. */
    public CompletionStage<Void> awaitNone(ActorSystem<?> system, Duration timeout) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        poll(system, done, deadline);
        return done;
    }

    private void poll(ActorSystem<?> system, CompletableFuture<Void> done, long deadlineNs) {
        if (count.get() <= 0) {
            done.complete(null);
        } else if (System.nanoTime() > deadlineNs) {
            done.completeExceptionally(new java.util.concurrent.TimeoutException(count.get() + " responses in flight"));
        } else {
            system.scheduler().scheduleOnce(POLL, () -> poll(system, done, deadlineNs), system.executionContext());
        }
    }
}
