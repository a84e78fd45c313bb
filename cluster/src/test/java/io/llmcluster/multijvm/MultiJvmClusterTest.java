package io.llmcluster.multijvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Nodes in separate JVMs on loopback, started as {@code bin/llmc serve} starts them (the embedded tiny model):
 * a gateway-only node (the seed) and two workers form a cluster; a request goes to the worker that holds its
 * prefix; a fourth node joins and gets traffic; a drained worker finishes its in-flight requests and gets no new
 * ones, then leaves on SIGTERM; a worker killed with {@code kill -9} under load: every request completes elsewhere
 * or gets a clear error within its timeout, none hangs, the directory drops the worker within 10 s.
 *
 * <p>One cluster for the class (JVM starts are the slow part on a 2-core CI box), tests in order, each building
 * on the cluster the previous one left. Every wait polls with a generous deadline; no fixed sleep decides a result.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MultiJvmClusterTest {
    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);
    /** Settings of every node: small KV pools, one engine thread, fast reports, a short drain. */
    static final Map<String, String> COMMON = Map.of(
            "llmcluster.http.drain-timeout", "10 s",
            "llmcluster.node.report-interval", "200 ms",
            "llmcluster.node.directory-tick", "500 ms",
            "llmcluster.cpu.threads", "1",
            "llmcluster.cpu.kv-cache-size", "8 MiB",
            "pekko.cluster.split-brain-resolver.stable-after", "7 s");

    private static JvmCluster cluster;
    private static Completions completions;
    private static NodeProcess gateway;
    private static final Map<String, NodeProcess> workers = new ConcurrentHashMap<>();
    /** The worker drained by the drain test (it no longer takes work), if that test ran. */
    private static String drained;

    @BeforeAll
    static void startThreeNodes() throws Exception {
        cluster = new JvmCluster(Path.of("target", "multijvm-logs", "MultiJvmClusterTest"), COMMON);
        completions = new Completions(cluster.http, cluster.baseUrl());
        gateway = cluster.startGateway("gateway", "gateway-unused");
        workers.put("worker-1", cluster.startWorker("worker-1"));
        workers.put("worker-2", cluster.startWorker("worker-2"));
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
        JsonNode w = awaitWorkersReady(2);
        assertEquals(List.of("worker-1", "worker-2"), JvmCluster.workerIds(w).stream().sorted().toList());
        cluster.awaitAdmin("kv", k -> k.get("per_worker").size() == 2
                && k.get("per_worker").findValuesAsText("sync").stream().allMatch("in_sync"::equals), WAIT);
    }

    @Test
    @Order(2)
    void shouldRouteASharedPrefixToTheWorkerThatHoldsIt() throws Exception {
        awaitWorkersReady(2);
        awaitIdle();
        java.util.Map<String, Long> stepsBefore = stepsOf(cluster.admin("workers"));
        // about 200 tokens (the tiny model's context is 256): the holder saves most of the prefill
        String system = "You are a terse assistant for the shipping team. " + words(7, 38);
        Completions.Outcome first = completions.stream(system + "\nQ: where is order 1?", 4, REQUEST_TIMEOUT, null);
        assertTrue(first.completed(4), first.toString());
        String holder = first.worker();
        assertTrue(workers.containsKey(holder), "no x-llmc-worker header naming a worker: " + first);
        cluster.awaitAdmin("kv", k -> k.at("/per_worker/" + holder + "/blocks").asInt() >= 4, WAIT);

        // The router prices each worker with the prefill rate it measured over its recent steps; on a loaded 2-core
        // box one descheduled step can make the holder's rate look several times lower for a moment, and then the
        // idle non-holder is (rightly, by those numbers) cheaper. So: most follow-ups (4 of 6; a coin would give 3), not all, must go to the holder.
        List<String> servedBy = new ArrayList<>();
        List<String> views = new ArrayList<>();
        Completions.Outcome last = first;
        for (int i = 2; i <= 7; i++) {
            // The router must price the last server by a report taken after its request: one idle report is not
            // enough (a request can start and end within one report interval, leaving the idle report from before
            // it, and the reservation the gateway added for it, in place), so wait for more steps than it had.
            awaitIdleAfter(last.worker(), stepsBefore);
            JsonNode view = cluster.admin("workers");
            views.add(rates(view));
            stepsBefore = stepsOf(view);
            Completions.Outcome o = completions.stream(system + "\nQ: where is order " + i + "?", 4, REQUEST_TIMEOUT, null);
            assertTrue(o.completed(4), o.toString());
            servedBy.add(o.worker());
            last = o;
        }
        long atHolder = servedBy.stream().filter(holder::equals).count();
        assertTrue(atHolder >= 4, "follow-ups served by " + servedBy + ", the prefix holder is " + holder
                + "; workers before each: " + views);
        JsonNode w = cluster.admin("workers");
        for (JsonNode x : w.get("workers")) {
            if (x.get("id").asText().equals(holder)) {
                assertTrue(x.get("prefix_hit_rate").asDouble() > 0, x.toString());
            }
        }
    }

    @Test
    @Order(3)
    void shouldLetAFourthNodeJoinAndGiveItTraffic() throws Exception {
        cluster.awaitAdmin("cluster", x -> JvmCluster.allUp(x, 3), WAIT);
        workers.put("worker-3", cluster.startWorker("worker-3"));
        cluster.awaitAdmin("cluster", x -> JvmCluster.allUp(x, 4), WAIT);
        awaitWorkersReady(3);

        // bursts of fresh prompts spread over the idle workers; the new one must get some
        long deadline = System.nanoTime() + WAIT.toNanos();
        Map<String, Integer> served = new HashMap<>();
        for (int round = 0; !served.containsKey("worker-3"); round++) {
            assertTrue(System.nanoTime() < deadline, "worker-3 got no request; served: " + served);
            for (Completions.Outcome o : burst(6, round * 100, 8)) {
                assertTrue(o.completed(8), o.toString());
                served.merge(o.worker(), 1, Integer::sum);
            }
        }
    }

    @Test
    @Order(4)
    void shouldFinishInFlightWorkWhenAWorkerIsDrainedThenLeave() throws Exception {
        awaitWorkersReady(workers.size());
        int maxTokens = 200;
        List<CompletableFuture<String>> started = new ArrayList<>();
        List<Future<Completions.Outcome>> running = new ArrayList<>();
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        try {
            for (int i = 0; i < 8; i++) {
                CompletableFuture<String> s = new CompletableFuture<>();
                started.add(s);
                String prompt = "drain " + i + ": " + words(1000 + i, 6);
                running.add(pool.submit(() -> completions.stream(prompt, maxTokens, REQUEST_TIMEOUT, s)));
            }
            CompletableFuture.allOf(started.toArray(CompletableFuture[]::new)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            Map<String, Long> perWorker = started.stream().map(CompletableFuture::join).filter(workers::containsKey)
                    .collect(Collectors.groupingBy(w -> w, Collectors.counting()));
            String victim = perWorker.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();

            HttpResponse<String> r = cluster.adminPost("workers/" + victim + "/drain");
            assertTrue(r.statusCode() == 200 || r.statusCode() == 202, r.statusCode() + " " + r.body());
            drained = victim;
            for (Future<Completions.Outcome> f : running) {
                Completions.Outcome o = f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertTrue(o.completed(maxTokens), "an in-flight request did not finish after the drain: " + o);
            }
        } finally {
            pool.shutdownNow();
        }
        cluster.awaitAdmin("workers", x -> draining(x, drained), WAIT);
        for (Completions.Outcome o : burst(4, 500, 4)) {
            assertTrue(o.completed(4), o.toString());
            assertNotEquals(drained, o.worker(), "a drained worker got new work");
        }

        // the drained node then stops on SIGTERM and leaves the cluster cleanly
        NodeProcess node = workers.remove(drained);
        int members = cluster.admin("cluster").get("members").size();
        node.terminate();
        assertTrue(node.awaitExit(WAIT.toMillis()), "the node did not stop on SIGTERM\n" + node.logTail(30));
        // 143 = 128 + SIGTERM: the JVM ends that way after its shutdown hooks (the coordinated shutdown) ran
        assertTrue(node.exitValue() == 143 || node.exitValue() == 0, node.logTail(30));
        assertTrue(Files.readString(node.log).contains("Exiting completed"), node.logTail(30));
        cluster.awaitAdmin("cluster", x -> JvmCluster.allUp(x, members - 1), WAIT);
        JsonNode kv = cluster.awaitAdmin("kv", k -> !k.get("per_worker").has(drained), WAIT);
        assertTrue(kv.get("workers_removed").asLong() >= 1, kv.toString());
    }

    @Test
    @Order(5)
    void shouldCompleteOrFailClearlyEveryRequestWhenAWorkerIsKilledUnderLoad() throws Exception {
        awaitWorkersReady(workers.size());
        assertTrue(workers.size() >= 2, "needs two workers: " + workers.keySet());
        int maxTokens = 48;
        ConcurrentLinkedQueue<Completions.Outcome> outcomes = new ConcurrentLinkedQueue<>();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger seq = new AtomicInteger();
        CompletableFuture<String> victimBusy = new CompletableFuture<>();
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<?>> clients = new ArrayList<>();
        for (int c = 0; c < 6; c++) {
            clients.add(pool.submit(() -> {
                while (!stop.get()) {
                    int i = seq.incrementAndGet();
                    CompletableFuture<String> s = new CompletableFuture<>();
                    s.thenAccept(w -> {
                        if (w != null && workers.containsKey(w) && !w.equals(victimBusy.getNow(null))) {
                            victimBusy.complete(w);
                        }
                    });
                    outcomes.add(completions.stream("load " + i + ": " + words(2000 + i, 10), maxTokens, REQUEST_TIMEOUT, s));
                }
                return null;
            }));
        }
        String victim;
        long killedNs;
        try {
            victim = victimBusy.get(WAIT.toSeconds(), TimeUnit.SECONDS); // a worker with a request in flight
            NodeProcess node = workers.remove(victim);
            killedNs = System.nanoTime();
            node.kill9();
            assertFalse(node.isAlive());

            cluster.awaitAdmin("kv", k -> !k.get("per_worker").has(victim), WAIT);
            long dropMs = (System.nanoTime() - killedNs) / 1_000_000;
            assertTrue(dropMs <= 10_000, "the directory dropped " + victim + " after " + dropMs + " ms");
            System.err.printf("[multijvm] the directory dropped %s %d ms after kill -9%n", victim, dropMs);
            // keep the load on until a request that started after the drop has completed elsewhere
            int seen = seq.get();
            awaitCondition(() -> outcomes.stream().filter(o -> o.completed(maxTokens)).count() > seen + 6, WAIT);
        } finally {
            stop.set(true);
        }
        for (Future<?> f : clients) {
            f.get(REQUEST_TIMEOUT.toSeconds() + 30, TimeUnit.SECONDS); // each client's last request ends in time
        }
        pool.shutdownNow();

        List<Completions.Outcome> bad = outcomes.stream().filter(o -> !o.completed(maxTokens) && !o.clearError()).toList();
        assertTrue(bad.isEmpty(), "requests that neither completed nor failed clearly: " + bad);
        assertTrue(outcomes.stream().noneMatch(Completions.Outcome::timedOut));
        long afterKillOk = outcomes.stream().filter(o -> o.completed(maxTokens) && !victim.equals(o.worker())).count();
        assertTrue(afterKillOk > 0, "nothing completed elsewhere");
        System.err.printf("[multijvm] kill -9 %s: %d requests, %d completed, %d clear errors, none hung%n", victim,
                outcomes.size(), outcomes.stream().filter(o -> o.completed(maxTokens)).count(),
                outcomes.stream().filter(Completions.Outcome::clearError).count());
        assertTrue(gateway.isAlive(), gateway.logTail(30));
    }

    /** {@code n} concurrent streamed requests with fresh prompts; their outcomes. */
    private static List<Completions.Outcome> burst(int n, int seed, int maxTokens) throws Exception {
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Completions.Outcome>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String prompt = "burst " + (seed + i) + ": " + words(seed + i, 12);
                fs.add(pool.submit(() -> completions.stream(prompt, maxTokens, REQUEST_TIMEOUT, null)));
            }
            List<Completions.Outcome> out = new ArrayList<>();
            for (Future<Completions.Outcome> f : fs) {
                out.add(f.get(WAIT.toSeconds(), TimeUnit.SECONDS));
            }
            return out;
        }
    }

    private static JsonNode awaitWorkersReady(int n) throws InterruptedException {
        return cluster.awaitAdmin("workers", x -> {
            List<String> ids = JvmCluster.workerIds(x);
            return ids.size() == n && x.get("workers").findValuesAsText("state").stream().allMatch("ready"::equals);
        }, WAIT);
    }

    /** Waits until every worker's latest load report shows nothing in flight. */
    /** Each worker's measured rates as the gateway saw them (the router's prices), for a failure message. */
    private static String rates(JsonNode workersView) {
        StringBuilder b = new StringBuilder("{");
        for (JsonNode w : workersView.get("workers")) {
            b.append(w.get("id").asText()).append(": prefill ").append(w.path("prefill_tokens_per_second").asText())
                    .append(" decode ").append(w.path("decode_tokens_per_second").asText()).append("; ");
        }
        return b.append('}').toString();
    }

    /** Steps of every worker in a workers view. */
    private static java.util.Map<String, Long> stepsOf(JsonNode workersView) {
        java.util.Map<String, Long> m = new java.util.HashMap<>();
        for (JsonNode w : workersView.get("workers")) {
            m.put(w.get("id").asText(), w.get("steps").asLong());
        }
        return m;
    }

    private static long steps(JsonNode workersView, String id) {
        for (JsonNode w : workersView.get("workers")) {
            if (w.get("id").asText().equals(id)) {
                return w.get("steps").asLong();
            }
        }
        return -1;
    }

    /** Idle everywhere, by a report of {@code worker} with more steps than {@code before} held for it. */
    private static void awaitIdleAfter(String worker, java.util.Map<String, Long> before) throws InterruptedException {
        long had = before.getOrDefault(worker, -1L);
        cluster.awaitAdmin("workers", x -> idle(x) && steps(x, worker) > had, WAIT);
    }

    private static boolean idle(JsonNode workersView) {
        for (JsonNode w : workersView.get("workers")) {
            if (w.get("in_flight").asInt() + w.get("running").asInt() + w.get("waiting").asInt() > 0) {
                return false;
            }
        }
        return true;
    }

    private static void awaitIdle() throws InterruptedException {
        cluster.awaitAdmin("workers", x -> {
            for (JsonNode w : x.get("workers")) {
                if (w.get("in_flight").asInt() + w.get("running").asInt() + w.get("waiting").asInt() > 0) {
                    return false;
                }
            }
            return true;
        }, WAIT);
    }

    private static boolean draining(JsonNode workersView, String id) {
        for (JsonNode x : workersView.get("workers")) {
            if (x.get("id").asText().equals(id)) {
                return x.get("draining").asBoolean();
            }
        }
        return false;
    }

    private static void awaitCondition(java.util.function.BooleanSupplier done, Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "condition not met within " + wait.toSeconds() + " s\n" + cluster.logTails());
            Thread.sleep(100);
        }
    }

    /** {@code n} words drawn from a small vocabulary with {@code seed}: distinct prompts of a known length. */
    private static String words(long seed, int n) {
        String[] vocab = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
            "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"};
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append(i == 0 ? "" : " ").append(vocab[r.nextInt(vocab.length)]);
        }
        return b.toString();
    }
}
