package io.llmcluster.worker.backend;

/**
 * A backend that wraps another and hands every question about it (vocabulary, KV pool, limits, KV dtype, description)
 * to the inner one, so a wrapper cannot forget one when {@link ModelBackend} grows. Subclasses decide what a step
 * does ({@link #forward}; {@link #forwardPlain} keeps the interface's default unless they override it) and whether
 * closing closes the inner backend.
 */
public abstract class ForwardingBackend implements ModelBackend {
    protected final ModelBackend inner;

    protected ForwardingBackend(ModelBackend inner) {
        this.inner = java.util.Objects.requireNonNull(inner, "inner");
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
    public KvCacheDtype kvCacheDtype() {
        return inner.kvCacheDtype();
    }

    @Override
    public String describe() {
        return inner.describe();
    }
}
