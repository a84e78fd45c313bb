package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.llmcluster.batcher.FinishReason;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.model.ModelDirectory;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Engine chunks onto OpenAI's responses and SSE chunks, synchronously. */
class GenerationRunTest {
    private static ModelDirectory dir;
    private static ServedModel model;
    private static RequestParser parser;

    @BeforeAll
    static void open() {
        dir = ModelDirectory.openDefault();
        model = ServedModel.of(dir);
        parser = new RequestParser(model, ApiLimits.defaults());
    }

    @AfterAll
    static void close() {
        dir.close();
    }

    private static GenerationRun run(OpenAiRequest r, long... ids) {
        return new GenerationRun(r, ids, new OpenAiFormat(r.endpoint(), "id-1", 1, model, r.includeUsage()),
                new ServingMetrics(), 0);
    }

    private static TokenChunk token(long id, int token, String text, int n, FinishReason finish) {
        return new TokenChunk(id, token, text, -0.5f, new int[] {token}, new float[] {-0.5f}, finish, 3, n);
    }

    private static List<JsonNode> parse(List<String> events) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String e : events) {
            assertTrue(e.startsWith("data: ") && e.endsWith("\n\n"), e);
            String data = e.substring(6, e.length() - 2);
            out.add(data.equals("[DONE]") ? null : Json.MAPPER.readTree(data));
        }
        return out;
    }

    @Test
    void shouldGatherInterleavedChoicesIntoOneCompletionWithUsage() {
        OpenAiRequest r = parser.completion(Json.parseObject("{\"prompt\": \"Hi\", \"n\": 2}".getBytes()));
        GenerationRun run = run(r, 10, 11);
        run.onChunk(token(11, 65, "B", 1, null), 1);
        run.onChunk(token(10, 66, "a", 1, null), 2);
        run.onChunk(token(10, 67, "b", 2, FinishReason.STOP), 3);
        run.onChunk(new TokenChunk(11, -1, "!", Float.NaN, new int[0], new float[0], FinishReason.LENGTH, 3, 1), 4);
        assertTrue(run.isDone());
        JsonNode resp = run.response();
        assertEquals("ab", resp.get("choices").get(0).get("text").asText());
        assertEquals("stop", resp.get("choices").get(0).get("finish_reason").asText());
        assertEquals("B!", resp.get("choices").get(1).get("text").asText());
        assertEquals("length", resp.get("choices").get(1).get("finish_reason").asText());
        assertEquals(r.promptTokens(), resp.get("usage").get("prompt_tokens").asInt());
        assertEquals(3, resp.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void shouldStreamChatChunksWithTheRoleFirstAndUsageLastThenDone() throws Exception {
        OpenAiRequest r = parser.chat(Json.parseObject(("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}],"
                + " \"stream\": true, \"stream_options\": {\"include_usage\": true}}").getBytes()));
        GenerationRun run = run(r, 5);
        List<JsonNode> open = parse(run.openingEvents());
        assertEquals("assistant", open.getFirst().get("choices").get(0).get("delta").get("role").asText());
        assertTrue(open.getFirst().get("usage").isNull());
        assertEquals(List.of(), run.onChunk(token(5, 1, "", 1, null), 1), "nothing visible, nothing sent");
        List<JsonNode> mid = parse(run.onChunk(token(5, 2, "Hel", 2, null), 2));
        assertEquals("chat.completion.chunk", mid.getFirst().get("object").asText());
        assertEquals("Hel", mid.getFirst().get("choices").get(0).get("delta").get("content").asText());
        List<JsonNode> end = parse(run.onChunk(token(5, 3, "lo", 3, FinishReason.LENGTH), 3));
        assertEquals(3, end.size());
        assertEquals("length", end.get(0).get("choices").get(0).get("finish_reason").asText());
        assertEquals(0, end.get(1).get("choices").size());
        assertEquals(3, end.get(1).get("usage").get("completion_tokens").asInt());
        assertEquals(null, end.get(2), "data: [DONE]");
    }

    @Test
    void shouldTurnAnAbortedRunIntoATimeoutErrorAndAnErrorEventOnAStream() throws Exception {
        OpenAiRequest whole = parser.completion(Json.parseObject("{\"prompt\": \"Hi\"}".getBytes()));
        GenerationRun run = run(whole, 1);
        run.onChunk(new TokenChunk(1, -1, "", Float.NaN, new int[0], new float[0], FinishReason.ABORT, 3, 0), 1);
        assertEquals(504, assertThrows(ApiException.class, run::response).error().status());

        OpenAiRequest streamed = parser.completion(Json.parseObject("{\"prompt\": \"Hi\", \"stream\": true}".getBytes()));
        GenerationRun s = run(streamed, 2);
        List<JsonNode> events = parse(s.onChunk(new TokenChunk(2, -1, "", Float.NaN, new int[0], new float[0],
                FinishReason.ERROR, 3, 0), 1));
        assertEquals("internal_error", events.getFirst().get("error").get("code").asText());
        assertEquals(null, events.getLast());
    }

    @Test
    void shouldLayOutCompletionLogprobsAsParallelArraysWithTextOffsets() {
        OpenAiRequest r = parser.completion(Json.parseObject("{\"prompt\": \"Hi\", \"logprobs\": 1}".getBytes()));
        GenerationRun run = run(r, 1);
        int a = dir.tokenizer().encodeNoSpecial("ab")[0];
        run.onChunk(token(1, a, model.tokenText(a), 1, null), 1);
        run.onChunk(token(1, a, model.tokenText(a), 2, FinishReason.LENGTH), 2);
        JsonNode lp = run.response().get("choices").get(0).get("logprobs");
        assertEquals(2, lp.get("tokens").size());
        assertEquals(-0.5, lp.get("token_logprobs").get(1).asDouble());
        assertEquals(0, lp.get("text_offset").get(0).asInt());
        assertEquals(model.tokenText(a).length(), lp.get("text_offset").get(1).asInt());
        assertEquals(-0.5, lp.get("top_logprobs").get(0).get(model.tokenText(a)).asDouble());
    }

    @Test
    void shouldCountTheChoicesStillRunningAsAbortedWhenTheClientGoes() {
        OpenAiRequest r = parser.completion(Json.parseObject("{\"prompt\": \"Hi\", \"n\": 3}".getBytes()));
        GenerationRun run = run(r, 1, 2, 3);
        run.onChunk(token(2, 5, "x", 1, FinishReason.STOP), 1);
        long[] left = run.onClientGone();
        java.util.Arrays.sort(left);
        assertEquals(List.of(1L, 3L), java.util.Arrays.stream(left).boxed().toList());
        assertTrue(run.isDone());
    }
}
