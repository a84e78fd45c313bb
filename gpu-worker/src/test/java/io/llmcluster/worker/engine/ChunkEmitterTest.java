package io.llmcluster.worker.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.Request;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.model.Tokenizer;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The emitter thread: order per request, one sink thread, nothing after a request's last chunk, close drains. */
class ChunkEmitterTest {
    private ModelDirectory model;
    private Tokenizer tokenizer;

    @BeforeEach
    void open() {
        model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
        tokenizer = model.tokenizer();
    }

    @AfterEach
    void close() {
        model.close();
    }

    private SequenceState state(long id, SamplingParams params, Completion sink) {
        return new SequenceState(new Request(id, new int[] {5, 6, 7}, params), sink, tokenizer, new int[0]);
    }

    @Test
    void shouldDeliverEveryRequestsChunksInOrderOnOneThreadAndAllOfThemBeforeCloseReturns() throws Exception {
        List<Long> stopped = new CopyOnWriteArrayList<>();
        ChunkEmitter emitter = new ChunkEmitter(stopped::add);
        SamplingParams p = SamplingParams.greedy(50);
        List<Thread> sinkThreads = new CopyOnWriteArrayList<>();
        List<Completion> sinks = new ArrayList<>();
        List<SequenceState> states = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            Completion c = new Completion();
            sinks.add(c);
            states.add(new SequenceState(new Request(r + 1, new int[] {5, 6, 7}, p), chunk -> {
                sinkThreads.add(Thread.currentThread());
                c.onChunk(chunk);
            }, tokenizer, new int[0]));
        }
        for (int t = 0; t < 40; t++) {
            for (int r = 0; r < 3; r++) {
                emitter.token(states.get(r), 10 + t + r, t == 39 ? FinishReason.LENGTH : null, t + 1, SequenceState.Logprobs.NONE);
            }
        }
        emitter.close();
        for (int r = 0; r < 3; r++) {
            int[] expected = new int[40];
            for (int t = 0; t < 40; t++) {
                expected[t] = 10 + t + r;
            }
            Completion c = sinks.get(r);
            assertTrue(c.done.isDone(), "request " + r + " got its last chunk before close returned");
            assertArrayEquals(expected, c.tokens());
            assertEquals(FinishReason.LENGTH, c.finishReason());
            assertEquals(40, c.chunks.getLast().completionTokens());
        }
        assertEquals(1, sinkThreads.stream().distinct().count());
        assertTrue(sinkThreads.getFirst() != Thread.currentThread());
        assertEquals(List.of(), stopped);
    }

    @Test
    void shouldEndARequestAtAStopStringTellTheEngineOnceAndDropWhatFollows() throws Exception {
        String text = tokenizer.decode(new int[] {100, 200, 300, 400});
        String second = tokenizer.decode(new int[] {100, 200});
        // a stop string that the text reaches only with the third token
        String stop = text.substring(Math.max(second.length() - 1, 0), second.length() + 1);
        List<Long> stopped = new CopyOnWriteArrayList<>();
        ChunkEmitter emitter = new ChunkEmitter(stopped::add);
        Completion c = new Completion();
        SequenceState s = state(9, SamplingParams.greedy(50).toBuilder().stopStrings(stop).build(), c);
        int[] tokens = {100, 200, 300, 400, 500};
        for (int i = 0; i < tokens.length; i++) {
            emitter.token(s, tokens[i], null, i + 1, SequenceState.Logprobs.NONE); // the engine ran on past the stop
        }
        emitter.end(s, FinishReason.ABORT, 5); // e.g. a cancel that raced with the stop
        emitter.close();
        assertEquals(FinishReason.STOP, c.finishReason());
        assertEquals(1, c.chunks.stream().filter(TokenChunk::isLast).count());
        assertTrue(c.tokens().length <= 3, "tokens after the stop string were dropped: " + c.tokens().length);
        assertTrue(!c.text().contains(stop), c.text());
        assertEquals(List.of(9L), stopped);
    }
}
