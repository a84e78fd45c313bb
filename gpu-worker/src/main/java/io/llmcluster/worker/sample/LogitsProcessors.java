package io.llmcluster.worker.sample;

import io.llmcluster.batcher.SamplingParams;
import java.util.List;

/**
 * The logit changes that come before temperature and filtering, in vLLM's order: penalties, then suppression of
 * stop tokens until {@code minTokens}. Sparse: each costs O(tokens involved), not O(vocab). Float arithmetic as
 * vLLM's FP32 tensors do it.
 */
final class LogitsProcessors {
    private LogitsProcessors() {}

    /**
     * Repetition penalty on tokens of prompt or output ({@code l > 0 ? l / p : l * p}), then frequency
     * ({@code l -= f * count}) and presence ({@code l -= p}) penalties on output tokens. Tokens outside the
     * vocabulary are ignored.
     */
    static void applyPenalties(float[] logits, int vocabSize, SamplingParams params, TokenHistory history,
                               LogitEdits edits) {
        if (!params.hasPenalties()) {
            return;
        }
        float repetition = (float) params.repetitionPenalty();
        float frequency = (float) params.frequencyPenalty();
        float presence = (float) params.presencePenalty();
        for (int i = 0, n = history.distinctCount(); i < n; i++) {
            int token = history.distinctToken(i);
            if (token >= vocabSize) {
                continue;
            }
            float l = logits[token];
            float before = l;
            if (repetition != 1f) {
                l = l > 0 ? l / repetition : l * repetition;
            }
            int count = history.outputCountAt(i);
            if (count > 0) {
                l -= frequency * count;
                l -= presence;
            }
            if (Float.floatToRawIntBits(l) != Float.floatToRawIntBits(before)) {
                edits.set(logits, token, l);
            }
        }
    }

    /**
     * Sets the logits of the EOS tokens (unless {@code ignoreEos}) and of {@code stopTokenIds} to -inf while the
     * sequence has fewer than {@code minTokens} output tokens (vLLM's min-tokens logits processor).
     */
    static void suppressStopTokens(float[] logits, int vocabSize, int[] eosTokenIds, SamplingParams params,
                                   TokenHistory history, LogitEdits edits) {
        if (history.numOutputTokens() >= params.minTokens()) {
            return;
        }
        if (!params.ignoreEos()) {
            for (int token : eosTokenIds) {
                suppress(logits, vocabSize, token, edits);
            }
        }
        List<Integer> stopIds = params.stopTokenIds();
        for (int i = 0, n = stopIds.size(); i < n; i++) {
            suppress(logits, vocabSize, stopIds.get(i), edits);
        }
    }

    private static void suppress(float[] logits, int vocabSize, int token, LogitEdits edits) {
        if (token < vocabSize && logits[token] != Float.NEGATIVE_INFINITY) {
            edits.set(logits, token, Float.NEGATIVE_INFINITY);
        }
    }
}
