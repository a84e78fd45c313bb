package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The OpenAI-compatible endpoints end to end over real HTTP on the tiny Llama. */
class OpenAiApiTest {
    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.shared();
        server.awaitReady();
    }

    private static JsonNode ok(HttpResponse<String> r) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        return TestServer.json(r);
    }

    private static JsonNode complete(String body) throws Exception {
        return ok(server.post("/v1/completions", body));
    }

    /** Re-assembles a stream: text per choice index, finish reasons, the usage chunk if any. */
    private record Streamed(Map<Integer, String> text, Map<Integer, String> finish, JsonNode usage) {}

    private static Streamed stream(String path, String body, boolean chat) throws Exception {
        HttpResponse<String> r = server.post(path, body);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        Map<Integer, String> text = new HashMap<>();
        Map<Integer, String> finish = new HashMap<>();
        JsonNode usage = null;
        for (JsonNode e : TestServer.events(r.body())) {
            assertFalse(e.has("error"), e.toString());
            if (e.path("usage").isObject()) {
                usage = e.get("usage");
            }
            for (JsonNode c : e.get("choices")) {
                int i = c.get("index").asInt();
                String piece = chat ? c.path("delta").path("content").asText("") : c.get("text").asText();
                text.merge(i, piece, String::concat);
                if (!c.get("finish_reason").isNull()) {
                    assertFalse(finish.containsKey(i), "one finish per choice");
                    finish.put(i, c.get("finish_reason").asText());
                }
            }
        }
        return new Streamed(text, finish, usage);
    }

    @Test
    void shouldCompleteAPromptWithUsageAndFinishReason() throws Exception {
        JsonNode r = complete("{\"model\": \"tiny-llama\", \"prompt\": \"The capital of France is\", \"max_tokens\": 5, \"temperature\": 0}");
        assertEquals("text_completion", r.get("object").asText());
        assertTrue(r.get("id").asText().startsWith("cmpl-"));
        assertEquals("tiny-llama", r.get("model").asText());
        JsonNode choice = r.get("choices").get(0);
        assertEquals("length", choice.get("finish_reason").asText());
        assertFalse(choice.get("text").asText().isEmpty());
        int promptTokens = server.model.tokenizer().encode("The capital of France is").length;
        JsonNode usage = r.get("usage");
        assertEquals(promptTokens, usage.get("prompt_tokens").asInt());
        assertEquals(5, usage.get("completion_tokens").asInt());
        assertEquals(promptTokens + 5, usage.get("total_tokens").asInt());
    }

    @Test
    void shouldAnswerAChatThroughTheModelsChatTemplate() throws Exception {
        String messages = "[{\"role\": \"system\", \"content\": \"You are a terse assistant.\"},"
                + " {\"role\": \"user\", \"content\": \"What is 2+2? Answer in one word.\"}]";
        JsonNode r = ok(server.post("/v1/chat/completions", "{\"messages\": " + messages + ", \"max_tokens\": 4, \"temperature\": 0, \"ignore_eos\": true}"));
        assertEquals("chat.completion", r.get("object").asText());
        assertTrue(r.get("id").asText().startsWith("chatcmpl-"));
        JsonNode choice = r.get("choices").get(0);
        assertEquals("assistant", choice.get("message").get("role").asText());
        assertEquals("length", choice.get("finish_reason").asText());
        // the rendered conversation as transformers' apply_chat_template makes it: 65 tokens (records/tiny-llama.json)
        assertEquals(65, r.get("usage").get("prompt_tokens").asInt());
        assertEquals(4, r.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void shouldStreamChunksThatReassembleToTheNonStreamedTextUnderGreedy() throws Exception {
        String params = "\"max_tokens\": 12, \"temperature\": 0, \"ignore_eos\": true";
        String whole = complete("{\"prompt\": \"Once upon a time\", " + params + "}").get("choices").get(0).get("text").asText();
        Streamed s = stream("/v1/completions", "{\"prompt\": \"Once upon a time\", \"stream\": true, "
                + "\"stream_options\": {\"include_usage\": true}, " + params + "}", false);
        assertEquals(whole, s.text().get(0));
        assertEquals("length", s.finish().get(0));
        assertEquals(12, s.usage().get("completion_tokens").asInt());

        String chatBody = "\"messages\": [{\"role\": \"user\", \"content\": \"Say hi.\"}], " + params;
        String chatWhole = ok(server.post("/v1/chat/completions", "{" + chatBody + "}"))
                .get("choices").get(0).get("message").get("content").asText();
        Streamed chat = stream("/v1/chat/completions", "{\"stream\": true, " + chatBody + "}", true);
        assertEquals(chatWhole, chat.text().get(0));
        assertEquals(null, chat.usage(), "no usage chunk unless asked for");
    }

    @Test
    void shouldReturnNChoicesSeededSeedPlusI() throws Exception {
        String body = "{\"prompt\": \"Hello\", \"max_tokens\": 8, \"n\": 2, \"temperature\": 1.0, \"seed\": 42, \"ignore_eos\": true}";
        JsonNode r = complete(body);
        assertEquals(2, r.get("choices").size());
        assertEquals(0, r.get("choices").get(0).get("index").asInt());
        assertEquals(1, r.get("choices").get(1).get("index").asInt());
        assertEquals(16, r.get("usage").get("completion_tokens").asInt());
        assertEquals(server.model.tokenizer().encode("Hello").length, r.get("usage").get("prompt_tokens").asInt(),
                "the prompt counts once");
        // choice i draws with seed + i: the same request gives the same choices, and choice 1 of seed 42 is choice 0 of seed 43
        JsonNode again = complete(body);
        assertEquals(r.get("choices"), again.get("choices"));
        JsonNode seed43 = complete(body.replace("\"n\": 2", "\"n\": 1").replace("42", "43"));
        assertEquals(r.get("choices").get(1).get("text"), seed43.get("choices").get(0).get("text"));
        assertNotEquals(r.get("choices").get(0).get("text"), r.get("choices").get(1).get("text"));

        Streamed s = stream("/v1/completions", body.replace("{", "{\"stream\": true, "), false);
        assertEquals(r.get("choices").get(0).get("text").asText(), s.text().get(0));
        assertEquals(r.get("choices").get(1).get("text").asText(), s.text().get(1));
    }

    @Test
    void shouldStopAtAStopStringAndLeaveItOut() throws Exception {
        String params = "\"prompt\": \"The capital of France is\", \"max_tokens\": 24, \"temperature\": 0, \"ignore_eos\": true";
        String full = complete("{" + params + "}").get("choices").get(0).get("text").asText();
        String stop = full.substring(6, 8); // a piece of what greedy decoding writes anyway
        int at = full.indexOf(stop);
        for (String stopField : List.of("\"" + Json.MAPPER.writeValueAsString(stop).replace("\"", "") + "\"",
                "[\"never-there\", " + Json.MAPPER.writeValueAsString(stop) + "]")) {
            JsonNode r = complete("{" + params + ", \"stop\": " + stopField + "}");
            JsonNode choice = r.get("choices").get(0);
            assertEquals(full.substring(0, at), choice.get("text").asText());
            assertEquals("stop", choice.get("finish_reason").asText());
        }
        Streamed s = stream("/v1/completions", "{\"stream\": true, " + params + ", \"stop\": "
                + Json.MAPPER.writeValueAsString(stop) + "}", false);
        assertEquals(full.substring(0, at), s.text().get(0));
        assertEquals("stop", s.finish().get(0));
    }

    @Test
    void shouldReturnLogprobsInTheCompletionsAndChatForms() throws Exception {
        JsonNode c = complete("{\"prompt\": \"Hi\", \"max_tokens\": 4, \"temperature\": 0, \"logprobs\": 3, \"ignore_eos\": true}")
                .get("choices").get(0);
        JsonNode lp = c.get("logprobs");
        assertEquals(4, lp.get("tokens").size());
        assertEquals(4, lp.get("token_logprobs").size());
        assertEquals(4, lp.get("top_logprobs").size());
        assertEquals(4, lp.get("text_offset").size());
        for (int i = 0; i < 4; i++) {
            double chosen = lp.get("token_logprobs").get(i).asDouble();
            assertTrue(chosen <= 0);
            JsonNode top = lp.get("top_logprobs").get(i);
            assertTrue(top.size() >= 1 && top.size() <= 3);
            double best = top.properties().stream().mapToDouble(e -> e.getValue().asDouble()).max().orElseThrow();
            assertEquals(best, chosen, 1e-6, "greedy picks the most likely token");
        }
        assertEquals(String.join("", Json.MAPPER.convertValue(lp.get("tokens"), String[].class)), c.get("text").asText());

        JsonNode chat = ok(server.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}],"
                + " \"max_tokens\": 3, \"temperature\": 0, \"logprobs\": true, \"top_logprobs\": 2, \"ignore_eos\": true}"))
                .get("choices").get(0).get("logprobs").get("content");
        assertEquals(3, chat.size());
        for (JsonNode t : chat) {
            assertTrue(t.get("token").isTextual());
            assertTrue(t.get("logprob").asDouble() <= 0);
            assertTrue(t.get("bytes").isArray());
            assertEquals(2, t.get("top_logprobs").size());
            assertEquals(t.get("top_logprobs").get(0).get("logprob").asDouble(), t.get("logprob").asDouble(), 1e-6);
        }
    }

    @Test
    void shouldListTheModelAndReportHealthAndMetrics() throws Exception {
        JsonNode models = ok(server.get("/v1/models"));
        assertEquals("list", models.get("object").asText());
        assertEquals("tiny-llama", models.get("data").get(0).get("id").asText());
        assertEquals("ready", ok(server.get("/health")).get("status").asText());
        complete("{\"prompt\": \"metrics\", \"max_tokens\": 2}");
        HttpResponse<String> m = server.get("/metrics");
        assertEquals(200, m.statusCode());
        for (String name : List.of("llmc_time_to_first_token_seconds_bucket", "llmc_inter_token_latency_seconds_bucket",
                "llmc_e2e_request_latency_seconds_count", "llmc_prompt_tokens_total", "llmc_generation_tokens_total",
                "llmc_request_finished_total{finish_reason=\"length\"}", "llmc_num_requests_running",
                "llmc_num_requests_waiting", "llmc_kv_cache_usage_percent", "llmc_prefix_cache_hit_rate")) {
            assertTrue(m.body().contains(name), name + " missing from\n" + m.body());
        }
    }

    @Test
    void shouldProtectTheAdminApiWithTheBearerToken() throws Exception {
        assertEquals(401, server.get("/admin/engine").statusCode());
        HttpResponse<String> wrong = server.get("/admin/engine", "Authorization", "Bearer nope");
        assertEquals(401, wrong.statusCode());
        assertEquals("invalid_api_key", TestServer.json(wrong).get("error").get("code").asText());
        JsonNode admin = ok(server.get("/admin/engine", "Authorization", "Bearer " + TestServer.ADMIN_TOKEN));
        assertEquals("ready", admin.get("state").asText());
        assertEquals("tiny-llama", admin.get("model").get("id").asText());
        assertTrue(admin.get("kv_pool").get("total_blocks").asInt() > 0);
        assertTrue(admin.get("engine_config").has("max_num_seqs"));
        assertEquals("auto", admin.get("engine_config").get("max_prefill_tokens_while_decoding").asText());
        assertTrue(admin.get("load").has("running"));
    }
}
