package io.llmcluster.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llmcluster.batcher.FinishReason;
import io.llmcluster.worker.engine.TokenChunk;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One API request while it runs: the choices' text, logprobs, finish reasons and token counts as the
 * engine's chunks arrive (in any interleaving of its sequences), the latency metrics, and the OpenAI JSON
 * for each streamed chunk ({@link #onChunk}) or for the whole response ({@link #response}). Plain and
 * confined to one stream stage, except
 * {@link #onClientGone} which may come from the stream's termination callback, hence synchronized.
 */
public final class GenerationRun {
    private final OpenAiRequest request;
    private final OpenAiFormat format;
    private final ServingMetrics metrics;
    private final long startNs;
    private final Map<Long, Integer> choiceOfRequest = new HashMap<>();
    private final Choice[] choices;
    private int finished;

    /** A choice's progress. */
    static final class Choice {
        final int index;
        final StringBuilder text = new StringBuilder();
        final ArrayNode logprobs;
        FinishReason finishReason;
        int completionTokens;
        long lastTokenNs;
        int tokenTextOffset;

        Choice(int index, ArrayNode logprobs) {
            this.index = index;
            this.logprobs = logprobs;
        }
    }

    public GenerationRun(OpenAiRequest request, long[] requestIds, OpenAiFormat format, ServingMetrics metrics, long startNs) {
        this.request = request;
        this.format = format;
        this.metrics = metrics;
        this.startNs = startNs;
        this.choices = new Choice[requestIds.length];
        for (int i = 0; i < requestIds.length; i++) {
            choiceOfRequest.put(requestIds[i], i);
            choices[i] = new Choice(i, Json.MAPPER.createArrayNode());
            if (request.echo()) {
                String prompt = request.prompts().get(i / request.n()).text();
                choices[i].text.append(prompt);
                choices[i].tokenTextOffset = prompt.length();
            }
        }
    }

    /** The events that open a stream: the chat role, or the echoed prompts. */
    public synchronized List<String> openingEvents() {
        List<String> events = new ArrayList<>();
        for (Choice c : choices) {
            if (request.endpoint() == Endpoint.CHAT) {
                events.add(format.chatRoleChunk(c.index));
            } else if (request.echo()) {
                events.add(format.completionChunk(c.index, c.text.toString(), null, null));
            }
        }
        return events;
    }

    /**
     * Records a chunk and, for a streamed request, returns the SSE events it makes: none when it adds nothing
     * a client sees, and after the request's last chunk the closing events too.
     */
    public synchronized List<String> onChunk(TokenChunk chunk, long nowNs) {
        Integer i = choiceOfRequest.get(chunk.requestId());
        if (i == null || choices[i].finishReason != null) {
            return List.of();
        }
        Choice c = choices[i];
        c.completionTokens = Math.max(c.completionTokens, chunk.completionTokens());
        ObjectNode logprob = recordToken(c, chunk, nowNs);
        c.text.append(chunk.text());
        if (chunk.isLast()) {
            c.finishReason = chunk.finishReason();
            finished++;
            metrics.countFinish(chunk.finishReason());
            if (finished == choices.length) {
                metrics.observeRequestEnd((nowNs - startNs) / 1e9, request.promptTokens(), completionTokens());
            }
        }
        if (!request.stream()) {
            return List.of();
        }
        List<String> events = new ArrayList<>();
        boolean failed = c.finishReason == FinishReason.ABORT || c.finishReason == FinishReason.ERROR;
        if (!failed && (!chunk.text().isEmpty() || logprob != null || chunk.isLast())) {
            String reason = chunk.isLast() ? chunk.finishReason().apiName() : null;
            events.add(request.endpoint() == Endpoint.CHAT
                    ? format.chatChunk(c.index, chunk.text(), logprob, reason)
                    : format.completionChunk(c.index, chunk.text(), logprob, reason));
        }
        if (finished == choices.length) {
            events.addAll(closingEvents());
        }
        return events;
    }

    /** {@link #onChunk} of each chunk of a batch, their events in order. */
    public synchronized List<String> onChunks(TokenChunk[] chunks, long nowNs) {
        if (chunks.length == 1) {
            return onChunk(chunks[0], nowNs);
        }
        List<String> events = new ArrayList<>();
        for (TokenChunk c : chunks) {
            events.addAll(onChunk(c, nowNs));
        }
        return events;
    }

    private ObjectNode recordToken(Choice c, TokenChunk chunk, long nowNs) {
        if (chunk.tokenId() < 0) {
            return null;
        }
        if (c.lastTokenNs == 0) {
            metrics.observeTimeToFirstToken((nowNs - startNs) / 1e9);
        } else {
            metrics.observeInterTokenLatency((nowNs - c.lastTokenNs) / 1e9);
        }
        c.lastTokenNs = nowNs;
        if (request.logprobs() < 0 || Float.isNaN(chunk.logprob())) {
            return null;
        }
        ObjectNode entry = request.endpoint() == Endpoint.CHAT
                ? format.chatLogprob(chunk)
                : format.completionLogprob(chunk, c.tokenTextOffset);
        c.tokenTextOffset += entry.path("token").asText().length();
        c.logprobs.add(entry);
        return entry;
    }

    /** The events that close a stream: the usage chunk when asked for, or the error, then {@code [DONE]}. */
    private List<String> closingEvents() {
        List<String> events = new ArrayList<>();
        ApiError failure = failure();
        if (failure != null) {
            metrics.countError(failure);
            events.add(OpenAiFormat.sse(OpenAiFormat.errorBody(failure)));
        } else if (request.includeUsage()) {
            events.add(format.usageChunk(usage()));
        }
        events.add(OpenAiFormat.DONE);
        return events;
    }

    /** The whole response of a non-streamed request; an aborted (timed out) or failed one is an error. */
    public synchronized ObjectNode response() {
        ApiError failure = failure();
        if (failure != null) {
            throw failure.exception();
        }
        List<ObjectNode> out = new ArrayList<>();
        for (Choice c : choices) {
            out.add(request.endpoint() == Endpoint.CHAT
                    ? format.chatChoice(c.index, c.text.toString(), c.logprobs, c.finishReason.apiName(), request.logprobs() >= 0)
                    : format.completionChoice(c.index, c.text.toString(), c.logprobs, c.finishReason.apiName(), request.logprobs() >= 0));
        }
        return format.response(out, usage());
    }

    private ApiError failure() {
        for (Choice c : choices) {
            if (c.finishReason == FinishReason.ERROR) {
                return ApiError.internal("the engine failed while generating this request");
            }
        }
        for (Choice c : choices) {
            if (c.finishReason == FinishReason.ABORT || (c.finishReason == null && finished < choices.length)) {
                return ApiError.timeout("the request was cancelled before it finished: it ran past the server's "
                        + "per-request timeout, or the server is stopping");
            }
        }
        return null;
    }

    private ObjectNode usage() {
        return OpenAiFormat.usage(request.promptTokens(), completionTokens());
    }

    private int completionTokens() {
        int sum = 0;
        for (Choice c : choices) {
            sum += c.completionTokens;
        }
        return sum;
    }

    public synchronized boolean isDone() {
        return finished == choices.length;
    }

    /**
     * The client went away (or the stream failed) before the end: the choices still running count as aborted.
     *
     * @return the engine request ids to cancel
     */
    public synchronized long[] onClientGone() {
        List<Long> ids = new ArrayList<>();
        for (Map.Entry<Long, Integer> e : choiceOfRequest.entrySet()) {
            Choice c = choices[e.getValue()];
            if (c.finishReason == null) {
                c.finishReason = FinishReason.ABORT;
                finished++;
                metrics.countFinish(FinishReason.ABORT);
                ids.add(e.getKey());
            }
        }
        return ids.stream().mapToLong(Long::longValue).toArray();
    }
}
