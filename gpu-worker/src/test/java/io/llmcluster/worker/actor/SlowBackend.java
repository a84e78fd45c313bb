package io.llmcluster.worker.actor;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ForwardingBackend;
import io.llmcluster.worker.backend.ModelBackend;
import java.lang.foreign.MemorySegment;

/** A backend whose every step takes at least {@code stepDelayMs}, so a long request outlasts a test's actions. */
final class SlowBackend extends ForwardingBackend {
    private final long stepDelayMs;

    SlowBackend(ModelBackend inner, long stepDelayMs) {
        super(inner);
        this.stepDelayMs = stepDelayMs;
    }

    @Override
    public MemorySegment forward(ForwardBatch batch) {
        try {
            Thread.sleep(stepDelayMs);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return inner.forward(batch);
    }

    @Override
    public String describe() {
        return "slow " + inner.describe();
    }

    @Override
    public void close() {
        inner.close();
    }
}
