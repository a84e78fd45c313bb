package io.llmcluster.http;

import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import io.llmcluster.worker.actor.WorkerLoad;
import io.llmcluster.worker.engine.TokenChunk;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.typed.javadsl.ActorSource;
import org.apache.pekko.util.ByteString;

/**
 * Runs one generation request end to end: parse and validate, check the worker is serving, plan the
 * sequences against the context, submit them to the {@link GpuWorker} with a stream-backed actor ref that
 * receives their chunks, then answer with the whole response or an SSE stream. When the client goes away
 * (the stream is cancelled, or the connection closes under a non-streamed request) the sequences still
 * running are cancelled, which frees their KV blocks.
 */
final class GenerationHandler {
    /** Beyond the per-request timeout (which the worker enforces), how long the HTTP side waits before giving up. */
    private static final Duration SAFETY_MARGIN = Duration.ofSeconds(30);

    private final ActorSystem<?> system;
    private final ActorRef<GpuWorker.Command> worker;
    private final ServedModel model;
    private final RequestParser parser;
    private final ServingMetrics metrics;
    private final long requestTimeoutMs;

    GenerationHandler(ActorSystem<?> system, ActorRef<GpuWorker.Command> worker, ServedModel model, RequestParser parser,
                      ServingMetrics metrics, long requestTimeoutMs) {
        this.system = system;
        this.worker = worker;
        this.model = model;
        this.parser = parser;
        this.metrics = metrics;
        this.requestTimeoutMs = requestTimeoutMs;
    }

    CompletionStage<HttpResponse> handle(Endpoint endpoint, byte[] body, ConnectionScope scope) {
        long startNs = System.nanoTime();
        OpenAiRequest request;
        try {
            var json = Json.parseObject(body);
            request = endpoint == Endpoint.CHAT ? parser.chat(json) : parser.completion(json);
        } catch (ApiException e) {
            return CompletableFuture.failedFuture(e);
        }
        return AskPattern.<GpuWorker.Command, WorkerLoad>ask(worker, GpuWorker.GetLoad::new, HttpApi.ASK_TIMEOUT, system.scheduler())
                .thenCompose(load -> submit(request, request.plan(servingLen(load)), scope, startNs));
    }

    private static int servingLen(WorkerLoad load) {
        return switch (load.state()) {
            case READY -> load.maxModelLen();
            case STARTING, FAILED -> throw ApiError.notReady("the model is still loading", 1000).exception();
            case DRAINING -> throw ApiError.draining("the server is shutting down (draining)", 1000).exception();
        };
    }

    private CompletionStage<HttpResponse> submit(OpenAiRequest request, List<SequenceSpec> specs, ConnectionScope scope,
                                                 long startNs) {
        Pair<ActorRef<TokenChunk>, Source<TokenChunk, NotUsed>> chunks = ActorSource.<TokenChunk>actorRef(
                c -> false, c -> Optional.empty(), bufferFor(specs), OverflowStrategy.fail()).preMaterialize(system);
        long timeoutMs = requestTimeoutMs;
        return AskPattern.<GpuWorker.Command, GpuWorker.GenerateReply>ask(worker,
                        replyTo -> new GpuWorker.Generate(specs, timeoutMs, chunks.first(), replyTo),
                        HttpApi.ASK_TIMEOUT, system.scheduler())
                .whenComplete((reply, err) -> {
                    if (!(reply instanceof GpuWorker.Accepted)) {
                        chunks.second().runWith(Sink.cancelled(), system); // nothing will come: stop the source
                    }
                })
                .thenCompose(reply -> switch (reply) {
                    case GpuWorker.Accepted a -> respond(request, a.requestIds(), chunks.second(), scope, startNs);
                    case GpuWorker.Rejected r -> throw refusal(r).exception();
                });
    }

    /** Every chunk the sequences can send fits (max_tokens + the final flush each), so the buffer never overflows. */
    private static int bufferFor(List<SequenceSpec> specs) {
        long sum = 0;
        for (SequenceSpec s : specs) {
            sum += s.params().maxTokens() + 2L;
        }
        return (int) Math.min(Integer.MAX_VALUE - 8, sum);
    }

    private static ApiError refusal(GpuWorker.Rejected r) {
        return switch (r.reason()) {
            case QUEUE_FULL -> ApiError.queueFull(r.message(), r.retryAfterMs());
            case DRAINING -> ApiError.draining(r.message(), r.retryAfterMs());
            case NOT_READY -> ApiError.notReady(r.message(), r.retryAfterMs());
            case INVALID -> ApiError.invalidValue(null, r.message());
        };
    }

    private CompletionStage<HttpResponse> respond(OpenAiRequest request, long[] ids, Source<TokenChunk, NotUsed> chunks,
                                 ConnectionScope scope, long startNs) {
        OpenAiFormat format = new OpenAiFormat(request.endpoint(), OpenAiFormat.newId(request.endpoint()),
                System.currentTimeMillis() / 1000, model, request.stream() && request.includeUsage());
        GenerationRun run = new GenerationRun(request, ids, format, metrics, startNs);
        Runnable cancel = () -> worker.tell(new GpuWorker.Cancel(ids)); // finished ids are ignored
        scope.register(cancel);
        if (requestTimeoutMs > 0) { // the worker cancels at the timeout; this only guards against a lost last chunk
            chunks = chunks.completionTimeout(Duration.ofMillis(requestTimeoutMs).plus(SAFETY_MARGIN));
        }
        Source<List<String>, NotUsed> events = chunks
                .map(chunk -> run.onChunk(chunk, System.nanoTime()))
                .takeWhile(e -> !run.isDone(), true)
                .watchTermination((mat, done) -> {
                    done.whenComplete((d, err) -> {
                        scope.unregister(cancel);
                        long[] left = run.onClientGone();
                        if (left.length > 0) {
                            worker.tell(new GpuWorker.Cancel(left));
                        }
                    });
                    return mat;
                });
        return request.stream() ? CompletableFuture.completedFuture(stream(run, events)) : whole(run, events);
    }

    private HttpResponse stream(GenerationRun run, Source<List<String>, NotUsed> events) {
        Source<ByteString, NotUsed> bytes = Source.single(run.openingEvents())
                .concat(events)
                .recover(Throwable.class, () -> List.of(OpenAiFormat.sse(OpenAiFormat.errorBody(
                        ApiError.timeout("the request did not finish in time"))), OpenAiFormat.DONE))
                .mapConcat(list -> list)
                .map(ByteString::fromString);
        return HttpResponse.create()
                .withEntity(HttpEntities.createChunked(ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM), bytes))
                .addHeader(RawHeader.create("Cache-Control", "no-cache"));
    }

    /** A non-streamed answer: all chunks gathered, then one JSON response (or the error of a failed run). */
    private CompletionStage<HttpResponse> whole(GenerationRun run, Source<List<String>, NotUsed> events) {
        return events.runWith(Sink.ignore(), system).thenApply(done -> HttpApi.json(200, run.response()));
    }
}
