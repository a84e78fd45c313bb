package io.llmcluster.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.llmcluster.node.NodeSettings;
import io.llmcluster.node.ServingNode;
import io.llmcluster.worker.actor.EngineFactory;
import io.llmcluster.worker.actor.LoadedEngine;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineStats;
import io.llmcluster.worker.model.ModelDirectory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A real server for tests: the embedded tiny Llama on the CPU backend (one thread, a small KV pool) behind
 * the real HTTP stack on a free port, with the engine at hand for KV-pool assertions and its backend
 * wrapped so that a test can hold the engine's steps.
 */
final class TestServer implements AutoCloseable {
    static final String ADMIN_TOKEN = "test-admin-token";
    private static TestServer shared;

    final ServingNode node;
    final ModelDirectory model;
    final String url;
    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final AtomicReference<Engine> engine;

    private final AtomicReference<PausableBackend> backend;

    private TestServer(ServingNode node, ModelDirectory model, AtomicReference<Engine> engine,
                       AtomicReference<PausableBackend> backend) {
        this.node = node;
        this.model = model;
        this.url = node.baseUrl();
        this.engine = engine;
        this.backend = backend;
    }

    /** The backend, to hold the engine's steps. */
    PausableBackend backend() {
        return backend.get();
    }

    /** One server shared by the test classes of this JVM (closed when the JVM exits). */
    static synchronized TestServer shared() throws Exception {
        if (shared == null) {
            shared = start("", new CountDownLatch(0));
            Runtime.getRuntime().addShutdownHook(new Thread(shared::close));
        }
        return shared;
    }

    /**
     * A server of its own.
     *
     * @param overrides HOCON lines over the defaults (e.g. {@code llmcluster.worker.max-in-flight = 1})
     * @param startGate the engine starts loading only once this opens
     */
    static TestServer start(String overrides, CountDownLatch startGate) throws Exception {
        Config base = ConfigFactory.parseString("""
                llmcluster.http.port = 0
                llmcluster.node.port = 0
                llmcluster.http.admin-token = "%s"
                llmcluster.http.request-timeout = 60 s
                llmcluster.http.drain-timeout = 5 s
                llmcluster.cpu.threads = 1
                llmcluster.cpu.kv-cache-size = 8 MiB
                """.formatted(ADMIN_TOKEN));
        Config config = ConfigFactory.parseString(overrides).withFallback(base).withFallback(ConfigFactory.load()).resolve();
        NodeSettings settings = NodeSettings.from(config);
        ModelDirectory model = ModelDirectory.openDefault();
        AtomicReference<Engine> engine = new AtomicReference<>();
        AtomicReference<PausableBackend> backend = new AtomicReference<>();
        EngineFactory gated = kvEvents -> {
            if (!startGate.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the test never opened the start gate");
            }
            PausableBackend b = new PausableBackend(new CpuBackend(model, settings.cpu()));
            Engine e = new Engine(model, b, settings.engine(), kvEvents);
            backend.set(b);
            engine.set(e);
            return new LoadedEngine(e, b.describe(), settings.engine(), b);
        };
        ServingNode node = ServingNode.start(settings, ServedModel.of(model), gated, config);
        return new TestServer(node, model, engine, backend);
    }

    void awaitReady() throws Exception {
        if (!node.awaitReady(Duration.ofSeconds(60))) {
            throw new IllegalStateException("the test server did not become ready");
        }
    }

    Engine engine() {
        return engine.get();
    }

    EngineStats stats() {
        return engine.get().stats();
    }

    /** Waits until the engine holds no KV blocks and runs nothing (stats are published every step or 50 ms). */
    EngineStats awaitIdle() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        EngineStats s = stats();
        while (System.nanoTime() < deadline && (s.usedBlocks() != 0 || s.running() != 0 || s.waiting() != 0)) {
            Thread.sleep(10);
            s = stats();
        }
        return s;
    }

    HttpResponse<String> post(String path, String body) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> postBytes(String path, byte[] body) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> postAuthorized(String path, String token) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + token).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(30)).GET();
        if (headers.length > 0) {
            b.headers(headers);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) throws Exception {
        return Json.MAPPER.readTree(r.body());
    }

    /** The JSON payloads of an SSE body, {@code [DONE]} excluded; fails unless the stream ends with {@code [DONE]}. */
    static List<JsonNode> events(String sse) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        boolean done = false;
        for (String block : sse.split("\n\n")) {
            if (block.isBlank()) {
                continue;
            }
            if (!block.startsWith("data: ")) {
                throw new AssertionError("not an SSE data event: " + block);
            }
            String data = block.substring(6);
            if (data.equals("[DONE]")) {
                done = true;
            } else if (done) {
                throw new AssertionError("an event after [DONE]: " + data);
            } else {
                out.add(Json.MAPPER.readTree(data));
            }
        }
        if (!done) {
            throw new AssertionError("the stream did not end with data: [DONE]:\n" + sse);
        }
        return out;
    }

    @Override
    public void close() {
        node.close();
        model.close();
    }
}
