package io.llmcluster.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llmcluster.cluster.gateway.KvDirectory;
import io.llmcluster.cluster.gateway.WorkerDirectory;
import io.llmcluster.cluster.gateway.Gateway;
import io.llmcluster.cluster.worker.Batcher;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.WorkerLoad;
import io.llmcluster.worker.actor.WorkerState;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Rejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The routes: the OpenAI API ({@code /v1/completions}, {@code /v1/chat/completions}, {@code /v1/models}),
 * {@code /health}, {@code /metrics} and the bearer-protected {@code /admin/*} (engine, drain, cluster, workers,
 * workers/{id}/drain, nodes/leave, kv).
 * Thin: request parsing is {@link RequestParser}'s, running a generation is {@link GenerationHandler}'s, and
 * every failure is answered in OpenAI's error shape ({@link #error}) — unknown paths and methods included.
 */
public final class HttpApi extends AllDirectives {
    private static final Logger LOG = LoggerFactory.getLogger(HttpApi.class);
    static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

    private final ActorSystem<?> system;
    private final ServingParts parts;
    private final ActorRef<GpuWorker.Command> worker;
    private final ActorRef<KvDirectory.Command> directory;
    private final ServedModel model;
    private final HttpSettings settings;
    private final ServingMetrics metrics;
    private final GenerationHandler generation;
    private final Runnable leave;
    private final ResponsesInFlight responses = new ResponsesInFlight();

    /**
     * @param leave starts the node's graceful leave (drain, then leave the cluster and stop): {@code POST
     *              /admin/nodes/leave}
     */
    public HttpApi(ActorSystem<?> system, ServingParts parts, ServedModel model, HttpSettings settings,
                   ServingMetrics metrics, Runnable leave) {
        this.system = system;
        this.parts = parts;
        this.worker = parts.worker();
        this.directory = parts.directory();
        this.model = model;
        this.settings = settings;
        this.metrics = metrics;
        this.leave = leave;
        this.generation = new GenerationHandler(system, parts, model, new RequestParser(model, settings.limits()),
                metrics, settings.limits().requestTimeoutMs(), responses);
    }

    /** The generation requests not yet fully answered (a node's drain waits for none). */
    public ResponsesInFlight responsesInFlight() {
        return responses;
    }

    public Route route() {
        return handleExceptions(exceptionHandler(), () -> handleRejections(rejectionHandler(), () -> concat(
                path(PathMatchers.segment("v1").slash("completions"), () -> post(() -> generate(Endpoint.COMPLETIONS))),
                path(PathMatchers.segment("v1").slash("chat").slash("completions"), () -> post(() -> generate(Endpoint.CHAT))),
                path(PathMatchers.segment("v1").slash("models"), () -> get(this::models)),
                path("health", () -> get(this::health)),
                path("metrics", () -> get(this::prometheus)),
                path(PathMatchers.segment("admin").slash("engine"), () -> get(() -> admin(this::adminEngine))),
                path(PathMatchers.segment("admin").slash("drain"), () -> post(() -> admin(this::adminDrain))),
                path(PathMatchers.segment("admin").slash("cluster"), () -> get(() -> admin(this::adminCluster))),
                path(PathMatchers.segment("admin").slash("workers"), () -> get(() -> admin(
                        () -> adminDirectory(ClusterAdminReport::workers)))),
                path(PathMatchers.segment("admin").slash("workers").slash(PathMatchers.segment()).slash("drain"),
                        id -> post(() -> admin(() -> adminDrainWorker(id)))),
                path(PathMatchers.segment("admin").slash("nodes").slash("leave"), () -> post(() -> admin(this::adminLeave))),
                path(PathMatchers.segment("admin").slash("kv"), () -> get(() -> admin(
                        () -> adminDirectory(ClusterAdminReport::kv)))))));
    }

    private Route generate(Endpoint endpoint) {
        return extractRequest(request -> {
            ConnectionScope scope = request.getAttribute(ConnectionScope.KEY).orElseGet(ConnectionScope::new);
            return withBody(body -> completeWithFuture(generation.handle(endpoint, body, scope)
                    .exceptionally(this::errorResponse)));
        });
    }

    /** Reads the body up to the size limit: a larger one (declared or streamed) is a 413, never read to the end. */
    private Route withBody(Function<byte[], Route> inner) {
        return extractRequestEntity(entity -> {
            long max = settings.maxRequestBytes();
            if (entity.getContentLengthOption().isPresent() && entity.getContentLengthOption().getAsLong() > max) {
                return complete(error(ApiError.tooLarge(max)));
            }
            CompletionStage<byte[]> body = entity.withSizeLimit(max)
                    .toStrict(ASK_TIMEOUT.toMillis(), system)
                    .thenApply(strict -> strict.getData().toArray());
            return onComplete(body, t -> t.isSuccess() ? inner.apply(t.get()) : complete(error(bodyFailure(t.failed().get()))));
        });
    }

    private ApiError bodyFailure(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof EntityStreamSizeException) {
                return ApiError.tooLarge(settings.maxRequestBytes());
            }
        }
        return ApiError.invalidJson("the request body could not be read: " + t.getMessage());
    }

    private Route models() {
        ObjectNode root = Json.object();
        root.put("object", "list");
        ObjectNode m = root.putArray("data").addObject();
        m.put("id", model.id());
        m.put("object", "model");
        m.put("created", model.createdEpochS());
        m.put("owned_by", "llmcluster");
        return complete(json(200, root));
    }

    private Route health() {
        if (worker == null) {
            return completeWithFuture(AskPattern.<KvDirectory.Command, WorkerDirectory.Capacity>ask(directory,
                    KvDirectory.GetCapacity::new, ASK_TIMEOUT, system.scheduler()).handle((c, err) -> {
                        boolean ready = err == null && c.reportedWorkers() > 0;
                        ObjectNode body = Json.object().put("status", ready ? "ready" : "no_workers");
                        if (c != null) {
                            body.put("workers", c.reportedWorkers());
                        }
                        return json(ready ? 200 : 503, body);
                    }));
        }
        return completeWithFuture(load().handle((l, err) -> {
            String status = err != null ? "unavailable" : switch (l.state()) {
                case READY -> "ready";
                case STARTING -> "starting";
                case DRAINING -> "draining";
                case FAILED -> "failed";
            };
            ObjectNode body = Json.object().put("status", status);
            return json(err == null && l.state() == WorkerState.READY ? 200 : 503, body);
        }));
    }

    private Route prometheus() {
        if (worker == null) {
            return complete(HttpResponse.create().withEntity(ContentTypes.TEXT_PLAIN_UTF8, metrics.scrape()));
        }
        return completeWithFuture(load().handle((l, err) -> {
            if (l != null) {
                metrics.updateLoad(l);
            }
            return HttpResponse.create().withEntity(ContentTypes.TEXT_PLAIN_UTF8, metrics.scrape());
        }));
    }

    /** Admin routes need {@code Authorization: Bearer <admin-token>}; without a configured token they are off. */
    private Route admin(Supplier<Route> inner) {
        return optionalHeaderValueByName("Authorization", header -> {
            if (!settings.adminEnabled()) {
                return complete(error(ApiError.adminDisabled()));
            }
            String given = header.filter(h -> h.startsWith("Bearer ")).map(h -> h.substring(7).trim()).orElse("");
            if (!MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8),
                    settings.adminToken().getBytes(StandardCharsets.UTF_8))) {
                return complete(error(ApiError.unauthorized("a valid admin bearer token is required"))
                        .addHeader(RawHeader.create("WWW-Authenticate", "Bearer")));
            }
            return inner.get();
        });
    }

    private Route adminEngine() {
        if (worker == null) {
            return complete(error(ApiError.notReady("this node has no worker (a gateway-only node): see /admin/workers", 0)));
        }
        return completeWithFuture(load().thenApply(l -> json(200, AdminReport.of(l, model, settings))));
    }

    /** This node stops taking requests (503) and its worker drains; the node stays in the cluster. */
    private Route adminDrain() {
        parts.gateway().tell(Gateway.StopAccepting.INSTANCE);
        if (worker == null) {
            return complete(json(202, Json.object().put("status", "draining").put("in_flight", 0)));
        }
        parts.batcher().tell(new Batcher.Drain(system.ignoreRef()));
        return completeWithFuture(load().thenApply(l -> json(202, Json.object()
                .put("status", "draining").put("in_flight", l.inFlight()))));
    }

    /** A worker anywhere in the cluster stops getting new work; what it runs finishes. */
    private Route adminDrainWorker(String workerId) {
        CompletionStage<HttpResponse> r = AskPattern.<KvDirectory.Command, KvDirectory.FoundWorker>ask(directory,
                f -> new KvDirectory.FindWorker(workerId, f), ASK_TIMEOUT, system.scheduler())
                .thenCompose(found -> {
                    if (found.worker() == null) {
                        throw new ApiError(404, ApiError.INVALID_REQUEST, "worker_not_found", null,
                                "no worker \"" + workerId + "\" in the cluster (see GET /admin/workers)", 0).exception();
                    }
                    return AskPattern.<Batcher.Command, Batcher.DrainStarted>ask(found.worker(), Batcher.Drain::new,
                            ASK_TIMEOUT, system.scheduler());
                })
                .thenApply(d -> json(202, Json.object().put("worker", d.workerId()).put("status", "draining")
                        .put("requests_in_flight", d.requestsInFlight())
                        .put("queued_requests_sent_elsewhere", d.requestsRefused())));
        return completeWithFuture(r.exceptionally(this::errorResponse));
    }

    /** This node drains (its gateway and worker), then leaves the cluster and stops. */
    private Route adminLeave() {
        org.apache.pekko.cluster.typed.Cluster c = org.apache.pekko.cluster.typed.Cluster.get(system);
        ObjectNode body = Json.object().put("status", "leaving").put("node", c.selfMember().address().toString())
                .put("drain_timeout_ms", settings.drainTimeoutMs());
        leave.run();
        return complete(json(202, body));
    }

    private Route adminCluster() {
        if (!system.settings().config().getString("pekko.actor.provider").equals("cluster")) {
            return complete(error(ApiError.notReady("this node is not in a cluster", 0)));
        }
        org.apache.pekko.cluster.typed.Cluster c = org.apache.pekko.cluster.typed.Cluster.get(system);
        ObjectNode body = ClusterAdminReport.cluster(c.state(), c.selfMember());
        CompletionStage<Gateway.Stats> stats = AskPattern.ask(parts.gateway(), Gateway.GetStats::new, ASK_TIMEOUT,
                system.scheduler());
        return completeWithFuture(stats.thenApply(g -> {
            body.putObject("gateway").put("accepting", g.accepting()).put("router", g.router())
                    .put("requests", g.sessions()).put("queued", g.queued()).put("max_queued", g.maxQueued());
            return json(200, body);
        }).exceptionally(this::errorResponse));
    }

    private Route adminDirectory(java.util.function.Function<WorkerDirectory.DirectoryView, JsonNode> body) {
        if (directory == null) {
            return complete(error(ApiError.notReady("this node has no KV directory (not a gateway)", 0)));
        }
        CompletionStage<WorkerDirectory.DirectoryView> view = AskPattern.ask(directory, KvDirectory.GetView::new,
                ASK_TIMEOUT, system.scheduler());
        return completeWithFuture(view.thenApply(v -> json(200, body.apply(v))).exceptionally(this::errorResponse));
    }

    private CompletionStage<WorkerLoad> load() {
        return AskPattern.ask(worker, GpuWorker.GetLoad::new, ASK_TIMEOUT, system.scheduler());
    }

    private HttpResponse errorResponse(Throwable t) {
        Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        if (cause instanceof ApiException e) {
            return error(e.error());
        }
        if (cause instanceof org.apache.pekko.pattern.AskTimeoutException) {
            return error(ApiError.notReady("the worker did not answer in time", 1000));
        }
        if (cause instanceof java.util.concurrent.TimeoutException) {
            return error(ApiError.timeout("the request did not finish in time"));
        }
        LOG.error("request failed", cause);
        return error(ApiError.internal("internal error: " + cause.getClass().getSimpleName()));
    }

    /** An error response: OpenAI's body, the status, {@code Retry-After} for 429 and 503; counted in the metrics. */
    HttpResponse error(ApiError e) {
        metrics.countError(e);
        HttpResponse r = json(e.status(), OpenAiFormat.errorBody(e));
        return e.retryAfterSeconds() > 0 ? r.addHeader(RawHeader.create("Retry-After", Long.toString(e.retryAfterSeconds()))) : r;
    }

    static HttpResponse json(int status, JsonNode body) {
        return HttpResponse.create().withStatus(StatusCodes.get(status)).withEntity(HttpEntities.create(
                ContentTypes.APPLICATION_JSON, Json.write(body).getBytes(StandardCharsets.UTF_8)));
    }

    private ExceptionHandler exceptionHandler() {
        return ExceptionHandler.newBuilder()
                .match(ApiException.class, e -> complete(error(e.error())))
                .match(Throwable.class, t -> complete(errorResponse(t)))
                .build();
    }

    private RejectionHandler rejectionHandler() {
        return RejectionHandler.newBuilder()
                .handleAll(MethodRejection.class, rs -> extractRequest(req -> complete(error(
                        ApiError.methodNotAllowed(req.method().value(), req.getUri().path())))))
                .handleNotFound(extractRequest(req -> complete(error(ApiError.notFound(req.getUri().path())))))
                .handleAll(Rejection.class, rs -> complete(error(ApiError.badRequest("the request was rejected: " + rs))))
                .build();
    }
}
