package io.llmcluster.http;

import io.llmcluster.cluster.gateway.Gateway;
import io.llmcluster.cluster.gateway.KvDirectory;
import io.llmcluster.cluster.gateway.RequestSession;
import io.llmcluster.cluster.gateway.RouteRequests;
import io.llmcluster.cluster.gateway.WorkerDirectory;
import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.HashExtra;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import io.llmcluster.worker.actor.WorkerLoad;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
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
import org.apache.pekko.japi.pf.PFBuilder;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.typed.javadsl.ActorSource;
import org.apache.pekko.util.ByteString;

/**
 * Runs one generation request end to end: parse and validate, plan the sequences against the context the
 * cluster's workers serve, hand them to a {@link RequestSession} of the node's {@link Gateway} (which routes them to
 * a worker of the cluster, queues them while all are full, and moves them elsewhere if their worker dies before the
 * first token), then answer with the whole response or an SSE stream once the first tokens arrive. The session's
 * batches come through a stream-backed actor ref that acknowledges each batch once taken (the flow control back to
 * the worker). When the client goes away (the stream is cancelled, or the connection closes under a non-streamed
 * request) the session cancels the request on its worker, which frees its KV blocks.
 */
final class GenerationHandler {
    /** Beyond the per-request timeout (which the worker enforces), how long the HTTP side waits before giving up. */
    private static final Duration SAFETY_MARGIN = Duration.ofSeconds(30);
    /** Response header naming the worker that served the request. */
    static final String WORKER_HEADER = "x-llmc-worker";

    private final ActorSystem<?> system;
    private final ServingParts parts;
    private final ServedModel model;
    private final RequestParser parser;
    private final ServingMetrics metrics;
    private final long requestTimeoutMs;
    private final BlockHasher hasher;
    private final ResponsesInFlight inFlight;

    GenerationHandler(ActorSystem<?> system, ServingParts parts, ServedModel model, RequestParser parser,
                      ServingMetrics metrics, long requestTimeoutMs, ResponsesInFlight inFlight) {
        this.inFlight = inFlight;
        this.system = system;
        this.parts = parts;
        this.model = model;
        this.parser = parser;
        this.metrics = metrics;
        this.requestTimeoutMs = requestTimeoutMs;
        // the engines hash their blocks with this extra (Engine: model id, the backend's KV dtype name)
        this.hasher = new BlockHasher(HashExtra.base(model.id(), parts.kvHashDtype()), parts.blockSizeTokens());
    }

    /** One request; counted in {@link ResponsesInFlight} until its answer is complete. */
    CompletionStage<HttpResponse> handle(Endpoint endpoint, byte[] body, ConnectionScope scope) {
        inFlight.begin();
        java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();
        Runnable end = () -> {
            if (ended.compareAndSet(false, true)) {
                inFlight.end();
            }
        };
        CompletionStage<HttpResponse> r;
        try {
            r = run(endpoint, body, scope);
        } catch (RuntimeException e) {
            end.run();
            throw e;
        }
        return r.handle((response, err) -> {
            if (err != null) {
                end.run();
                throw err instanceof CompletionException c ? c : new CompletionException(err);
            }
            return tracked(response, end);
        });
    }

    /** A streamed answer counts until its last byte; a strict one is done. */
    private static HttpResponse tracked(HttpResponse response, Runnable end) {
        if (!(response.entity() instanceof org.apache.pekko.http.javadsl.model.HttpEntity.Chunked chunked)) {
            end.run();
            return response;
        }
        return response.withEntity(HttpEntities.createChunked(chunked.getContentType(),
                chunked.getDataBytes().watchTermination((mat, done) -> {
                    done.whenComplete((d, e) -> end.run());
                    return mat;
                })));
    }

    private CompletionStage<HttpResponse> run(Endpoint endpoint, byte[] body, ConnectionScope scope) {
        long startNs = System.nanoTime();
        OpenAiRequest request;
        try {
            var json = Json.parseObject(body);
            request = endpoint == Endpoint.CHAT ? parser.chat(json) : parser.completion(json);
        } catch (ApiException e) {
            return CompletableFuture.failedFuture(e);
        }
        return servingLen().thenCompose(len -> submit(request, request.plan(len), len, scope, startNs));
    }

    /**
     * The context a request must fit: the shortest among the workers that have reported; before any has, this
     * node's own worker's (503 while it loads), or 503 on a gateway-only node.
     */
    private CompletionStage<Integer> servingLen() {
        return AskPattern.<KvDirectory.Command, WorkerDirectory.Capacity>ask(parts.directory(), KvDirectory.GetCapacity::new,
                HttpApi.ASK_TIMEOUT, system.scheduler()).thenCompose(c -> {
                    if (c.reportedWorkers() > 0) {
                        return CompletableFuture.completedFuture(c.maxModelLen());
                    }
                    if (parts.worker() == null) {
                        throw ApiError.notReady("no worker in the cluster is ready yet", 1000).exception();
                    }
                    return AskPattern.<GpuWorker.Command, WorkerLoad>ask(parts.worker(), GpuWorker.GetLoad::new,
                            HttpApi.ASK_TIMEOUT, system.scheduler()).thenApply(GenerationHandler::servingLen);
                });
    }

    private static int servingLen(WorkerLoad load) {
        return switch (load.state()) {
            case READY -> load.maxModelLen();
            case STARTING, FAILED -> throw ApiError.notReady("the model is still loading", 1000).exception();
            case DRAINING -> throw ApiError.draining("the server is shutting down (draining)", 1000).exception();
        };
    }

