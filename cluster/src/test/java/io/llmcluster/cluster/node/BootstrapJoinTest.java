package io.llmcluster.cluster.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.llmcluster.http.ServedModel;
import io.llmcluster.node.BackendEngineFactory;
import io.llmcluster.node.NodeSettings;
import io.llmcluster.node.ServingNode;
import io.llmcluster.worker.model.ModelDirectory;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code llmcluster.node.join = bootstrap} (what deploy/k8s runs) on loopback, with Pekko's {@code config}
 * discovery standing in for the Kubernetes API: two nodes without seed nodes find each other's management
 * endpoints, one forms the cluster and the other joins; each endpoint answers {@code /health} (Up member, engine
 * ready) and {@code /alive}. Also the clear errors of a wrong {@code join} setting.
 */
class BootstrapJoinTest {
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static ModelDirectory model;
    private static ServingNode a;
    private static ServingNode b;
    private static int portA;
    private static int portB;

    @BeforeAll
    static void start() throws Exception {
        model = ModelDirectory.openDefault();
        portA = freePort();
        portB = freePort();
        a = node("boot-a", "[gateway, worker]", portA);
        b = node("boot-b", "[worker]", portB);
    }

    @AfterAll
    static void stop() {
        if (b != null) {
            b.close();
        }
        if (a != null) {
            a.close();
        }
        if (model != null) {
            model.close();
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static Config config(String workerId, String roles, int managementPort, String seeds, String join) {
        return ConfigFactory.parseString("""
                llmcluster.http.port = 0
                llmcluster.http.drain-timeout = 5 s
                llmcluster.node.port = 0
                llmcluster.node.roles = %s
                llmcluster.node.seed-nodes = %s
                llmcluster.node.join = %s
                llmcluster.worker.id = "%s"
                llmcluster.cpu.threads = 1
                llmcluster.cpu.kv-cache-size = 8 MiB
                pekko.management.http.hostname = "127.0.0.1"
                pekko.management.http.port = %d
                pekko.management.cluster.bootstrap.contact-point-discovery {
                  discovery-method = config
                  stable-margin = 1 s
                }
                pekko.discovery.config.services.llmc.endpoints = [
                  { host = "127.0.0.1", port = %d }, { host = "127.0.0.1", port = %d } ]
                """.formatted(roles, seeds, join, workerId, managementPort, portA, portB))
                .withFallback(ConfigFactory.load()).resolve();
    }

    private static ServingNode node(String workerId, String roles, int managementPort) {
        Config c = config(workerId, roles, managementPort, "[]", "bootstrap");
        NodeSettings s = NodeSettings.from(c);
        return ServingNode.start(s, ServedModel.of(model), BackendEngineFactory.cpu(model, s.cpu(), s.engine()), c);
    }

    @Test
    void shouldFormOneClusterWithoutSeedNodesAndAnswerTheProbes() throws Exception {
        assertTrue(a.awaitReady(WAIT) && b.awaitReady(WAIT), "an engine never started");
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!(upMembers(a) == 2 && upMembers(b) == 2)) {
            assertTrue(System.nanoTime() < deadline, "no cluster of two: " + Cluster.get(a.system()).state());
            Thread.sleep(100);
        }
        for (int port : new int[] {portA, portB}) {
            assertEquals(200, awaitStatus(port, "/health", 200), "/health on " + port);
            assertEquals(200, get(port, "/alive").statusCode(), "/alive on " + port);
        }
    }

    @Test
    void shouldRefuseBootstrapWithSeedNodesAndAnUnknownJoinMethod() {
        Config seeds = config("boot-x", "[worker]", 0, "[\"pekko://llmc@127.0.0.1:1\"]", "bootstrap");
        NodeSettings s = NodeSettings.from(seeds);
        var e = assertThrows(IllegalArgumentException.class, () -> ServingNode.start(s, ServedModel.of(model),
                BackendEngineFactory.cpu(model, s.cpu(), s.engine()), seeds));
        assertTrue(e.getMessage().contains("leave llmcluster.node.seed-nodes empty"), e.getMessage());

        Config unknown = config("boot-y", "[worker]", 0, "[]", "gossip");
        NodeSettings u = NodeSettings.from(unknown);
        var e2 = assertThrows(IllegalArgumentException.class, () -> ServingNode.start(u, ServedModel.of(model),
                BackendEngineFactory.cpu(model, u.cpu(), u.engine()), unknown));
        assertEquals("llmcluster.node.join must be seed-nodes or bootstrap, got gossip", e2.getMessage());
    }

    private static long upMembers(ServingNode n) {
        var state = Cluster.get(n.system()).state();
        return java.util.stream.StreamSupport.stream(state.getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).count();
    }

    /** Polls until {@code path} answers {@code want} (the check may lag membership by a moment); the last status. */
    private static int awaitStatus(int port, String path, int want) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        int status;
        do {
            status = get(port, path).statusCode();
            if (status == want) {
                return status;
            }
            Thread.sleep(100);
        } while (System.nanoTime() < deadline);
        return status;
    }

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
