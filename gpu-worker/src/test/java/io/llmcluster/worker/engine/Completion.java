package io.llmcluster.worker.engine;

import io.llmcluster.batcher.FinishReason;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Test sink: gathers a request's chunks and completes when the last one arrives. */
final class Completion implements TokenSink {
    final List<TokenChunk> chunks = new ArrayList<>();
    final CompletableFuture<Completion> done = new CompletableFuture<>();

    @Override
    public synchronized void onChunk(TokenChunk chunk) {
        chunks.add(chunk);
        if (chunk.isLast()) {
            done.complete(this);
        }
    }

    Completion await() throws Exception {
        return done.get(120, TimeUnit.SECONDS);
    }

    synchronized int[] tokens() {
        return chunks.stream().mapToInt(TokenChunk::tokenId).filter(t -> t >= 0).toArray();
    }

    synchronized String text() {
        StringBuilder sb = new StringBuilder();
        chunks.forEach(c -> sb.append(c.text()));
        return sb.toString();
    }

    synchronized FinishReason finishReason() {
        return chunks.getLast().finishReason();
    }
}
