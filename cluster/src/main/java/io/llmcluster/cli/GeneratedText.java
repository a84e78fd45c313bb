package io.llmcluster.cli;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.engine.TokenSink;
import java.io.PrintStream;
import java.util.concurrent.CompletableFuture;

/** Collects one request's text for the CLI, printing it as it arrives when given a stream. */
final class GeneratedText implements TokenSink {
    private final PrintStream live;
    private final StringBuilder text = new StringBuilder();
    private final CompletableFuture<GeneratedText> done = new CompletableFuture<>();
    private volatile int completionTokens;
    private volatile FinishReason finishReason;

    GeneratedText(PrintStream liveOrNull) {
        this.live = liveOrNull;
    }

    @Override
    public void onChunk(TokenChunk chunk) {
        text.append(chunk.text());
        if (live != null) {
            live.print(chunk.text());
        }
        completionTokens = chunk.completionTokens();
        if (chunk.isLast()) {
            finishReason = chunk.finishReason();
            done.complete(this);
        }
    }

    GeneratedText await() throws Exception {
        return done.get();
    }

    String text() {
        return text.toString();
    }

    int completionTokens() {
        return completionTokens;
    }

    FinishReason finishReason() {
        return finishReason;
    }
}
