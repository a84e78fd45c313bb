package io.llmcluster.worker.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TokenHistoryTest {

    @Test
    void shouldCountOutputOccurrencesAndRememberPromptTokens() {
        TokenHistory h = TokenHistory.ofPrompt(5, 5, 9);
        h.appendOutput(9);
        h.appendOutput(7);
        h.appendOutput(7);
        assertEquals(3, h.numPromptTokens());
        assertEquals(3, h.numOutputTokens());
        assertEquals(3, h.distinctCount());
        assertTrue(h.inPrompt(5));
        assertFalse(h.inPrompt(7));
        assertEquals(0, h.outputCount(5));
        assertEquals(1, h.outputCount(9));
        assertEquals(2, h.outputCount(7));
        assertEquals(0, h.outputCount(1234));
    }

    @Test
    void shouldListDistinctTokensInFirstSeenOrder() {
        TokenHistory h = TokenHistory.ofPrompt(4, 2);
        h.appendOutput(2);
        h.appendOutput(8);
        assertEquals(4, h.distinctToken(0));
        assertEquals(2, h.distinctToken(1));
        assertEquals(8, h.distinctToken(2));
        assertTrue(h.inPromptAt(1));
        assertEquals(1, h.outputCountAt(1));
        assertFalse(h.inPromptAt(2));
    }

    @Test
    void shouldGrowPastItsInitialCapacityAndAgreeWithAMap() {
        TokenHistory h = new TokenHistory(2);
        Map<Integer, Integer> counts = new HashMap<>();
        Set<Integer> prompt = new HashSet<>();
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 3000; i++) {
            int t = r.nextInt(128_000);
            prompt.add(t);
            h.addPrompt(t);
        }
        for (int i = 0; i < 20_000; i++) {
            int t = r.nextInt(5000);
            counts.merge(t, 1, Integer::sum);
            h.appendOutput(t);
        }
        Set<Integer> all = new HashSet<>(prompt);
        all.addAll(counts.keySet());
        assertEquals(all.size(), h.distinctCount());
        for (int i = 0; i < h.distinctCount(); i++) {
            int t = h.distinctToken(i);
            assertEquals(counts.getOrDefault(t, 0), h.outputCountAt(i));
            assertEquals(prompt.contains(t), h.inPromptAt(i));
        }
    }

    @Test
    void shouldForgetEverythingOnClear() {
        TokenHistory h = TokenHistory.ofPrompt(1, 2);
        h.appendOutput(3);
        h.clear();
        assertEquals(0, h.distinctCount());
        assertEquals(0, h.numPromptTokens());
        assertEquals(0, h.numOutputTokens());
        assertFalse(h.inPrompt(1));
        h.appendOutput(1);
        assertEquals(1, h.outputCount(1));
        assertFalse(h.inPrompt(1));
    }

    @Test
    void shouldRejectNegativeTokenIds() {
        assertThrows(IllegalArgumentException.class, () -> new TokenHistory().appendOutput(-1));
    }
}
