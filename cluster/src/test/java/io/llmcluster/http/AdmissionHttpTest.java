package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Refusals over HTTP on a server of its own (at most 2 sequences in flight and none waiting on the worker, a
 * gateway that holds a request 500 ms for room, a 2 s request timeout, the engine's steps held by the test where
 * timing matters): 503 while loading, 429 when full, 504 after the timeout, 503 while draining.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdmissionHttpTest {
    private static final CountDownLatch START = new CountDownLatch(1);
    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start("""
                llmcluster.worker.max-in-flight = 2
                llmcluster.worker.max-queued = 0
                llmcluster.worker.retry-after = 2 s
                llmcluster.gateway.retry-after = 2 s
                llmcluster.gateway.queue-timeout = 500 ms
                llmcluster.http.request-timeout = 2 s
                """, START);
    }

    @AfterAll
    static void stop() {
        START.countDown();
        if (server != null) {
            server.close();
        }
    }

    private static JsonNode error(HttpResponse<String> r, int status, String code) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode e = TestServer.json(r).get("error");
        assertEquals(code, e.get("code").asText(), r.body());
        return e;
    }

    private static CompletableFuture<HttpResponse<String>> postAsync(String body) {
        return server.client.sendAsync(HttpRequest.newBuilder(URI.create(server.url + "/v1/completions"))
                .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static void awaitInFlight(int n) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (server.node.load().inFlight() != n) {
            assertTrue(System.nanoTime() < deadline, "in flight: " + server.node.load().inFlight() + ", expected " + n);
            Thread.sleep(5);
        }
    }

    @Test
    @Order(1)
    void shouldAnswer503UntilTheEngineHasWarmedUp() throws Exception {
        HttpResponse<String> health = server.get("/health");
        assertEquals(503, health.statusCode());
        assertEquals("starting", TestServer.json(health).get("status").asText());
        HttpResponse<String> r = server.post("/v1/completions", "{\"prompt\": \"x\"}");
        error(r, 503, "not_ready");
        assertEquals("1", r.headers().firstValue("Retry-After").orElse(""));
        START.countDown();
        server.awaitReady();
        assertEquals(200, server.get("/health").statusCode());
    }

    @Test
    @Order(2)
    void shouldAnswer429WithRetryAfterWhenTheQueueIsFull() throws Exception {
        server.backend().pause();
        CompletableFuture<HttpResponse<String>> first = postAsync("{\"prompt\": \"Hi\", \"n\": 2, \"max_tokens\": 3}");
        awaitInFlight(2);
        HttpResponse<String> full = server.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 3}");
        error(full, 429, "queue_full");
        assertEquals("2", full.headers().firstValue("Retry-After").orElse(""));
        server.backend().resume();
        assertEquals(200, first.get(30, TimeUnit.SECONDS).statusCode());
        awaitInFlight(0);
        assertEquals(200, server.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 3}").statusCode());
    }

    @Test
    @Order(3)
    void shouldCancelARequestPastTheTimeoutAndFreeItsBlocks() throws Exception {
        long cancels = server.node.load().cancels();
        server.backend().pause();
        CompletableFuture<HttpResponse<String>> whole = postAsync("{\"prompt\": \"Hi\", \"max_tokens\": 50}");
        CompletableFuture<HttpResponse<String>> streamed = postAsync("{\"prompt\": \"Ho\", \"max_tokens\": 50, \"stream\": true}");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (server.node.load().cancels() < cancels + 2) {
            assertTrue(System.nanoTime() < deadline, "the worker never timed the requests out");
            Thread.sleep(20);
        }
        server.backend().resume();
        error(whole.get(30, TimeUnit.SECONDS), 504, "timeout");
        HttpResponse<String> s = streamed.get(30, TimeUnit.SECONDS);
        assertEquals(200, s.statusCode());
        List<JsonNode> events = TestServer.events(s.body());
        assertEquals("timeout", events.getLast().get("error").get("code").asText(), s.body());
        assertEquals(0, server.awaitIdle().usedBlocks());
    }

    @Test
    @Order(4)
    void shouldDrainWith503WhileTheRequestInFlightFinishes() throws Exception {
        server.backend().pause();
        // ignore_eos: the random model may sample an EOS, and this test checks that all 3 tokens come
        CompletableFuture<HttpResponse<String>> inFlight = postAsync("{\"prompt\": \"Hi\", \"max_tokens\": 3, "
                + "\"ignore_eos\": true}");
        awaitInFlight(1);
        assertEquals(401, server.postAuthorized("/admin/drain", "wrong").statusCode());
        HttpResponse<String> drain = server.postAuthorized("/admin/drain", TestServer.ADMIN_TOKEN);
        assertEquals(202, drain.statusCode(), drain.body());
        HttpResponse<String> refused = server.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 3}");
        error(refused, 503, "draining");
        assertTrue(refused.headers().firstValue("Retry-After").isPresent());
        HttpResponse<String> health = server.get("/health");
        assertEquals(503, health.statusCode());
        assertEquals("draining", TestServer.json(health).get("status").asText());
        server.backend().resume();
        HttpResponse<String> done = inFlight.get(30, TimeUnit.SECONDS);
        assertEquals(200, done.statusCode(), done.body());
        assertEquals("length", TestServer.json(done).get("choices").get(0).get("finish_reason").asText());
    }
}
