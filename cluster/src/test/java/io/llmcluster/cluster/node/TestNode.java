package io.llmcluster.cluster.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.http.PausableBackend;
import io.llmcluster.http.ServedModel;
import io.llmcluster.node.NodeSettings;
import io.llmcluster.node.ServingNode;
import io.llmcluster.worker.actor.EngineFactory;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.LoadedEngine;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.model.ModelDirectory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * A cluster node for multi-node tests in one JVM: a real {@link ServingNode} on loopback (free ports) serving the
 * embedded tiny Llama on one CPU thread behind a {@link PausableBackend}, so a test can hold a worker's steps. Polls,
 * never fixed sleeps: the CI machine is a loaded 2-core box.
 */
final class TestNode implements AutoCloseable {
    static final String TOKEN = "cluster-test-token";
    static final Duration WAIT = Duration.ofSeconds(90);
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final ServingNode node;
    final String workerId;
    private final AtomicReference<PausableBackend> backend;
    private int probes;

    private TestNode(ServingNode node, String workerId, AtomicReference<PausableBackend> backend) {
        this.node = node;
        this.workerId = workerId;
        this.backend = backend;
    }

    /**
     * @param roles     HOCON list, e.g. {@code [gateway]}
     * @param seeds     HOCON list of seed addresses ({@code []}: joins itself)
     * @param overrides more HOCON lines
     */
    static TestNode start(ModelDirectory model, String workerId, String roles, String seeds, String overrides) {
        Config config = ConfigFactory.parseString(overrides).withFallback(ConfigFactory.parseString("""
                llmcluster.http.port = 0
                llmcluster.http.admin-token = "%s"
                llmcluster.http.drain-timeout = 5 s
                llmcluster.http.request-timeout = 60 s
                llmcluster.node.port = 0
                llmcluster.node.roles = %s
                llmcluster.node.seed-nodes = %s
                llmcluster.node.report-interval = 200 ms
                llmcluster.node.directory-tick = 500 ms
                llmcluster.worker.id = "%s"
                llmcluster.cpu.threads = 1
                llmcluster.cpu.kv-cache-size = 8 MiB
                """.formatted(TOKEN, roles, seeds, workerId))).withFallback(ConfigFactory.load()).resolve();
        NodeSettings s = NodeSettings.from(config);
        AtomicReference<PausableBackend> backend = new AtomicReference<>();
        EngineFactory factory = kvEvents -> {
            PausableBackend b = new PausableBackend(new CpuBackend(model, s.cpu()));
            backend.set(b);
            return new LoadedEngine(new Engine(model, b, s.engine(), kvEvents), b.describe(), s.engine(), b);
        };
        return new TestNode(ServingNode.start(s, ServedModel.of(model), factory, config), workerId, backend);
    }

    PausableBackend backend() {
        return backend.get();
    }

    String clusterAddress() {
        return node.clusterAddress();
    }

    String url(String path) {
        return node.baseUrl() + path;
    }

    void awaitReady() throws InterruptedException {
        if (!node.awaitReady(WAIT)) {
            throw new AssertionError("node " + workerId + " never became ready");
        }
    }

    /** Polls until the local worker has {@code n} sequences in flight. */
    void awaitInFlight(Predicate<Integer> done) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!done.test(node.load().inFlight())) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(workerId + ": in flight " + node.load().inFlight());
            }
            Thread.sleep(10);
        }
    }

    /** Sends one greedy request of one token straight to this node's engine actor and waits for its end. */
    void generateDirectly(int[] prompt) throws Exception {
        CompletableFuture<TokenChunk> last = new CompletableFuture<>();
        String name = "test-probe-" + (++probes);
        ActorRef<TokenChunk> chunks = node.system().systemActorOf(Behaviors.receive(TokenChunk.class)
                .onMessage(TokenChunk.class, c -> {
                    if (c.isLast()) {
                        last.complete(c);
                    }
                    return Behaviors.same();
                }).build(), name + "-chunks", Props.empty());
        node.worker().tell(new GpuWorker.Generate(List.of(new GpuWorker.SequenceSpec(prompt, SamplingParams.greedy(1), 0)),
                60_000, chunks, node.system().ignoreRef()));
        last.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    HttpResponse<String> post(String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url(path))).timeout(WAIT)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    CompletableFuture<HttpResponse<String>> postAsync(String path, String body) {
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(url(path))).timeout(WAIT)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Opens a raw connection and sends one POST (the caller reads, then closes it: a client that goes away). */
    java.net.Socket postRaw(String path, String body) throws Exception {
        URI u = URI.create(node.baseUrl());
        java.net.Socket s = new java.net.Socket(u.getHost(), u.getPort());
        s.setSoTimeout((int) WAIT.toMillis()); // a hang fails the test instead of blocking the build
        byte[] b = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.io.OutputStream out = s.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: " + u.getHost() + "\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + b.length + "\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        return s;
    }

    /** Reads from {@code in} until {@code count} SSE events have arrived; returns what was read. */
    static String readEvents(java.io.InputStream in, int count) throws Exception {
        StringBuilder seen = new StringBuilder();
        byte[] buf = new byte[4096];
        while (seen.toString().split("data: ", -1).length - 1 < count) {
            int n = in.read(buf);
            if (n < 0) {
                throw new AssertionError("the stream ended early: " + seen);
            }
            seen.append(new String(buf, 0, n, java.nio.charset.StandardCharsets.UTF_8));
        }
        return seen.toString();
    }

    /** Reads from {@code in} until {@code marker} has arrived (the connection stays open: keep-alive). */
    static String readUntil(java.io.InputStream in, String seenSoFar, String marker) throws Exception {
        StringBuilder seen = new StringBuilder(seenSoFar);
        byte[] buf = new byte[4096];
        while (!seen.toString().contains(marker)) {
            int n = in.read(buf);
            if (n < 0) {
                throw new AssertionError("the stream ended before " + marker + ": " + seen);
            }
            seen.append(new String(buf, 0, n, java.nio.charset.StandardCharsets.UTF_8));
        }
        return seen.toString();
    }

    HttpResponse<String> admin(String method, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url("/admin/" + path))).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + TOKEN).method(method, HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Polls {@code GET /admin/<what>} until {@code done} holds; fails with the last body on timeout. */
    JsonNode awaitAdmin(String what, Predicate<JsonNode> done) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        JsonNode body = null;
        while (System.nanoTime() < deadline) {
            HttpResponse<String> r = admin("GET", what);
            if (r.statusCode() != 200) {
                throw new AssertionError("/admin/" + what + ": " + r.statusCode() + " " + r.body());
            }
            body = JSON.readTree(r.body());
            if (done.test(body)) {
                return body;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("/admin/" + what + " never got there; last: " + body);
    }

    /** The report of {@code workerId} in an {@code /admin/workers} body, or null. */
    static JsonNode worker(JsonNode workers, String workerId) {
        for (JsonNode w : workers.get("workers")) {
            if (w.get("id").asText().equals(workerId)) {
                return w;
            }
        }
        return null;
    }

    @Override
    public void close() {
        PausableBackend b = backend.get();
        if (b != null) {
            b.resume();
        }
        node.close();
    }
}
