package io.llmcluster.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A cluster of {@link NodeProcess}es on loopback for the separate-JVM tests: a seed node with the gateway role
 * on fixed free ports, workers that join it (cluster port 0), the gateway's admin API polled for conditions.
 * {@link #close} ends every process, also when the test JVM itself exits early (a shutdown hook).
 */
final class JvmCluster implements AutoCloseable {
    static final String TOKEN = "multi-jvm-token";
    private static final ObjectMapper JSON = new ObjectMapper();

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    final int httpPort;
    final int seedPort;
    final Path logDir;
    private final List<NodeProcess> nodes = new ArrayList<>();
    private final Map<String, String> common;
    private final Thread hook = new Thread(this::closeAll, "jvm-cluster-cleanup");

    /** @param common settings every node gets (llmcluster.*, pekko.*) on top of the ones this class sets */
    JvmCluster(Path logDir, Map<String, String> common) throws IOException {
        this.logDir = logDir;
        this.common = common;
        this.httpPort = freePort();
        this.seedPort = freePort();
        Runtime.getRuntime().addShutdownHook(hook);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    String baseUrl() {
        return "http://127.0.0.1:" + httpPort;
    }

    /** The seed node: {@code roles} (comma-separated, with gateway), HTTP on {@link #httpPort}. */
    NodeProcess startGateway(String roles, String workerId) throws IOException {
        return start("gateway", roles, seedPort, workerId, httpPort);
    }

    NodeProcess startWorker(String workerId) throws IOException {
        return start(workerId, "worker", 0, workerId, 0);
    }

    private NodeProcess start(String name, String roles, int clusterPort, String workerId, int port) throws IOException {
        Map<String, String> s = new LinkedHashMap<>(common);
        String[] r = roles.split(",");
        for (int i = 0; i < r.length; i++) {
            s.put("llmcluster.node.roles." + i, r[i].trim());
        }
        s.put("llmcluster.node.host", "127.0.0.1");
        s.put("llmcluster.node.port", Integer.toString(clusterPort));
        s.put("llmcluster.node.seed-nodes.0", "pekko://llmc@127.0.0.1:" + seedPort);
        s.put("llmcluster.worker.id", workerId);
        s.put("llmcluster.http.port", Integer.toString(port));
        s.put("llmcluster.http.host", "127.0.0.1");
        s.put("llmcluster.http.admin-token", TOKEN);
        NodeProcess p = NodeProcess.start(name, s, logDir);
        synchronized (nodes) {
            nodes.add(p);
        }
        return p;
    }

    /** {@code GET /admin/<what>} on the gateway, parsed; throws on a non-200 answer. */
    JsonNode admin(String what) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(baseUrl() + "/admin/" + what))
                .header("Authorization", "Bearer " + TOKEN).timeout(Duration.ofSeconds(20)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException("/admin/" + what + ": " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body());
    }

    /** {@code POST /admin/<what>} on the gateway with an empty body; the response. */
    HttpResponse<String> adminPost(String what) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(baseUrl() + "/admin/" + what))
                .header("Authorization", "Bearer " + TOKEN).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * Polls {@code GET /admin/<what>} until {@code done} holds (connection errors count as "not yet": the gateway
     * may still be starting). Fails with the last body and every node's log tail when time runs out, or at once
     * when a node died that should not have.
     */
    JsonNode awaitAdmin(String what, Predicate<JsonNode> done, Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        Object last = null;
        while (System.nanoTime() < deadline) {
            try {
                JsonNode body = admin(what);
                if (done.test(body)) {
                    return body;
                }
                last = body;
            } catch (IOException e) {
                last = e.toString();
            }
            Thread.sleep(200);
        }
        throw new AssertionError("/admin/" + what + " never got there in " + wait.toSeconds() + " s; last: " + last
                + "\n" + logTails());
    }

    /** Every member is Up and reachable, and there are {@code n} of them. */
    static boolean allUp(JsonNode cluster, int n) {
        JsonNode m = cluster.get("members");
        if (m.size() != n) {
            return false;
        }
        for (JsonNode x : m) {
            if (!x.get("status").asText().equals("up") || !x.get("reachable").asBoolean()) {
                return false;
            }
        }
        return true;
    }

    /** The worker ids the gateway lists in /admin/workers. */
    static List<String> workerIds(JsonNode workers) {
        List<String> ids = new ArrayList<>();
        workers.get("workers").forEach(w -> ids.add(w.get("id").asText()));
        return ids;
    }

    String logTails() {
        StringBuilder b = new StringBuilder();
        synchronized (nodes) {
            for (NodeProcess p : nodes) {
                b.append(p.logTail(15)).append('\n');
            }
        }
        return b.toString();
    }

    private void closeAll() {
        List<NodeProcess> copy;
        synchronized (nodes) {
            copy = new ArrayList<>(nodes);
        }
        // workers first, the seed last; in parallel, so a slow drain does not add up
        List<Thread> stoppers = new ArrayList<>();
        for (int i = copy.size() - 1; i >= 0; i--) {
            NodeProcess p = copy.get(i);
            Thread t = Thread.ofPlatform().start(p::close);
            stoppers.add(t);
        }
        for (Thread t : stoppers) {
            try {
                t.join(40_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void close() {
        closeAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running or has run: nothing left to do
        }
    }
}
