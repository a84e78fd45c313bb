package io.llmcluster.worker.engine;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.model.GenerationConfig;
import io.llmcluster.worker.model.IncrementalDecoder;
import io.llmcluster.worker.model.Tokenizer;
import io.llmcluster.worker.sample.Sampler;
import io.llmcluster.worker.sample.StopChecker;
import io.llmcluster.worker.sample.StopStringMatcher;
import io.llmcluster.worker.sample.TokenHistory;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Generates one sequence at a time on a backend: prefill in chunks of the backend's batch size, then one
 * decode step per token, sampling, detokenizing and checking stops as it goes. The sequence owns the first
 * blocks of the KV pool, so only one generation runs at a time.
 */
public final class Generator {
    private final ModelBackend backend;
    private final Tokenizer tokenizer;
    private final GenerationConfig generationConfig;
    private final Sampler sampler;
    private final ForwardBatch batch;
    private final int[] blockTable;
    private final int maxContextTokens;

    public Generator(ModelBackend backend, Tokenizer tokenizer, GenerationConfig generationConfig, int maxContextTokens) {
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.generationConfig = generationConfig;
        this.sampler = new Sampler(backend.vocabSize(), generationConfig.eosTokenIds());
        this.batch = new ForwardBatch(backend.maxBatchTokens(), 1);
        this.blockTable = new int[backend.numKvBlocks()];
        Arrays.setAll(blockTable, i -> i);
        this.maxContextTokens = maxContextTokens;
    }

    /** What a generation produced. */
    public record Result(int[] promptIds, int[] outputIds, String text, FinishReason finishReason,
                         long prefillNanos, long decodeNanos) {}

    public Result generate(int[] promptIds, SamplingParams params, GenerationListener listener) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        if (promptIds.length >= maxContextTokens) {
            throw new IllegalArgumentException("the prompt has " + promptIds.length + " tokens; the context holds "
                    + maxContextTokens);
        }
        int budget = Math.min(params.maxTokens(), maxContextTokens - promptIds.length);
        int[] tokens = Arrays.copyOf(promptIds, promptIds.length + budget);
        TokenHistory history = TokenHistory.ofPrompt(promptIds);
        RandomGenerator rng = Sampler.rngFor(params);
        StopChecker stops = new StopChecker(params, generationConfig.eosTokenIds());
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer, promptIds);
        StringBuilder text = new StringBuilder();
        long start = System.nanoTime();
        MemorySegment logits = prefill(tokens, promptIds.length);
        long prefillNanos = System.nanoTime() - start;
        int length = promptIds.length;
        FinishReason reason;
        while (true) {
            int token = sampler.sample(logits, 0, params, history, rng);
            tokens[length++] = token;
            history.appendOutput(token);
            int numOutput = length - promptIds.length;
            FinishReason finish = stops.checkToken(token, numOutput);
            if (finish != FinishReason.STOP) { // a stop token's own text is not emitted
                StopStringMatcher.Match m = stops.checkText(decoder.add(token), numOutput);
                emit(text, listener, token, m.text());
                if (m.stopped()) {
                    finish = FinishReason.STOP;
                }
            }
            if (finish == null && numOutput >= budget) {
                finish = FinishReason.LENGTH;
            }
            if (finish != null) {
                if (!stops.stoppedByString()) {
                    emit(text, listener, -1, stops.flush() + decoder.flush());
                }
                reason = finish;
                break;
            }
            batch.clear();
            batch.addSequence(tokens, length - 1, 1, length - 1, blockTable, ForwardBatch.Logits.LAST);
            logits = backend.forward(batch);
        }
        long decodeNanos = System.nanoTime() - start - prefillNanos;
        return new Result(promptIds, Arrays.copyOfRange(tokens, promptIds.length, length), text.toString(), reason,
                prefillNanos, decodeNanos);
    }

    private static void emit(StringBuilder text, GenerationListener listener, int token, String delta) {
        text.append(delta);
        listener.onToken(token, delta);
    }

    private MemorySegment prefill(int[] tokens, int promptLength) {
        MemorySegment logits = null;
        for (int from = 0; from < promptLength; from += backend.maxBatchTokens()) {
            int count = Math.min(backend.maxBatchTokens(), promptLength - from);
            batch.clear();
            boolean last = from + count == promptLength;
            batch.addSequence(tokens, from, count, from, blockTable, last ? ForwardBatch.Logits.LAST : ForwardBatch.Logits.NONE);
            logits = backend.forward(batch);
        }
        return logits;
    }
}
