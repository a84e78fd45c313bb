package io.llmcluster.worker.sample;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmcluster.batcher.SamplingParams;
import org.junit.jupiter.api.Test;

class LogitsProcessorsTest {
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    private static float[] penalize(float[] logits, SamplingParams p, TokenHistory h) {
        float[] out = logits.clone();
        LogitEdits edits = new LogitEdits(out.length);
        LogitsProcessors.applyPenalties(out, out.length, p, h, edits);
        float[] restored = out.clone();
        edits.restore(restored);
        assertArrayEquals(logits, restored, "the edit log restores the raw row");
        return out;
    }

    @Test
    void shouldDivideHigherAndMultiplyLowerLogitsByTheRepetitionPenaltyOnPromptAndOutputTokens() {
        float[] l = {3f, -1f, 0f, 2f, 5f, -4f};
        TokenHistory h = TokenHistory.ofPrompt(0, 1, 2);
        h.appendOutput(3);
        h.appendOutput(5);
        float[] out = penalize(l, SamplingParams.builder().repetitionPenalty(2).build(), h);
        assertArrayEquals(new float[] {1.5f, -2f, 0f, 1f, 5f, -8f}, out);
    }

    @Test
    void shouldSubtractFrequencyPerOccurrenceAndPresenceOnceOnOutputTokensOnly() {
        float[] l = {1f, 1f, 1f, 1f};
        TokenHistory h = TokenHistory.ofPrompt(0, 0);
        h.appendOutput(1);
        h.appendOutput(1);
        h.appendOutput(1);
        h.appendOutput(2);
        float[] out = penalize(l, SamplingParams.builder().frequencyPenalty(0.5).presencePenalty(0.25).build(), h);
        assertArrayEquals(new float[] {1f, 1f - 1.5f - 0.25f, 1f - 0.5f - 0.25f, 1f}, out);
    }

    @Test
    void shouldRaiseLogitsWithNegativePresenceAndFrequencyPenalties() {
        float[] l = {1f, 1f};
        TokenHistory h = new TokenHistory();
        h.appendOutput(1);
        h.appendOutput(1);
        float[] out = penalize(l, SamplingParams.builder().frequencyPenalty(-0.5).presencePenalty(-2).build(), h);
        assertArrayEquals(new float[] {1f, 4f}, out);
    }

    @Test
    void shouldApplyTheRepetitionPenaltyBeforeFrequencyAndPresence() {
        TokenHistory h = TokenHistory.ofPrompt(0);
        h.appendOutput(0);
        h.appendOutput(0);
        SamplingParams p = SamplingParams.builder().repetitionPenalty(2).frequencyPenalty(0.5).presencePenalty(0.25)
                .build();
        assertEquals(0.75f, penalize(new float[] {4f, 9f}, p, h)[0]);
    }

    @Test
    void shouldIgnoreHistoryTokensOutsideTheVocabulary() {
        TokenHistory h = TokenHistory.ofPrompt(0, 7);
        h.appendOutput(9);
        float[] out = penalize(new float[] {2f, 2f}, SamplingParams.builder().repetitionPenalty(2).build(), h);
        assertArrayEquals(new float[] {1f, 2f}, out);
    }

    @Test
    void shouldSuppressEosAndStopTokensOnlyBeforeMinTokens() {
        SamplingParams p = SamplingParams.builder().minTokens(2).stopTokenIds(3, 3, 99).build();
        TokenHistory h = new TokenHistory();
        h.appendOutput(0);
        float[] l = {1f, 2f, 3f, 4f, 5f};
        LogitEdits edits = new LogitEdits(5);
        LogitsProcessors.suppressStopTokens(l, 5, new int[] {1}, p, h, edits);
        assertArrayEquals(new float[] {1f, NEG_INF, 3f, NEG_INF, 5f}, l);
        assertEquals(2, edits.count());
        edits.restore(l);

        h.appendOutput(0);
        LogitsProcessors.suppressStopTokens(l, 5, new int[] {1}, p, h, edits);
        assertArrayEquals(new float[] {1f, 2f, 3f, 4f, 5f}, l);
    }

    @Test
    void shouldKeepEosWhenIgnoringEos() {
        SamplingParams p = SamplingParams.builder().minTokens(2).stopTokenIds(3).ignoreEos(true).build();
        float[] l = {1f, 2f, 3f, 4f};
        LogitsProcessors.suppressStopTokens(l, 4, new int[] {1}, p, new TokenHistory(), new LogitEdits(4));
        assertArrayEquals(new float[] {1f, 2f, 3f, NEG_INF}, l);
    }

    @Test
    void shouldRestoreTheFirstOriginalValueWhenATokenIsEditedTwice() {
        float[] l = {4f, 1f};
        LogitEdits edits = new LogitEdits(2);
        edits.set(l, 0, 2f);
        edits.set(l, 0, NEG_INF);
        assertEquals(1, edits.count());
        edits.restore(l);
        assertArrayEquals(new float[] {4f, 1f}, l);
        assertEquals(0, edits.count());
    }
}
