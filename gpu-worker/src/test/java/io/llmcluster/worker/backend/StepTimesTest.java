package io.llmcluster.worker.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class StepTimesTest {
    private static final long MS = 1_000_000;

    @Test
    void groupsTheWindowsStepsByPromptTokensBeyondOnePerSequence() {
        StepTimes t = new StepTimes(16);
        t.record(5 * MS, 9 * MS, 64, 64);     // before the window
        t.record(10 * MS, 6 * MS, 64, 64);    // pure decode: 0 prefill tokens
        t.record(20 * MS, 8 * MS, 64, 64);
        t.record(30 * MS, 10 * MS, 63 + 100, 64); // 63 decodes + a 100-token chunk: 99
        t.record(40 * MS, 12 * MS, 63 + 257, 64); // a 257-token chunk: 256
        t.record(50 * MS, 14 * MS, 62 + 300, 64); // two chunks (150 + 150): 298
        t.record(60 * MS, 99 * MS, 64, 64);   // after the window
        List<StepTimes.Group> g = t.byPrefillTokens(10 * MS, 60 * MS, 1, 128, 256);
        assertEquals(3, g.size());
        assertEquals(new StepTimes.Group(0, 1, 2, 7.0, 6.0, 8.0, 8.0), g.get(0));
        assertEquals(new StepTimes.Group(1, 128, 1, 10.0, 10.0, 10.0, 10.0), g.get(1));
        assertEquals(new StepTimes.Group(256, Integer.MAX_VALUE, 2, 13.0, 12.0, 14.0, 14.0), g.get(2));
        assertEquals("0", g.get(0).label());
        assertEquals("1-127", g.get(1).label());
        assertEquals("256+", g.get(2).label());
    }

    @Test
    void keepsOnlyTheLastCapacityStepsAndClears() {
        StepTimes t = new StepTimes(2);
        t.record(1, 100 * MS, 1, 1);
        t.record(2, 2 * MS, 1, 1);
        t.record(3, 4 * MS, 1, 1);
        assertEquals(List.of(new StepTimes.Group(0, Integer.MAX_VALUE, 2, 3.0, 2.0, 4.0, 4.0)), t.byPrefillTokens(0, 10));
        t.clear();
        assertEquals(List.of(), t.byPrefillTokens(0, 10));
    }

    @Test
    void rejectsAnEmptyLog() {
        assertThrows(IllegalArgumentException.class, () -> new StepTimes(0));
    }
}
