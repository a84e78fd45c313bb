package io.llmcluster.worker.engine;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.Request;
import io.llmcluster.worker.model.IncrementalDecoder;
import io.llmcluster.worker.model.Tokenizer;
import io.llmcluster.worker.sample.Sampler;
import io.llmcluster.worker.sample.StopChecker;
import io.llmcluster.worker.sample.StopStringMatcher;
import io.llmcluster.worker.sample.TokenHistory;
import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * The engine-side state of one request: what sampling and detokenizing need between steps (penalty
 * counts, the seeded generator, the streaming decoder, stop-string matching) and its block table as an
 * int array for the backend. It survives preemption, so a recomputed request continues where it was. Two threads
 * touch it, each its own part: the engine thread the history, generator, block table and captured logprobs; the
 * emitter thread ({@link ChunkEmitter}) the decoder, the stop checker and the sink.
 */
final class SequenceState {
    final Request request;
    final TokenSink sink;
    final TokenHistory history;
    final RandomGenerator rng;
    /** The seed of this request's draws when a backend samples them on its device (unseeded requests only). */
    final long deviceSeed;
    final StopChecker stops;
    final IncrementalDecoder decoder;
    int[] blockTable = new int[8];
    private final int[] topIds;
    private final float[] topLogprobs;
    private float pendingLogprob = Float.NaN;
    private int pendingTopCount;
    private boolean hasPending;
    /** Emitter thread only: the request's last chunk went out. */
    private boolean ended;

    SequenceState(Request request, TokenSink sink, Tokenizer tokenizer, int[] eosTokenIds) {
        this.request = request;
        this.sink = sink;
        this.history = TokenHistory.ofPrompt(request.promptTokenIds());
        this.rng = Sampler.rngFor(request.params());
        this.deviceSeed = request.params().seed().isPresent() ? 0 : rng.nextLong();
        this.stops = new StopChecker(request.params(), eosTokenIds);
        this.decoder = new IncrementalDecoder(tokenizer, request.promptTokenIds());
        int k = Math.max(0, request.params().logprobs());
        this.topIds = new int[k];
        this.topLogprobs = new float[k];
    }

    /** Copies the request's current block table into {@link #blockTable}, growing it when needed. */
    int[] refreshBlockTable(io.llmcluster.kv.KvBlocks blocks) {
        if (blocks.numBlocks() > blockTable.length) {
            blockTable = Arrays.copyOf(blockTable, Math.max(blocks.numBlocks(), blockTable.length * 2));
        }
        blocks.copyTo(blockTable, 0);
        return blockTable;
    }

    /** A token's logprobs, taken on the engine thread right after sampling, read on the emitter thread. */
    record Logprobs(float logprob, int[] topIds, float[] topLogprobs) {
        static final Logprobs NONE = new Logprobs(Float.NaN, new int[0], new float[0]);
    }

    /**
     * Emits the chunk for a token the scheduler appended, as output token number {@code numOutputTokens}. A stop
     * token's own text is not emitted; a stop string ends the request (the caller tells the scheduler); held-back
     * text is released at the end. After the request's last chunk, further calls do nothing. Emitter thread.
     *
     * @return true when a stop string ended the request
     */
    boolean emitToken(int token, FinishReason schedulerFinish, int numOutputTokens, Logprobs logprobs) {
        if (ended) {
            return false;
        }
        String text;
        FinishReason finish = schedulerFinish;
        boolean byString = false;
        if (finish == FinishReason.STOP) {
            text = stops.flush() + decoder.flush();
        } else {
            StopStringMatcher.Match m = stops.checkText(decoder.add(token), numOutputTokens);
            text = m.text();
            if (m.stopped()) {
                finish = FinishReason.STOP;
                byString = true;
            } else if (finish != null) {
                text += stops.flush() + decoder.flush();
            }
        }
        ended = finish != null;
        deliver(new TokenChunk(request.id(), token, text, logprobs.logprob(), logprobs.topIds(), logprobs.topLogprobs(),
                finish, request.numPromptTokens(), numOutputTokens));
        return byString;
    }

    /** Reads the logprobs of the row the sampler just sampled for this request (before the next row). Engine thread. */
    void captureLogprobs(Sampler sampler, int token) {
        pendingLogprob = sampler.logprob(token);
        pendingTopCount = sampler.topLogprobs(topIds.length, topIds, topLogprobs);
        hasPending = true;
    }

    /** The logprobs captured for the token just sampled (NONE if none), and clears them. Engine thread. */
    Logprobs takeLogprobs() {
        if (!hasPending) {
            return Logprobs.NONE;
        }
        hasPending = false;
        return new Logprobs(pendingLogprob, Arrays.copyOf(topIds, pendingTopCount), Arrays.copyOf(topLogprobs, pendingTopCount));
    }

    /** The final chunk of a request that ended without a token (cancelled, failed); nothing after its last chunk. */
    void emitEnd(FinishReason reason, int numOutputTokens) {
        if (ended) {
            return;
        }
        ended = true;
        deliver(new TokenChunk(request.id(), -1, "", Float.NaN, new int[0], new float[0], reason,
                request.numPromptTokens(), numOutputTokens));
    }

    /** A sink that throws must not take the other requests of the step down with it. */
    private void deliver(TokenChunk chunk) {
        try {
            sink.onChunk(chunk);
        } catch (RuntimeException e) {
            System.err.println("[engine] sink of request " + request.id() + " failed: " + e);
        }
    }
}
