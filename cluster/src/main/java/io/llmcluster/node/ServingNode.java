package io.llmcluster.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.llmcluster.cluster.gateway.Gateway;
import io.llmcluster.cluster.gateway.KvDirectory;
import io.llmcluster.cluster.worker.Batcher;
import io.llmcluster.http.HttpApi;
import io.llmcluster.http.HttpServer;
import io.llmcluster.http.ResponsesInFlight;
import io.llmcluster.http.ServedModel;
import io.llmcluster.http.ServingMetrics;
import io.llmcluster.http.ServingParts;
import io.llmcluster.worker.actor.EngineFactory;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.WorkerLoad;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.http.javadsl.ServerBinding;

/**
 * One serving node, assembled: the actor system with its {@link Node} guardian (worker, gateway or both), the HTTP
 * server in front of a gateway, and a coordinated shutdown that first drains (the gateway answers new requests 503
 * while those in flight finish; the worker takes no new work and finishes its own; for at most the drain timeout),
 * then unbinds, leaves the cluster and stops. SIGTERM, Ctrl-C and {@code POST /admin/nodes/leave} run it.
 */
public final class ServingNode implements AutoCloseable {
    private static final Duration ASK = Duration.ofSeconds(10);

    private final ActorSystem<Node.Command> system;
    private final Node.Parts parts;
    private final ServerBinding binding;

    private ServingNode(ActorSystem<Node.Command> system, Node.Parts parts, ServerBinding binding) {
        this.system = system;
        this.parts = parts;
        this.binding = binding;
    }

