package io.llmcluster.multijvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Nodes in separate JVMs on loopback, started as {@code bin/llmc serve} starts them: a gateway (the seed) and two
 * workers form a cluster; a fourth node joins the running cluster; a node that gets SIGTERM leaves cleanly.
 * One cluster for the class (JVM starts are the slow part on a 2-core CI box), tests in order. Every wait polls
 * the gateway's admin API with a generous deadline; no fixed sleep decides a result.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MultiJvmClusterTest {
    private static final Duration WAIT = Duration.ofSeconds(120);
    /** Settings of every node: small KV pools, one engine thread, fast reports, a short drain. */
    static final Map<String, String> COMMON = Map.of(
            "llmcluster.http.drain-timeout", "10 s",
            "llmcluster.node.report-interval", "200 ms",
            "llmcluster.node.directory-tick", "500 ms",
            "llmcluster.cpu.threads", "1",
            "llmcluster.cpu.kv-cache-size", "8 MiB",
            "pekko.cluster.split-brain-resolver.stable-after", "7 s");

    private static JvmCluster cluster;
    private static NodeProcess gateway;

    @BeforeAll
    static void startThreeNodes() throws Exception {
        cluster = new JvmCluster(Path.of("target", "multijvm-logs", "MultiJvmClusterTest"), COMMON);
        gateway = cluster.startGateway("gateway,worker", "worker-0");
        cluster.startWorker("worker-1");
        cluster.startWorker("worker-2");
    }

    @AfterAll
    static void stopAll() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    @Order(1)
    void shouldFormAClusterOfThreeNodesWithEveryWorkerRegistered() throws Exception {
        JsonNode c = cluster.awaitAdmin("cluster", x -> JvmCluster.allUp(x, 3), WAIT);
        assertEquals("pekko://llmc@127.0.0.1:" + cluster.seedPort, c.get("self").asText());
        assertTrue(c.get("members").findValuesAsText("address").contains(c.get("leader").asText()), c.toString());
        JsonNode w = cluster.awaitAdmin("workers", x -> x.get("workers").size() == 3
                && x.get("workers").findValuesAsText("state").stream().allMatch("ready"::equals), WAIT);
        assertEquals(List.of("worker-0", "worker-1", "worker-2"), JvmCluster.workerIds(w).stream().sorted().toList());
        cluster.awaitAdmin("kv", k -> k.get("per_worker").size() == 3
                && k.get("per_worker").findValuesAsText("sync").stream().allMatch("in_sync"::equals), WAIT);
    }

    @Test
    @Order(2)
    void shouldLetAFourthNodeJoinTheRunningCluster() throws Exception {
        cluster.awaitAdmin("cluster", x -> JvmCluster.allUp(x, 3), WAIT);
        NodeProcess fourth = cluster.startWorker("worker-3");
        cluster.awaitAdmin("cluster", x -> JvmCluster.allUp(x, 4), WAIT);
        cluster.awaitAdmin("workers", x -> JvmCluster.workerIds(x).contains("worker-3")
                && x.get("workers").findValuesAsText("state").stream().allMatch("ready"::equals), WAIT);
        assertTrue(fourth.isAlive());
    }

    @Test
    @Order(3)
    void shouldLeaveCleanlyOnSigterm() throws Exception {
        NodeProcess leaving = cluster.startWorker("worker-9");
        cluster.awaitAdmin("workers", x -> JvmCluster.workerIds(x).contains("worker-9"), WAIT);
        int before = cluster.admin("cluster").get("members").size();

        leaving.terminate();
        assertTrue(leaving.awaitExit(WAIT.toMillis()), "the node did not stop on SIGTERM\n" + leaving.logTail(30));
        // 143 = 128 + SIGTERM: the JVM ends that way after its shutdown hooks (the coordinated shutdown) ran
        assertTrue(leaving.exitValue() == 143 || leaving.exitValue() == 0, leaving.logTail(30));
        assertTrue(Files.readString(leaving.log).contains("Exiting completed"), leaving.logTail(30));
        // it left (removed), rather than becoming unreachable: the others stay Up and converge without it
        cluster.awaitAdmin("cluster", x -> JvmCluster.allUp(x, before - 1), WAIT);
        JsonNode kv = cluster.awaitAdmin("kv", k -> !k.get("per_worker").has("worker-9"), WAIT);
        assertTrue(kv.get("workers_removed").asLong() >= 1, kv.toString());
        assertFalse(JvmCluster.workerIds(cluster.admin("workers")).contains("worker-9"));
        assertTrue(gateway.isAlive());
    }
}
