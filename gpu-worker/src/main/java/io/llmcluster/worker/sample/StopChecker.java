package io.llmcluster.worker.sample;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import java.util.List;

/**
 * Decides when one sequence is finished, as vLLM does: a stop token (the model's EOS ids unless
 * {@code ignoreEos}, and {@code stopTokenIds}) or a stop string gives {@link FinishReason#STOP}, reaching
 * {@code maxTokens} gives {@link FinishReason#LENGTH}; neither is checked before {@code minTokens} output
 * tokens exist (the sampler also suppresses stop tokens until then). One per sequence.
 *
 * <p>Per generated token, with {@code n} output tokens so far (including this one):
 * <pre>{@code
 * FinishReason reason = stop.checkToken(token, n);          // STOP (stop token), LENGTH or null
 * if (reason != FinishReason.STOP) {                          // a stop token's own text is not emitted
 *     StopStringMatcher.Match m = stop.checkText(decodedDelta, n);
 *     emit(m.text());
 *     if (m.stopped()) reason = FinishReason.STOP;            // a stop string beats LENGTH on the same token
 * }
 * if (reason != null && !stop.stoppedByString()) {
 *     emit(stop.flush());                                     // the held-back tail is released when finished
 * }
 * }</pre>
 */
public final class StopChecker {
    private final SamplingParams params;
    private final int[] stopTokens;
    private final StopStringMatcher matcher;

    /** {@code eosTokenIds} come from the model's generation config. */
    public StopChecker(SamplingParams params, int[] eosTokenIds) {
        this.params = params;
        List<Integer> ids = params.stopTokenIds();
        int eos = params.ignoreEos() ? 0 : eosTokenIds.length;
        stopTokens = new int[eos + ids.size()];
        System.arraycopy(eosTokenIds, 0, stopTokens, 0, eos);
        for (int i = 0; i < ids.size(); i++) {
            stopTokens[eos + i] = ids.get(i);
        }
        matcher = new StopStringMatcher(params.stopStrings());
    }

    /** Whether {@code token} ends the sequence (EOS unless ignoreEos, or a stop token id). */
    public boolean isStopToken(int token) {
        for (int t : stopTokens) {
            if (t == token) {
                return true;
            }
        }
        return false;
    }

    /**
     * The finish reason after {@code token} became output token number {@code numOutputTokens} (1-based), or
     * null while the sequence goes on: STOP for a stop token, else LENGTH at {@code maxTokens}.
     */
    public FinishReason checkToken(int token, int numOutputTokens) {
        if (numOutputTokens < params.minTokens()) {
            return null;
        }
        if (isStopToken(token)) {
            return FinishReason.STOP;
        }
        return numOutputTokens >= params.maxTokens() ? FinishReason.LENGTH : null;
    }

    /**
     * Feeds the text the token decoded to; stop strings are matched only once more than {@code minTokens} output
     * tokens exist (vLLM's rule), but tails that may become one are held back from the start.
     */
    public StopStringMatcher.Match checkText(CharSequence newText, int numOutputTokens) {
        return matcher.append(newText, numOutputTokens > params.minTokens());
    }

    /** Whether a stop string ended the sequence. */
    public boolean stoppedByString() {
        return matcher.stopped();
    }

    /** The held-back text, released when the sequence finished for a reason other than a stop string. */
    public String flush() {
        return matcher.flush();
    }
}
