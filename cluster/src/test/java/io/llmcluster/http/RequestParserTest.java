package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import io.llmcluster.worker.model.ModelDirectory;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** OpenAI request JSON onto engine sequences, synchronously. */
class RequestParserTest {
    private static ModelDirectory dir;
    private static RequestParser parser;

    @BeforeAll
    static void open() {
        dir = ModelDirectory.openDefault();
        parser = new RequestParser(ServedModel.of(dir), ApiLimits.defaults());
    }

    @AfterAll
    static void close() {
        dir.close();
    }

    private static OpenAiRequest completion(String json) {
        return parser.completion(Json.parseObject(json.getBytes()));
    }

    private static ApiError error(Runnable r) {
        return assertThrows(ApiException.class, r::run).error();
    }

    @Test
    void shouldMapOpenAiParametersOntoSamplingParams() {
        OpenAiRequest r = completion("""
                {"prompt": "Hello", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
                 "presence_penalty": 0.5, "frequency_penalty": -0.5, "repetition_penalty": 1.1, "seed": 9,
                 "stop": "END", "stop_token_ids": [3], "min_tokens": 2, "ignore_eos": true, "logprobs": 2}""");
        SamplingParams p = r.plan(256).getFirst().params();
        assertEquals(7, p.maxTokens());
        assertEquals(0.5, p.temperature());
        assertEquals(0.9, p.topP());
        assertEquals(40, p.topK());
        assertEquals(0.05, p.minP());
        assertEquals(0.5, p.presencePenalty());
        assertEquals(-0.5, p.frequencyPenalty());
        assertEquals(1.1, p.repetitionPenalty());
        assertEquals(OptionalLong.of(9), p.seed());
        assertEquals(List.of("END"), p.stopStrings());
        assertEquals(List.of(3), p.stopTokenIds());
        assertEquals(2, p.minTokens());
        assertTrue(p.ignoreEos());
        assertEquals(2, p.logprobs());
        assertArrayEquals(dir.tokenizer().encode("Hello"), r.prompts().getFirst().tokenIds());
    }

    @Test
    void shouldMakeOneSequencePerPromptAndChoiceSeededSeedPlusI() {
        List<SequenceSpec> s = completion("{\"prompt\": [\"a\", \"b\"], \"n\": 3, \"seed\": 100, \"stop\": [\"x\", \"y\"]}").plan(256);
        assertEquals(6, s.size());
        for (int i = 0; i < 6; i++) {
            assertEquals(OptionalLong.of(100 + i % 3), s.get(i).params().seed());
            assertEquals(List.of("x", "y"), s.get(i).params().stopStrings());
        }
        assertArrayEquals(dir.tokenizer().encode("b"), s.get(3).promptTokenIds());
    }

    @Test
    void shouldDefaultMaxTokensTo16ForCompletionsAndTheRestOfTheContextForChat() {
        assertEquals(16, completion("{\"prompt\": \"Hello\"}").plan(256).getFirst().params().maxTokens());
        int promptLen = dir.tokenizer().encode("Hello").length;
        assertEquals(20 - promptLen, completion("{\"prompt\": \"Hello\"}").plan(20).getFirst().params().maxTokens());
        OpenAiRequest chat = parser.chat(Json.parseObject("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}".getBytes()));
        assertEquals(256 - chat.promptTokens(), chat.plan(256).getFirst().params().maxTokens());
    }

    @Test
    void shouldTakeTokenIdPromptsAsTheyAre() {
        OpenAiRequest r = completion("{\"prompt\": [507, 82, 470]}");
        assertArrayEquals(new int[] {507, 82, 470}, r.prompts().getFirst().tokenIds());
        assertEquals(3, r.promptTokens());
    }

    @Test
    void shouldMapChatLogprobsAndTopLogprobs() {
        String msgs = "\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hi\"}]}]";
        assertEquals(-1, parser.chat(Json.parseObject(("{" + msgs + "}").getBytes())).logprobs());
        assertEquals(0, parser.chat(Json.parseObject(("{" + msgs + ", \"logprobs\": true}").getBytes())).logprobs());
        assertEquals(5, parser.chat(Json.parseObject(("{" + msgs + ", \"logprobs\": true, \"top_logprobs\": 5}").getBytes())).logprobs());
    }

    @Test
    void shouldRejectAPromptPlusMaxTokensBeyondTheContext() {
        OpenAiRequest r = completion("{\"prompt\": \"Hello\", \"max_tokens\": 100}");
        ApiError e = error(() -> r.plan(50));
        assertEquals("context_length_exceeded", e.code());
        assertEquals("max_tokens", e.param());
        assertTrue(e.message().contains("maximum context length is 50"), e.message());
    }

    @Test
    void shouldNameTheApiFieldWhenSamplingParamsRejectsACombination() {
        ApiError e = error(() -> completion("{\"prompt\": \"Hello\", \"max_tokens\": 2, \"min_tokens\": 5}").plan(256));
        assertEquals("min_tokens", e.param());
        assertTrue(e.message().startsWith("'min_tokens' must be in [0, maxTokens=2]"), e.message());
    }

    @Test
    void shouldAcceptIntegralFloatsAsIntegersAndTheServedModelName() {
        OpenAiRequest r = completion("{\"model\": \"tiny-llama\", \"prompt\": \"Hi\", \"max_tokens\": 4.0, \"n\": 2.0}");
        assertEquals(2, r.n());
        assertEquals(4, r.plan(256).getFirst().params().maxTokens());
    }
}
