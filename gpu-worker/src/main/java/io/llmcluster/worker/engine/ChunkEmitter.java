package io.llmcluster.worker.engine;

import io.llmcluster.batcher.FinishReason;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongConsumer;

/**
 * Detokenizes and delivers the engine's chunks on a thread of its own, so the engine thread goes on to the next step
 * instead of decoding text (two tokenizer calls per token, ~5 µs each: milliseconds a step at hundreds of streams)
 * and calling sinks. Events are handled in the order the engine thread queued them, one thread, so each request's
 * chunks keep their order and every sink is called from one thread.
 *
 * <p>A stop string is found here, after the engine has already planned (and may have computed) the request's next
 * step: the emitter sends the chunk that ends the request, drops whatever the engine produces for it after that,
 * and tells the engine ({@code stoppedByString}) to finish it in the scheduler, which frees its KV blocks on the
 * engine's next turn. The cost is at most a step or two of work for that one request, never visible text.
 */
final class ChunkEmitter {
    private record Event(SequenceState state, int token, FinishReason finish, int numOutputTokens, SequenceState.Logprobs logprobs) {}

    private final ConcurrentLinkedQueue<Event> events = new ConcurrentLinkedQueue<>();
    private final LongConsumer stoppedByString;
    private final Thread thread;
    private volatile boolean running = true;

    /** @param stoppedByString called on the emitter thread with a request's id when a stop string ended it */
    ChunkEmitter(LongConsumer stoppedByString) {
        this.stoppedByString = stoppedByString;
        this.thread = Thread.ofPlatform().name("llmc-emit").daemon().start(this::loop);
    }

    /** A token the scheduler appended ({@code finish}: the scheduler's finish reason, or null). Engine thread. */
    void token(SequenceState state, int token, FinishReason finish, int numOutputTokens, SequenceState.Logprobs logprobs) {
        offer(new Event(state, token, finish, numOutputTokens, logprobs));
    }

    /** The last chunk of a request that ends without a token (cancelled, failed, aborted). Engine thread. */
    void end(SequenceState state, FinishReason reason, int numOutputTokens) {
        offer(new Event(state, -1, reason, numOutputTokens, null));
    }

    private void offer(Event e) {
        events.add(e);
        LockSupport.unpark(thread);
    }

    private void loop() {
        while (running || !events.isEmpty()) {
            Event e = events.poll();
            if (e == null) {
                LockSupport.parkNanos(this, 1_000_000L);
                continue;
            }
            try {
                handle(e);
            } catch (RuntimeException ex) { // a tokenizer failure must not stop the other requests' chunks
                System.err.println("[engine] emitting a chunk of request " + e.state.request.id() + " failed: " + ex);
            }
        }
    }

    private void handle(Event e) {
        SequenceState s = e.state;
        if (e.token < 0) {
            s.emitEnd(e.finish, e.numOutputTokens);
        } else if (s.emitToken(e.token, e.finish, e.numOutputTokens, e.logprobs) && e.finish == null) {
            stoppedByString.accept(s.request.id());
        }
    }

    /** Delivers everything queued so far, then stops the thread (waits for it). */
    void close() {
        running = false;
        LockSupport.unpark(thread);
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException ex) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
