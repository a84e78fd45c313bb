package io.llmcluster.worker.backend;

import io.llmcluster.worker.sample.PlainRows;
import java.lang.foreign.MemorySegment;

/**
 * A backend that counts the wall time spent inside {@link #forward} and {@link #forwardPlain} (the step on the
 * device, the logits or ids back to the host): what the engine's step loop spends outside it
 * (scheduling, sampling, streaming) is time the device may sit idle between steps. Each call is also kept in
 * {@link #stepTimes()} with its batch's size, for telling which steps make a latency tail. Delegates everything else
 * and closes nothing: the inner backend stays its owner's.
 */
public final class TimedBackend extends ForwardingBackend {
    /** Guarded by this: time of the calls that returned, the start of the one in progress (0: none), calls. */
    private long doneNanos;
    private long inProgressSinceNs;
    private long calls;
    private final StepTimes steps = new StepTimes(1 << 16);

    public TimedBackend(ModelBackend inner) {
        super(inner);
    }

    @Override
    public MemorySegment forward(ForwardBatch batch) {
        begin();
        try {
            return inner.forward(batch);
        } finally {
            end(batch);
        }
    }

    /** Delegated (the inner backend may sample on its device), timed as {@link #forward} is. */
    @Override
    public void forwardPlain(ForwardBatch batch, PlainRows rows, int[] out) {
        begin();
        try {
            inner.forwardPlain(batch, rows, out);
        } finally {
            end(batch);
        }
    }

    private synchronized void begin() {
        inProgressSinceNs = System.nanoTime();
    }

    private synchronized void end(ForwardBatch batch) {
        long now = System.nanoTime();
        doneNanos += now - inProgressSinceNs;
        steps.record(now, now - inProgressSinceNs, batch.numTokens(), batch.numSequences());
        inProgressSinceNs = 0;
        calls++;
    }

    /** The last 65,536 calls, each with its duration and batch size. */
    public StepTimes stepTimes() {
        return steps;
    }

    /**
     * Nanoseconds spent in {@link #forward} and {@link #forwardPlain} so far, the call in progress counted up to now,
     * so the difference of two readings is the busy time between them exactly (a call that straddles a reading is
     * split at it).
     */
    public synchronized long forwardNanos() {
        return doneNanos + (inProgressSinceNs == 0 ? 0 : System.nanoTime() - inProgressSinceNs);
    }

    /** Calls of {@link #forward} and {@link #forwardPlain} that returned so far. */
    public synchronized long forwardCalls() {
        return calls;
    }

    /** Leaves the inner backend open: it belongs to whoever made it. */
    @Override
    public void close() {
    }
}
