package io.llmcluster.cluster.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.worker.engine.TokenChunk;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** A window of 2 batches over a request of two sequences (engine ids 7 and 9). */
class ChunkWindowTest {
    private final ChunkWindow w = new ChunkWindow(2, 2);

    private static TokenChunk chunk(long engineId, int token, FinishReason end) {
        return new TokenChunk(engineId, token, "t" + token, Float.NaN, new int[0], new float[0], end, 3, 1);
    }

    private static long[] ids(TokenChunk[] batch) {
        return Arrays.stream(batch).mapToLong(TokenChunk::requestId).toArray();
    }

    private static int[] tokens(TokenChunk[] batch) {
        return Arrays.stream(batch).mapToInt(TokenChunk::tokenId).toArray();
    }

    @Test
    void shouldHoldChunksUntilTheEngineIdsAreKnownThenRenumberThemBySequence() {
        w.add(chunk(9, 100, null));
        assertFalse(w.canSend());
        w.bind(new long[] {7, 9});
        TokenChunk[] first = w.take();
        assertArrayEquals(new long[] {1}, ids(first));
        assertEquals("t100", first[0].text());
        assertEquals(1, w.lastSent());
    }

    @Test
    void shouldMergeChunksIntoOneBatchWhileTheWindowIsFull() {
        w.bind(new long[] {7, 9});
        w.add(chunk(7, 1, null));
        w.take();
        w.add(chunk(9, 2, null));
        w.take();
        w.add(chunk(7, 3, null));
        w.add(chunk(9, 4, FinishReason.LENGTH));
        w.add(chunk(7, 5, FinishReason.STOP));
        assertFalse(w.canSend());
        assertEquals(2, w.unacked());
        w.ack(1);
        TokenChunk[] merged = w.take();
        assertArrayEquals(new int[] {3, 4, 5}, tokens(merged));
        assertArrayEquals(new long[] {0, 1, 0}, ids(merged));
        assertEquals(3, w.lastSent());
        assertTrue(w.allFinished());
        assertFalse(w.allDelivered());
        w.ack(3);
        assertTrue(w.allDelivered());
    }

    @Test
    void shouldIgnoreStaleAcksAndCapAcksAtWhatWasSent() {
        w.bind(new long[] {7, 9});
        w.add(chunk(7, 1, null));
        w.take();
        w.ack(5);
        assertEquals(0, w.unacked());
        w.add(chunk(7, 2, null));
        w.take();
        w.ack(1);
        assertEquals(1, w.unacked());
    }

    @Test
    void shouldRefuseAChunkOfAnotherRequest() {
        w.bind(new long[] {7, 9});
        w.add(chunk(8, 1, null));
        assertThrows(IllegalStateException.class, w::take);
        assertThrows(IllegalArgumentException.class, () -> new ChunkWindow(2, 2).bind(new long[] {1}));
    }
}