    /**
     * Starts the node: the actor system joins the cluster (its seed nodes, or itself when it has none), and a
     * gateway binds the HTTP server; the engine keeps loading in the background ({@link #awaitReady}).
     */
    public static ServingNode start(NodeSettings settings, ServedModel model, EngineFactory factory, Config config) {
        ClusterSettings cluster = settings.cluster();
        ClusterJoin.Method join = ClusterJoin.method(config, cluster);
        ActorSystem<Node.Command> system = ActorSystem.create(Node.create(settings, factory), "llmc",
                systemConfig(settings, config));
        try {
            ClusterJoin.start(system, join, cluster);
            Node.Parts parts = AskPattern.<Node.Command, Node.Parts>ask(system, Node.GetParts::new, ASK,
                    system.scheduler()).toCompletableFuture().get(ASK.toSeconds(), TimeUnit.SECONDS);
            ServerBinding binding = null;
            HttpApi api = null;
            if (cluster.isGateway()) {
                ServingParts serving = new ServingParts(parts.gateway(), parts.directory(), parts.worker(),
                        parts.batcher(), settings.gateway().blockSizeTokens(), settings.cpu().kvCacheDtype().hashName());
                api = new HttpApi(system, serving, model, settings.http(), new ServingMetrics(),
                        () -> leave(system));
                binding = HttpServer.bind(system, api, settings.http()).toCompletableFuture()
                        .get(ASK.toSeconds(), TimeUnit.SECONDS);
                binding.addToCoordinatedShutdown(Duration.ofSeconds(5), system);
            }
            ResponsesInFlight http = api == null ? null : api.responsesInFlight();
            CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "drain-node",
                    () -> NodeDrain.run(system, parts, http, Duration.ofMillis(settings.http().drainTimeoutMs())));
            return new ServingNode(system, parts, binding);
        } catch (Exception e) {
            boolean engineFailed = terminatesWithin(system, Duration.ofSeconds(1)); // the worker stopped the node
            system.terminate();
            throw new NodeStartException(engineFailed ? "the engine could not start (see the error above)"
                    : "could not start the server on " + settings.http().host() + ":" + settings.http().port() + ": "
                    + rootMessage(e), e);
        }
    }

    /** Drains, then leaves the cluster and stops (the coordinated shutdown, run for a cluster leave). */
    private static void leave(ActorSystem<?> system) {
        CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.clusterLeavingReason());
    }

    private static Config systemConfig(NodeSettings settings, Config config) {
        long phaseMs = settings.http().drainTimeoutMs() + 5_000;
        ClusterSettings c = settings.cluster();
        return ConfigFactory.parseString("""
                pekko.loggers = ["org.apache.pekko.event.slf4j.Slf4jLogger"]
                pekko.logging-filter = "org.apache.pekko.event.slf4j.Slf4jLoggingFilter"
                pekko.loglevel = INFO
                pekko.log-dead-letters = off
                pekko.log-dead-letters-during-shutdown = off
                pekko.coordinated-shutdown.phases.before-service-unbind.timeout = %d ms
                pekko.actor.provider = cluster
                pekko.remote.artery.canonical.hostname = "%s"
                pekko.remote.artery.canonical.port = %d
                pekko.cluster.roles = %s
                pekko.cluster.seed-nodes = %s
                """.formatted(phaseMs, c.host(), c.port(), hocon(c.roles()), hocon(c.seedNodes())))
                .withFallback(config);
    }

    private static String hocon(java.util.List<String> values) {
        return com.typesafe.config.ConfigValueFactory.fromIterable(values).render(
                com.typesafe.config.ConfigRenderOptions.concise());
    }

    private static boolean terminatesWithin(ActorSystem<?> system, Duration wait) {
        try {
            system.getWhenTerminated().toCompletableFuture().get(wait.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (Exception notTerminated) {
            return false;
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }

    /**
     * Waits until the worker serves (at once on a gateway-only node); false if the node stopped first (the engine
     * failed) or time ran out.
     */
    public boolean awaitReady(Duration timeout) throws InterruptedException {
        if (parts.worker() == null) {
            return !system.getWhenTerminated().toCompletableFuture().isDone();
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (system.getWhenTerminated().toCompletableFuture().isDone()) {
                return false;
            }
            try {
                WorkerLoad l = load();
                if (l.isReady()) {
                    return true;
                }
            } catch (Exception e) {
                if (system.getWhenTerminated().toCompletableFuture().isDone()) {
                    return false;
                }
            }
            Thread.sleep(50);
        }
        return false;
    }

    /** The local worker's load (nodes with the worker role). */
    public WorkerLoad load() throws Exception {
        if (parts.worker() == null) {
            throw new IllegalStateException("this node has no worker (roles " + "gateway only)");
        }
        return AskPattern.<GpuWorker.Command, WorkerLoad>ask(parts.worker(), GpuWorker.GetLoad::new, ASK, system.scheduler())
                .toCompletableFuture().get(ASK.toSeconds(), TimeUnit.SECONDS);
    }

    /** This node's cluster address, {@code pekko://llmc@host:port} (what other nodes name as a seed). */
    public String clusterAddress() {
        return Cluster.get(system).selfMember().address().toString();
    }

    /** The HTTP server's address (gateway nodes only). */
    public InetSocketAddress address() {
        return binding.localAddress();
    }

    /** {@code http://host:port}. */
    public String baseUrl() {
        InetSocketAddress a = address();
        String host = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getHostString();
        return "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    /** The local engine's actor (worker nodes), else null. */
    public ActorRef<GpuWorker.Command> worker() {
        return parts.worker();
    }

    /** The local worker's batcher (worker nodes), else null. */
    public ActorRef<Batcher.Command> batcher() {
        return parts.batcher();
    }

    /** The KV directory replica (gateway nodes), else null. */
    public ActorRef<KvDirectory.Command> directory() {
        return parts.directory();
    }

    /** The request path (gateway nodes), else null. */
    public ActorRef<Gateway.Command> gateway() {
        return parts.gateway();
    }

    /** Whether this node has an HTTP server (the gateway role). */
    public boolean hasHttp() {
        return binding != null;
    }

    public ActorSystem<Node.Command> system() {
        return system;
    }

    public CompletionStage<Done> whenTerminated() {
        return system.getWhenTerminated();
    }

    /** Starts a graceful leave: drains (in-flight work finishes), then leaves the cluster and stops. */
    public void leave() {
        leave(system);
    }

    /** Drains, unbinds, leaves the cluster and stops (the coordinated shutdown), and waits for it. */
    @Override
    public void close() {
        CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.unknownReason()).toCompletableFuture().join();
        system.getWhenTerminated().toCompletableFuture().join();
    }
}