    private CompletionStage<HttpResponse> submit(OpenAiRequest request, List<SequenceSpec> specs, int maxModelLen,
                                                 ConnectionScope scope, long startNs) {
        SequenceSpec[] sequences = specs.toArray(SequenceSpec[]::new);
        RouteRequest route = RouteRequests.of(sequences, maxModelLen, hasher);
        return AskPattern.<Gateway.Command, Gateway.NewSessionReply>ask(parts.gateway(),
                        r -> new Gateway.NewSession(sequences, requestTimeoutMs, route, r), HttpApi.ASK_TIMEOUT,
                        system.scheduler())
                .thenCompose(reply -> switch (reply) {
                    case Gateway.NotAccepting n -> throw ApiError.draining(n.reason(), 1000).exception();
                    case Gateway.SessionCreated c -> start(request, c.session(), scope, startNs);
                });
    }

    private CompletionStage<HttpResponse> start(OpenAiRequest request, ActorRef<RequestSession.Command> session,
                                                ConnectionScope scope, long startNs) {
        Pair<ActorRef<RequestSession.Output>, Source<RequestSession.Output, NotUsed>> out = ActorSource
                .<RequestSession.Output, RequestSession.Command>actorRefWithBackpressure(session,
                        RequestSession.Consumed.INSTANCE, o -> Optional.empty(),
                        o -> o instanceof RequestSession.Failed f
                                ? Optional.of(ApiError.workerLost(f.message()).exception()) : Optional.empty())
                .preMaterialize(system);
        Runnable cancel = () -> session.tell(RequestSession.Cancel.INSTANCE);
        scope.register(cancel);
        Duration wait = requestTimeoutMs > 0 ? Duration.ofMillis(requestTimeoutMs).plus(SAFETY_MARGIN) : Duration.ofDays(1);
        return AskPattern.<RequestSession.Command, RequestSession.StartReply>ask(session,
                        r -> new RequestSession.Start(out.first(), r), wait, system.scheduler())
                .whenComplete((reply, err) -> {
                    if (!(reply instanceof RequestSession.Started)) {
                        scope.unregister(cancel);
                        out.second().runWith(Sink.cancelled(), system); // nothing will come: stop the source
                        session.tell(RequestSession.Cancel.INSTANCE);   // a no-op unless the ask timed out
                    }
                })
                .thenCompose(reply -> switch (reply) {
                    case RequestSession.Started s -> respond(request, s.workerId(), out.second(), session, cancel,
                            scope, startNs);
                    case RequestSession.Refusal r -> throw refusal(r).exception();
                });
    }

    private static ApiError refusal(RequestSession.Refusal r) {
        return switch (r.reason()) {
            case QUEUE_FULL -> ApiError.queueFull(r.message(), r.retryAfterMs());
            case DRAINING -> ApiError.draining(r.message(), r.retryAfterMs());
            case NOT_READY -> ApiError.notReady(r.message(), r.retryAfterMs());
            case NO_WORKER -> ApiError.noWorker(r.message(), r.retryAfterMs());
            case INVALID -> ApiError.invalidValue(null, r.message());
            case TIMEOUT -> ApiError.timeout(r.message());
            case CANCELLED -> ApiError.notReady(r.message(), 0); // the client is gone: nobody reads it
        };
    }

    private CompletionStage<HttpResponse> respond(OpenAiRequest request, String workerId,
                                                  Source<RequestSession.Output, NotUsed> batches,
                                                  ActorRef<RequestSession.Command> session, Runnable cancel,
                                                  ConnectionScope scope, long startNs) {
        OpenAiFormat format = new OpenAiFormat(request.endpoint(), OpenAiFormat.newId(request.endpoint()),
                System.currentTimeMillis() / 1000, model, request.stream() && request.includeUsage());
        long[] ids = new long[request.prompts().size() * request.n()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i; // the session numbers chunks by sequence index, whichever worker runs them
        }
        GenerationRun run = new GenerationRun(request, ids, format, metrics, startNs);
        if (requestTimeoutMs > 0) { // the worker cancels at the timeout; this only guards against a lost last chunk
            batches = batches.completionTimeout(Duration.ofMillis(requestTimeoutMs).plus(SAFETY_MARGIN));
        }
        Source<List<String>, NotUsed> events = batches
                .map(o -> run.onChunks(((RequestSession.Chunks) o).chunks(), System.nanoTime()))
                .takeWhile(e -> !run.isDone(), true)
                .watchTermination((mat, done) -> {
                    done.whenComplete((d, err) -> {
                        scope.unregister(cancel);
                        if (run.onClientGone().length > 0) {
                            session.tell(RequestSession.Cancel.INSTANCE);
                        }
                    });
                    return mat;
                });
        RawHeader served = RawHeader.create(WORKER_HEADER, workerId);
        return request.stream()
                ? CompletableFuture.completedFuture(stream(run, events).addHeader(served))
                : whole(run, events).thenApply(r -> r.addHeader(served));
    }

    private HttpResponse stream(GenerationRun run, Source<List<String>, NotUsed> events) {
        Source<ByteString, NotUsed> bytes = Source.single(run.openingEvents())
                .concat(events)
                .recover(new PFBuilder<Throwable, List<String>>()
                        .match(ApiException.class, e -> {
                            metrics.countError(e.error());
                            return List.of(OpenAiFormat.sse(OpenAiFormat.errorBody(e.error())), OpenAiFormat.DONE);
                        })
                        .matchAny(t -> List.of(OpenAiFormat.sse(OpenAiFormat.errorBody(
                                ApiError.timeout("the request did not finish in time"))), OpenAiFormat.DONE))
                        .build())
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
