package io.llmcluster.http;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ForwardingBackend;
import io.llmcluster.worker.backend.ModelBackend;
import java.lang.foreign.MemorySegment;

/**
 * A backend whose steps a test can hold (the engine thread waits in {@code forward}) and release, or slow
 * down so that a long request cannot end before the test has acted on it.
 */
public final class PausableBackend extends ForwardingBackend {
    private boolean paused;
    private volatile long stepDelayMs;

    public PausableBackend(ModelBackend inner) {
        super(inner);
    }

    public synchronized void pause() {
        paused = true;
    }

    public synchronized void resume() {
        paused = false;
        notifyAll();
    }

    /** Each step takes at least this long (0: as fast as it goes). */
    public void stepDelayMs(long ms) {
        stepDelayMs = ms;
    }

    @Override
    public MemorySegment forward(ForwardBatch batch) {
        synchronized (this) {
            while (paused) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        if (stepDelayMs > 0) {
            try {
                Thread.sleep(stepDelayMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return inner.forward(batch);
    }

    @Override
    public String describe() {
        return "pausable " + inner.describe();
    }

    @Override
    public void close() {
        resume();
        inner.close();
    }
}
