package io.llmcluster.worker.actor;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ModelBackend;
import java.lang.foreign.MemorySegment;

/** A backend whose every step takes at least {@code stepDelayMs}, so a long request outlasts a test's actions. */
final class SlowBackend implements ModelBackend {
    private final ModelBackend inner;
    private final long stepDelayMs;

    SlowBackend(ModelBackend inner, long stepDelayMs) {
        this.inner = inner;
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
    public String describe() {
        return "slow " + inner.describe();
    }

    @Override
    public void close() {
        inner.close();
    }
}
