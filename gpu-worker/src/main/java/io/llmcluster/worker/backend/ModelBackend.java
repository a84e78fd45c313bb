package io.llmcluster.worker.backend;

import io.llmcluster.worker.sample.PlainRows;
import java.lang.foreign.MemorySegment;

/**
 * One model on one device: runs a {@link ForwardBatch} and returns FP32 logits, one row of
 * {@code vocabSize} per requested token, in the order the batch requested them. The KV cache is a pool of
 * {@link #numKvBlocks()} blocks of {@link #kvBlockSize()} tokens that block tables index.
 */
public interface ModelBackend extends AutoCloseable {
    MemorySegment forward(ForwardBatch batch);

    /**
     * Runs the step and picks the token of each logits row, every row plain ({@link PlainRows#isPlain}): {@code out[r]}
     * gets row r's token. The engine calls this instead of {@link #forward} when a step's rows are all plain. This
     * default is {@link #forward} then the host sampler; a backend that can sample where its logits are overrides it
     * (the CUDA backend: only the ids cross to the host, not rows x vocabulary floats).
     */
    default void forwardPlain(ForwardBatch batch, PlainRows rows, int[] out) {
        rows.sampleOnHost(forward(batch), vocabSize(), out);
    }

    int vocabSize();

    int numKvBlocks();

    int kvBlockSize();

    /** Tokens one step may hold. */
    int maxBatchTokens();

    /** Sequences one step may hold (the engine schedules no more); unlimited unless a backend says so. */
    default int maxSequences() {
        return Integer.MAX_VALUE;
    }

    /**
     * The prompt tokens one engine step should compute at most while sequences decode, when the engine's settings
     * leave the choice to the backend; 0 = no cap. Where a step's cost grows steeply with its tokens beyond a decode
     * step's (a GPU), a cap keeps a long prompt from stalling every decoding stream for one long step.
     */
    default int preferredPrefillTokensWhileDecoding() {
        return 0;
    }

    /** What the KV cache stores; block hashes carry it ({@link KvCacheDtype#hashName()}). */
    default KvCacheDtype kvCacheDtype() {
        return KvCacheDtype.AUTO;
    }

    String describe();

    @Override
    void close();
}
