package io.llmcluster.worker.backend;

import io.llmcluster.worker.sample.PlainRows;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A backend that counts the wall time spent inside {@link #forward} and {@link #forwardPlain} (the step on the
 * device, the logits or ids back to the host): what the engine's step loop spends outside it
 * (scheduling, sampling, streaming) is time the device may sit idle between steps. Delegates everything else and
 * closes nothing: the inner backend stays its owner's.
 */
public final class TimedBackend implements ModelBackend {
    private final ModelBackend inner;
    private final AtomicLong forwardNanos = new AtomicLong();
    private final AtomicLong forwardCalls = new AtomicLong();

    public TimedBackend(ModelBackend inner) {
        this.inner = java.util.Objects.requireNonNull(inner, "inner");
    }

    @Override
    public MemorySegment forward(ForwardBatch batch) {
        long t0 = System.nanoTime();
        try {
            return inner.forward(batch);
        } finally {
            forwardNanos.addAndGet(System.nanoTime() - t0);
            forwardCalls.incrementAndGet();
        }
    }

    /** Delegated (the inner backend may sample on its device), timed as {@link #forward} is. */
    @Override
    public void forwardPlain(ForwardBatch batch, PlainRows rows, int[] out) {
        long t0 = System.nanoTime();
        try {
            inner.forwardPlain(batch, rows, out);
        } finally {
            forwardNanos.addAndGet(System.nanoTime() - t0);
            forwardCalls.incrementAndGet();
        }
    }

    /** Nanoseconds spent in {@link #forward} and {@link #forwardPlain} so far. */
    public long forwardNanos() {
        return forwardNanos.get();
    }

    /** Calls of {@link #forward} and {@link #forwardPlain} so far. */
    public long forwardCalls() {
        return forwardCalls.get();
    }

    @Override
    public int vocabSize() {
        return inner.vocabSize();
    }

    @Override
    public int numKvBlocks() {
        return inner.numKvBlocks();
    }

    @Override
    public int kvBlockSize() {
        return inner.kvBlockSize();
    }

    @Override
    public int maxBatchTokens() {
        return inner.maxBatchTokens();
    }

    @Override
    public int maxSequences() {
        return inner.maxSequences();
    }

    @Override
    public int preferredPrefillTokensWhileDecoding() {
        return inner.preferredPrefillTokensWhileDecoding();
    }

    @Override
    public String describe() {
        return inner.describe();
    }

    /** Leaves the inner backend open: it belongs to whoever made it. */
    @Override
    public void close() {
    }
}
