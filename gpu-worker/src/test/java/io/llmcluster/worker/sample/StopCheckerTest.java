package io.llmcluster.worker.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import org.junit.jupiter.api.Test;

class StopCheckerTest {
    private static final int[] EOS = {2, 32000};

    private static SamplingParams.Builder params() {
        return SamplingParams.builder().maxTokens(10);
    }

    @Test
    void shouldStopOnEveryEosToken() {
        StopChecker c = new StopChecker(params().build(), EOS);
        assertEquals(FinishReason.STOP, c.checkToken(2, 1));
        assertEquals(FinishReason.STOP, c.checkToken(32000, 1));
        assertNull(c.checkToken(3, 1));
    }

    @Test
    void shouldKeepGoingPastEosWhenIgnoringEosButStillStopOnStopTokenIds() {
        StopChecker c = new StopChecker(params().ignoreEos(true).stopTokenIds(7).build(), EOS);
        assertNull(c.checkToken(2, 1));
        assertFalse(c.isStopToken(2));
        assertEquals(FinishReason.STOP, c.checkToken(7, 1));
    }

    @Test
    void shouldFinishWithLengthAtMaxTokens() {
        StopChecker c = new StopChecker(params().maxTokens(3).build(), EOS);
        assertNull(c.checkToken(5, 2));
        assertEquals(FinishReason.LENGTH, c.checkToken(5, 3));
    }

    @Test
    void shouldReportStopRatherThanLengthForAStopTokenAtMaxTokens() {
        StopChecker c = new StopChecker(params().maxTokens(3).build(), EOS);
        assertEquals(FinishReason.STOP, c.checkToken(2, 3));
    }

    @Test
    void shouldNotStopOnStopTokensBeforeMinTokens() {
        StopChecker c = new StopChecker(params().minTokens(3).stopTokenIds(7).build(), EOS);
        assertNull(c.checkToken(2, 2));
        assertNull(c.checkToken(7, 2));
        assertEquals(FinishReason.STOP, c.checkToken(2, 3));
    }

    @Test
    void shouldMatchStopStringsOnlyAfterMinTokens() {
        StopChecker c = new StopChecker(params().minTokens(2).stopStrings("x").build(), EOS);
        StopStringMatcher.Match early = c.checkText("ax", 2);
        assertFalse(early.stopped());
        assertEquals("ax", early.text());
        StopStringMatcher.Match late = c.checkText("bxc", 3);
        assertTrue(late.stopped());
        assertEquals("b", late.text());
        assertTrue(c.stoppedByString());
    }

    @Test
    void shouldReleaseHeldBackTextWhenFinishedByAToken() {
        StopChecker c = new StopChecker(params().stopStrings("###").build(), EOS);
        StopStringMatcher.Match m = c.checkText("done #", 1);
        assertEquals("done ", m.text());
        assertEquals(1, m.heldBackChars());
        assertEquals(FinishReason.STOP, c.checkToken(2, 2));
        assertFalse(c.stoppedByString());
        assertEquals("#", c.flush());
    }
}
