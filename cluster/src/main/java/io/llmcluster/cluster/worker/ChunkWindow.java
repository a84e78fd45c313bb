package io.llmcluster.cluster.worker;

import io.llmcluster.worker.engine.TokenChunk;
import java.util.ArrayList;
import java.util.List;

/**
 * The flow control of one request's token stream from a worker to its gateway, plain single-threaded Java (the
 * {@link StreamRelay}'s): chunks from the engine collect here; a batch of all of them goes out whenever fewer than
 * {@code window} batches are unacknowledged; the gateway acknowledges a batch once its HTTP stream has taken it. A
 * slow client therefore never piles messages up on the gateway: the engine goes on, its chunks merge into fewer,
 * larger batches here (at most the request's {@code max_tokens} of them).
 *
 * <p>The engine numbers a request's sequences with its own ids; the batches carry the sequence's index in the
 * request instead (0, 1, ...), so a request re-routed to another worker keeps its numbering. Chunks that arrive
 * before the engine ids are known ({@link #bind}) wait.
 */
public final class ChunkWindow {
    private final int window;
    private final int sequences;
    private final List<TokenChunk> pending = new ArrayList<>();
    private long[] engineIds;
    private long sent;
    private long acked;
    private int finished;

    /**
     * @param window    most batches unacknowledged at once (at least 1)
     * @param sequences the request's sequences: it is finished once each sent its last chunk
     */
    public ChunkWindow(int window, int sequences) {
        if (window < 1 || sequences < 1) {
            throw new IllegalArgumentException("window and sequences must be >= 1");
        }
        this.window = window;
        this.sequences = sequences;
    }

    /** The engine's ids of the request's sequences, in order. */
    public void bind(long[] ids) {
        if (ids.length != sequences) {
            throw new IllegalArgumentException(ids.length + " ids for " + sequences + " sequences");
        }
        this.engineIds = ids.clone();
    }

    public boolean isBound() {
        return engineIds != null;
    }

    /** The engine ids (null before {@link #bind}). */
    public long[] engineIds() {
        return engineIds == null ? null : engineIds.clone();
    }

    public void add(TokenChunk chunk) {
        pending.add(chunk);
        if (chunk.isLast()) {
            finished++;
        }
    }

    /** A batch may go out: ids bound, chunks pending, room in the window. */
    public boolean canSend() {
        return engineIds != null && !pending.isEmpty() && sent - acked < window;
    }

    /** Takes every pending chunk as the next batch, renumbered by sequence index; its number is {@link #lastSent}. */
    public TokenChunk[] take() {
        if (!canSend()) {
            throw new IllegalStateException("nothing to send, or the window is full");
        }
        TokenChunk[] batch = new TokenChunk[pending.size()];
        for (int i = 0; i < batch.length; i++) {
            TokenChunk c = pending.get(i);
            batch[i] = new TokenChunk(indexOf(c.requestId()), c.tokenId(), c.text(), c.logprob(), c.topTokenIds(),
                    c.topLogprobs(), c.finishReason(), c.promptTokens(), c.completionTokens());
        }
        pending.clear();
        sent++;
        return batch;
    }

    /** The number of the last batch taken (batches count from 1). */
    public long lastSent() {
        return sent;
    }

    /** The gateway has taken batches up to {@code seq} (acks are cumulative; a stale one changes nothing). */
    public void ack(long seq) {
        acked = Math.max(acked, Math.min(seq, sent));
    }

    public long unacked() {
        return sent - acked;
    }

    /** Every sequence has produced its last chunk (the engine freed their blocks). */
    public boolean allFinished() {
        return finished == sequences;
    }

    /** Finished, everything sent, and everything acknowledged. */
    public boolean allDelivered() {
        return allFinished() && pending.isEmpty() && acked == sent;
    }

    private long indexOf(long engineId) {
        for (int i = 0; i < engineIds.length; i++) {
            if (engineIds[i] == engineId) {
                return i;
            }
        }
        throw new IllegalStateException("a chunk of engine request " + engineId + ", not one of this request's");
    }
}
