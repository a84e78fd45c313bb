package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.llmcluster.worker.engine.EngineStats;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every kind of bad input gets the right status and OpenAI's error shape, never a stack trace or a hang;
 * afterwards the server still answers and the KV pool holds no blocks.
 */
class BadInputTest {
    private static final String C = "/v1/completions";
    private static final String CHAT = "/v1/chat/completions";
    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.shared();
        server.awaitReady();
    }

    @AfterAll
    static void serverStillAnswersAndThePoolIsEmpty() throws Exception {
        HttpResponse<String> r = server.post(C, "{\"prompt\": \"still alive\", \"max_tokens\": 3}");
        assertEquals(200, r.statusCode(), r.body());
        EngineStats s = server.awaitIdle();
        assertEquals(0, s.usedBlocks(), "KV blocks in use after the bad-input suite: " + s);
        assertEquals(0, s.running());
    }

    /** Asserts the status and OpenAI's error shape; returns the error object. */
    private static JsonNode expectError(HttpResponse<String> r, int status, String code) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"), r.headers().toString());
        assertFalse(r.body().contains("\tat ") || r.body().contains("Exception"), "a stack trace leaked: " + r.body());
        JsonNode e = TestServer.json(r).get("error");
        assertTrue(e.get("message").isTextual() && !e.get("message").asText().isEmpty(), r.body());
        assertTrue(e.get("type").isTextual(), r.body());
        assertTrue(e.has("param"), r.body());
        if (code != null) {
            assertEquals(code, e.get("code").asText(), r.body());
        }
        return e;
    }

    private static JsonNode expect(String path, String body, int status, String code, String param) throws Exception {
        JsonNode e = expectError(server.post(path, body), status, code);
        if (param != null) {
            assertEquals(param, e.get("param").asText(), body);
        }
        return e;
    }

    @Test
    void shouldRejectMalformedJsonAndNonObjects() throws Exception {
        for (String body : new String[] {"", "{", "{\"prompt\": \"x\",", "{prompt: 1}", "{\"prompt\": \"x\"} trailing",
            "[1, 2]", "\"a string\"", "42", "null", "{\"prompt\": \"a\", \"prompt\": \"b\"}", "{'prompt': 'x'}"}) {
            expect(C, body, 400, "invalid_json", null);
        }
        expect(C, "[".repeat(5000) + "]".repeat(5000), 400, "invalid_json", null);
        expect(CHAT, "{\"messages\": [", 400, "invalid_json", null);
    }

    @Test
    void shouldRejectFieldsOfTheWrongType() throws Exception {
        String[][] cases = {
            {C, "{\"prompt\": 5}", "prompt"},
            {C, "{\"prompt\": {\"text\": \"x\"}}", "prompt"},
            {C, "{\"prompt\": [\"ok\", 5]}", "prompt[1]"},
            {C, "{\"prompt\": \"x\", \"max_tokens\": \"10\"}", "max_tokens"},
            {C, "{\"prompt\": \"x\", \"max_tokens\": 1.5}", "max_tokens"},
            {C, "{\"prompt\": \"x\", \"temperature\": \"hot\"}", "temperature"},
            {C, "{\"prompt\": \"x\", \"top_p\": true}", "top_p"},
            {C, "{\"prompt\": \"x\", \"stream\": \"yes\"}", "stream"},
            {C, "{\"prompt\": \"x\", \"n\": [2]}", "n"},
            {C, "{\"prompt\": \"x\", \"stop\": 5}", "stop"},
            {C, "{\"prompt\": \"x\", \"stop\": [\"a\", 1]}", "stop[1]"},
            {C, "{\"prompt\": \"x\", \"seed\": \"x\"}", "seed"},
            {C, "{\"prompt\": \"x\", \"logprobs\": true}", "logprobs"},
            {C, "{\"prompt\": \"x\", \"echo\": 1}", "echo"},
            {C, "{\"prompt\": \"x\", \"user\": 7}", "user"},
            {C, "{\"prompt\": \"x\", \"model\": 7}", "model"},
            {C, "{\"prompt\": \"x\", \"stream\": true, \"stream_options\": 1}", "stream_options"},
            {CHAT, "{\"messages\": \"hi\"}", "messages"},
            {CHAT, "{\"messages\": [5]}", "messages[0]"},
            {CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content"},
            {CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logprobs\": 3}", "logprobs"},
        };
        for (String[] c : cases) {
            expect(c[0], c[1], 400, "invalid_type", c[2]);
        }
    }

    @Test
    void shouldRejectOutOfRangeValuesNamingTheField() throws Exception {
        String[][] cases = {
            {"\"max_tokens\": -1", "max_tokens"}, {"\"max_tokens\": 0", "max_tokens"},
            {"\"max_tokens\": 99999999999999999999", "max_tokens"}, {"\"max_tokens\": 1e400", "max_tokens"},
            {"\"temperature\": NaN", "temperature"}, {"\"temperature\": -0.5", "temperature"},
            {"\"temperature\": Infinity", "temperature"}, {"\"temperature\": 2.5", "temperature"},
            {"\"top_p\": 0", "top_p"}, {"\"top_p\": 1.5", "top_p"}, {"\"top_p\": -1", "top_p"}, {"\"top_p\": NaN", "top_p"},
            {"\"top_k\": -2", "top_k"}, {"\"min_p\": 2", "min_p"}, {"\"presence_penalty\": 3", "presence_penalty"},
            {"\"frequency_penalty\": -2.5", "frequency_penalty"}, {"\"repetition_penalty\": 0", "repetition_penalty"},
            {"\"n\": 0", "n"}, {"\"n\": 1000", "n"}, {"\"logprobs\": 21", "logprobs"}, {"\"logprobs\": -1", "logprobs"},
            {"\"seed\": 1e30", "seed"}, {"\"stop\": \"\"", "stop"}, {"\"stop\": [" + "\"a\", ".repeat(20) + "\"a\"]", "stop"},
            {"\"stop_token_ids\": [-1]", "stop_token_ids[0]"}, {"\"stop_token_ids\": [100000]", "stop_token_ids[0]"},
            {"\"min_tokens\": 9, \"max_tokens\": 3", "min_tokens"}, {"\"best_of\": 0", "best_of"},
            {"\"stream_options\": {\"include_usage\": true}", "stream_options"},
        };
        for (String[] c : cases) {
            expect(C, "{\"prompt\": \"x\", " + c[0] + "}", 400, "invalid_value", c[1]);
        }
        expect(CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 30, \"logprobs\": true}",
                400, "invalid_value", "top_logprobs");
        expect(CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 2}", 400,
                "invalid_value", "top_logprobs");
    }

    @Test
    void shouldRejectPromptsLongerThanTheContextAndEmptyPrompts() throws Exception {
        int maxLen = server.node.load().maxModelLen();
        expect(C, "{\"prompt\": \"" + "word ".repeat(maxLen + 10) + "\"}", 400, "context_length_exceeded", "prompt");
        StringBuilder ids = new StringBuilder("[1");
        for (int i = 1; i < maxLen; i++) {
            ids.append(", 1");
        }
        expect(C, "{\"prompt\": " + ids + "]}", 400, "context_length_exceeded", "prompt");
        expect(C, "{\"prompt\": \"Hello\", \"max_tokens\": " + maxLen + "}", 400, "context_length_exceeded", "max_tokens");
        expect(C, "{\"prompt\": \"Hello\", \"max_tokens\": 2147483647}", 400, "context_length_exceeded", "max_tokens");
        expect(CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"" + "word ".repeat(maxLen) + "\"}]}", 400,
                "context_length_exceeded", "messages");
        expect(C, "{\"prompt\": \"\"}", 400, "invalid_value", "prompt");
        expect(C, "{\"prompt\": []}", 400, "invalid_value", "prompt");
        expect(C, "{\"prompt\": [[]]}", 400, "invalid_value", "prompt[0]");
        expect(C, "{\"prompt\": [99999]}", 400, "invalid_value", "prompt[0]");
        expect(C, "{\"prompt\": [-3]}", 400, "invalid_value", "prompt[0]");
        expect(CHAT, "{\"messages\": []}", 400, "invalid_value", "messages");
        expect(C, "{\"max_tokens\": 3}", 400, "missing_required_parameter", "prompt");
        expect(CHAT, "{\"max_tokens\": 3}", 400, "missing_required_parameter", "messages");
        expect(CHAT, "{\"messages\": [{\"content\": \"no role\"}]}", 400, "invalid_value", "messages[0].role");
    }

    @Test
    void shouldRefuseParametersItCannotHonour() throws Exception {
        String[][] cases = {
            {C, "{\"prompt\": \"x\", \"suffix\": \"end\"}", "suffix"},
            {C, "{\"prompt\": \"x\", \"logit_bias\": {\"5\": 100}}", "logit_bias"},
            {C, "{\"prompt\": \"x\", \"echo\": true, \"logprobs\": 1}", "echo"},
            {C, "{\"prompt\": \"x\", \"best_of\": 3}", "best_of"},
            {CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{\"type\": \"function\"}]}", "tools"},
            {CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"response_format\": {\"type\": \"json_object\"}}", "response_format"},
            {CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}", "messages[0].content[0]"},
        };
        for (String[] c : cases) {
            expect(c[0], c[1], 400, "unsupported_parameter", c[2]);
        }
    }

    @Test
    void shouldAnswer404ForAnUnknownModelPathOrMethodAnd405() throws Exception {
        expect(C, "{\"model\": \"gpt-4\", \"prompt\": \"x\"}", 404, "model_not_found", "model");
        expect(CHAT, "{\"model\": \"gpt-4\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", 404, "model_not_found", "model");
        expectError(server.get("/v1/engines"), 404, "not_found");
        expectError(server.get("/v1/completions"), 405, "method_not_allowed");
    }

    @Test
    void shouldAnswer413ForABodyOverTheLimitWhetherDeclaredOrStreamed() throws Exception {
        byte[] big = new byte[5 << 20];
        java.util.Arrays.fill(big, (byte) ' ');
        expectError(server.postBytes(C, big), 413, "request_too_large");
        HttpRequest chunked = HttpRequest.newBuilder(URI.create(server.url + C)).timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big))).build();
        expectError(server.client.send(chunked, HttpResponse.BodyHandlers.ofString()), 413, "request_too_large");
    }

    @Test
    void shouldRejectInvalidUtf8() throws Exception {
        byte[][] bad = {
            {(byte) 0xff, (byte) 0xfe},                 // never valid in UTF-8
            {(byte) 0xc0, (byte) 0xaf},                 // overlong '/'
            {(byte) 0x80},                              // lone continuation byte
            {(byte) 0xe2, (byte) 0x82},                 // truncated 3-byte sequence
            {(byte) 0xed, (byte) 0xa0, (byte) 0x80},    // a UTF-16 surrogate encoded in UTF-8
        };
        for (byte[] b : bad) {
            byte[] head = "{\"prompt\": \"abc ".getBytes(StandardCharsets.UTF_8);
            byte[] tail = " def\", \"max_tokens\": 2}".getBytes(StandardCharsets.UTF_8);
            byte[] body = new byte[head.length + b.length + tail.length];
            System.arraycopy(head, 0, body, 0, head.length);
            System.arraycopy(b, 0, body, head.length, b.length);
            System.arraycopy(tail, 0, body, head.length + b.length, tail.length);
            expectError(server.postBytes(C, body), 400, "invalid_json");
        }
    }

    @Test
    void shouldAnswerRandomByteBodiesWithA400() throws Exception {
        Random r = new Random(1234);
        for (int i = 0; i < 150; i++) {
            byte[] body = new byte[r.nextInt(600)];
            r.nextBytes(body);
            if (i % 3 == 0 && body.length > 0) {
                body[0] = '{'; // get past the first character now and then
            }
            expectError(server.postBytes(i % 2 == 0 ? C : CHAT, body), 400, "invalid_json");
        }
    }
}
