package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** 64 streaming clients at once: every stream completes with the text greedy decoding gives alone. */
class ConcurrentStreamingTest {
    private static final int CLIENTS = 64;
    private static final String[] PROMPTS = {"The capital of France is", "Once upon a time", "def fibonacci(n):",
        "Roses are red,"};

    private static String body(String prompt, boolean stream) throws Exception {
        return "{\"prompt\": " + Json.MAPPER.writeValueAsString(prompt) + ", \"max_tokens\": 4, \"temperature\": 0,"
                + " \"ignore_eos\": true, \"stream\": " + stream + "}";
    }

    @Test
    void shouldCompleteSixtyFourConcurrentStreamsWithTheCorrectText() throws Exception {
        TestServer server = TestServer.shared();
        server.awaitReady();
        String[] expected = new String[PROMPTS.length];
        for (int p = 0; p < PROMPTS.length; p++) {
            HttpResponse<String> r = server.post("/v1/completions", body(PROMPTS[p], false));
            assertEquals(200, r.statusCode(), r.body());
            expected[p] = TestServer.json(r).get("choices").get(0).get("text").asText();
        }
        List<CompletableFuture<HttpResponse<String>>> streams = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(server.url + "/v1/completions"))
                    .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body(PROMPTS[i % PROMPTS.length], true))).build();
            streams.add(server.client.sendAsync(req, HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < CLIENTS; i++) {
            HttpResponse<String> r = streams.get(i).get();
            assertEquals(200, r.statusCode(), r.body());
            StringBuilder text = new StringBuilder();
            String finish = null;
            for (JsonNode e : TestServer.events(r.body())) {
                JsonNode c = e.get("choices").get(0);
                text.append(c.get("text").asText());
                if (!c.get("finish_reason").isNull()) {
                    finish = c.get("finish_reason").asText();
                }
            }
            assertEquals(expected[i % PROMPTS.length], text.toString(), "client " + i);
            assertEquals("length", finish, "client " + i);
        }
        assertEquals(0, server.awaitIdle().usedBlocks());
    }
}
