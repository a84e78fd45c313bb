package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.http.HttpResponse;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A gateway + worker node whose worker has published no load report yet (the report interval is an hour, and the
 * worker's start-up ask came before its engine was ready): the router knows no worker, so the node serves locally.
 */
class LocalFallbackTest {
    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start("llmcluster.node.report-interval = 1 h", new CountDownLatch(0));
        server.awaitReady();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void shouldServeLocallyBeforeAnyWorkerHasReported() throws Exception {
        HttpResponse<String> workers = server.get("/admin/workers", "Authorization", "Bearer " + TestServer.ADMIN_TOKEN);
        assertEquals("[]", TestServer.json(workers).get("workers").toString(), "a report arrived already");
        HttpResponse<String> r = server.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 3}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("gpu-worker-0", r.headers().firstValue("x-llmc-worker").orElse(""));
        assertEquals(3, TestServer.json(r).at("/usage/completion_tokens").asInt());
    }
}
