package io.llmcluster.worker.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class StopStringMatcherTest {

    private static void assertMatch(String text, String stop, int held, StopStringMatcher.Match m) {
        assertEquals(new StopStringMatcher.Match(text, stop, held), m);
    }

    @Test
    void shouldHoldBackAPartialStopStringAcrossChunkBoundaries() {
        StopStringMatcher m = new StopStringMatcher(List.of("</s>"));
        assertMatch("Hello ", null, 1, m.append("Hello <"));
        assertMatch("", null, 2, m.append("/"));
        assertMatch("", "</s>", 0, m.append("s> never shown"));
        assertTrue(m.stopped());
    }

    @Test
    void shouldReleaseHeldTextOnceItCanNoLongerBecomeAStop() {
        StopStringMatcher m = new StopStringMatcher(List.of("</s>"));
        assertMatch("a ", null, 1, m.append("a <"));
        assertMatch("<b>", null, 0, m.append("b>"));
    }

    @Test
    void shouldFindAStopStringSpanningChunks() {
        StopStringMatcher m = new StopStringMatcher(List.of("END"));
        assertMatch("foo ", null, 2, m.append("foo EN"));
        assertMatch("", "END", 0, m.append("D bar"));
    }

    @Test
    void shouldFindAStopStringSpanningThreeChunks() {
        StopStringMatcher m = new StopStringMatcher(List.of("<|end|>"));
        assertMatch("x", null, 2, m.append("x<|"));
        assertMatch("", null, 5, m.append("end"));
        assertMatch("", "<|end|>", 0, m.append("|>y"));
    }

    @Test
    void shouldEmitTheTextBeforeAStopInsideOneChunk() {
        StopStringMatcher m = new StopStringMatcher(List.of("STOP"));
        assertMatch("abc ", "STOP", 0, m.append("abc STOP def"));
    }

    @Test
    void shouldHoldBackOnlyTheLongestTailThatIsAPrefixOfAStop() {
        StopStringMatcher m = new StopStringMatcher(List.of("abcd", "cx"));
        assertMatch("zz", null, 3, m.append("zzabc"));
        assertEquals(3, m.heldBackChars());
        assertMatch("abc", null, 1, m.append("c"));
        assertMatch("", "cx", 0, m.append("x"));
    }

    @Test
    void shouldPreferTheStopStringThatCompletesFirst() {
        assertMatch("xa", "b", 0, new StopStringMatcher(List.of("abc", "b")).append("xabc"));
        assertMatch("x", "abc", 0, new StopStringMatcher(List.of("bc", "abc")).append("xabc"));
    }

    @Test
    void shouldNotMatchStopsBeforeMinTokensButStillHoldBackTheirPrefixes() {
        StopStringMatcher m = new StopStringMatcher(List.of("END"));
        assertMatch("x", null, 2, m.append("xEN", false));
        assertMatch("END", null, 0, m.append("D", false));
        assertMatch("", null, 1, m.append("E", false));
        assertMatch("", "END", 0, m.append("ND"));
    }

    @Test
    void shouldReleaseHeldTextOnFlush() {
        StopStringMatcher m = new StopStringMatcher(List.of("\n\n"));
        assertMatch("line", null, 1, m.append("line\n"));
        assertEquals("\n", m.flush());
        assertEquals(0, m.heldBackChars());
        assertEquals("", m.flush());
    }

    @Test
    void shouldRefuseTextAfterAStop() {
        StopStringMatcher m = new StopStringMatcher(List.of("."));
        m.append("end.");
        assertThrows(IllegalStateException.class, () -> m.append("more"));
    }

    @Test
    void shouldPassTextThroughWithoutStopStrings() {
        StopStringMatcher m = new StopStringMatcher(List.of());
        assertMatch("any text", null, 0, m.append("any text"));
        assertFalse(m.stopped());
    }

    @Test
    void shouldGiveTheSameOutputForEverySplitOfTheText() {
        SplittableRandom r = new SplittableRandom(12);
        List<String> stops = List.of("abca", "dd", "cab", "bcb");
        for (int trial = 0; trial < 500; trial++) {
            StringBuilder text = new StringBuilder();
            for (int i = 0, n = 1 + r.nextInt(30); i < n; i++) {
                text.append((char) ('a' + r.nextInt(4)));
            }
            String want = firstStopCut(text.toString(), stops);
            StopStringMatcher m = new StopStringMatcher(stops);
            StringBuilder got = new StringBuilder();
            int at = 0;
            while (at < text.length() && !m.stopped()) {
                int end = Math.min(text.length(), at + 1 + r.nextInt(6));
                StopStringMatcher.Match match = m.append(text.subSequence(at, end));
                got.append(match.text());
                at = end;
            }
            if (!m.stopped()) {
                got.append(m.flush());
            }
            assertEquals(want, got.toString(), "text " + text);
            for (String s : stops) {
                assertFalse(got.toString().contains(s), "emitted stop " + s);
            }
        }
    }

    /** The text before the first stop string to complete (ties: the longer one), or all of it. */
    private static String firstStopCut(String text, List<String> stops) {
        for (int end = 1; end <= text.length(); end++) {
            String prefix = text.substring(0, end);
            String best = null;
            for (String s : stops) {
                if (prefix.endsWith(s) && (best == null || s.length() > best.length())) {
                    best = s;
                }
            }
            if (best != null) {
                return text.substring(0, end - best.length());
            }
        }
        return text;
    }

    @Test
    void shouldReportNoStopInAPlainMatch() {
        StopStringMatcher.Match m = new StopStringMatcher(List.of("x")).append("abc");
        assertFalse(m.stopped());
        assertNull(m.stopString());
    }
}
