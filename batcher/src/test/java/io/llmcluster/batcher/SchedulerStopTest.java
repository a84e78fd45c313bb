package io.llmcluster.batcher;

import static io.llmcluster.batcher.Fixture.EOS;
import static io.llmcluster.batcher.Fixture.config;
import static io.llmcluster.batcher.SchedulingPolicy.FCFS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

/** Token stop conditions checked by update(): one request, fed the given tokens one step at a time. */
class SchedulerStopTest {
    private final Fixture f = new Fixture(20, config(16, 4, 32, false, FCFS));

    /** Feeds {@code tokens} until the request finishes; returns it. */
    private Request run(int promptLength, SamplingParams params, int... tokens) {
        Request request = f.add(new Request(1, Fixture.prompt(1, promptLength), params));
        for (int token : tokens) {
            do {
                f.step(token); // a long prompt takes several chunks before it samples
            } while (!f.lastPlan.sampleAfter(0));
            if (request.isFinished()) {
                assertEquals(token, f.lastResult.newToken(0));
                assertSame(request.finishReason(), f.lastResult.finishReason(0));
                assertEquals(1, f.lastResult.numFinished());
                break;
            }
            assertNull(f.lastResult.finishReason(0));
        }
        return request;
    }

    private static SamplingParams.Builder params(int maxTokens) {
        return SamplingParams.builder().maxTokens(maxTokens);
    }

    @Test
    void shouldFinishWithLengthAtMaxTokensAndFreeItsBlocks() {
        Request request = run(4, params(3).build(), 5, 6, 7, 8);

        assertSame(FinishReason.LENGTH, request.finishReason());
        assertArrayEquals(new int[] {5, 6, 7}, request.outputTokenIds());
        assertEquals(20, f.pool.numFreeBlocks());
        assertEquals(0, f.scheduler.numRunning());
    }

    @Test
    void shouldFinishWithStopOnEos() {
        Request request = run(4, params(10).build(), 5, EOS, 7);

        assertSame(FinishReason.STOP, request.finishReason());
        assertArrayEquals(new int[] {5, EOS}, request.outputTokenIds());
        assertEquals(20, f.pool.numFreeBlocks());
    }

    @Test
    void shouldFinishWithStopOnAStopTokenId() {
        Request request = run(4, params(10).stopTokenIds(42, 43).build(), 5, 43, 7);

        assertSame(FinishReason.STOP, request.finishReason());
        assertArrayEquals(new int[] {5, 43}, request.outputTokenIds());
    }

    @Test
    void shouldNotStopOnEosOrStopTokenIdBeforeMinTokens() {
        Request request = run(4, params(10).minTokens(3).stopTokenIds(42).build(), EOS, 42, EOS, 7);

        assertSame(FinishReason.STOP, request.finishReason());
        assertArrayEquals(new int[] {EOS, 42, EOS}, request.outputTokenIds());
    }

    @Test
    void shouldGoOnPastEosWhenIgnoreEosButStillStopOnStopTokenIds() {
        Request request = run(4, params(10).ignoreEos(true).stopTokenIds(42).build(), EOS, EOS, 42, 7);

        assertSame(FinishReason.STOP, request.finishReason());
        assertArrayEquals(new int[] {EOS, EOS, 42}, request.outputTokenIds());
    }

    @Test
    void shouldFinishWithLengthAtMaxTokensWhenIgnoringEos() {
        Request request = run(4, params(3).ignoreEos(true).build(), EOS, EOS, EOS, EOS);

        assertSame(FinishReason.LENGTH, request.finishReason());
        assertEquals(3, request.numOutputTokens());
    }

    @Test
    void shouldFinishWithLengthAtMaxModelLen() {
        Request request = run(30, params(100).build(), 5, 6, 7, 8);

        assertSame(FinishReason.LENGTH, request.finishReason());
        assertEquals(32, request.numTokens());
        assertArrayEquals(new int[] {5, 6}, request.outputTokenIds());
    }

    @Test
    void shouldPreferStopOverLengthWhenTheLastAllowedTokenIsEos() {
        Request request = run(4, params(2).build(), 5, EOS);

        assertSame(FinishReason.STOP, request.finishReason());
    }

    @Test
    void shouldAcceptAPromptOfMaxModelLenMinusOneAndGenerateOneToken() {
        Request request = run(31, params(100).build(), 5, 6);

        assertSame(FinishReason.LENGTH, request.finishReason());
        assertArrayEquals(new int[] {5}, request.outputTokenIds());
    }
}
