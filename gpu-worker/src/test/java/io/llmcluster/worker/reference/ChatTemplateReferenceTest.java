package io.llmcluster.worker.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llmcluster.worker.model.ChatTemplate;
import io.llmcluster.worker.model.ModelDirectory;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The models' chat templates rendered by jinjava against the text and ids transformers recorded. */
class ChatTemplateReferenceTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-qwen2"})
    void shouldRenderAndEncodeLikeTransformersApplyChatTemplate(String model) throws Exception {
        ReferenceRecord ref = ReferenceRecord.load(model);
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir(model))) {
            ChatTemplate template = dir.chatTemplate().orElseThrow();
            JsonNode checks = ref.json().get("chat_checks");
            assertTrue(checks.size() > 0);
            for (JsonNode check : checks) {
                List<Map<String, Object>> messages = JSON.convertValue(check.get("messages"), new TypeReference<>() {});
                String rendered = template.render(messages, check.get("add_generation_prompt").asBoolean());
                assertEquals(check.get("rendered").asText(), rendered);
                assertArrayEquals(ReferenceRecord.ints(check.get("ids")), dir.tokenizer().encodeNoSpecial(rendered));
            }
        }
    }

    @Test
    void shouldReadTheTemplateFromChatTemplateJinjaBesideTheConfig() {
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir("tiny-mistral"))) {
            String rendered = dir.chatTemplate().orElseThrow().render(List.of(Map.of("role", "user", "content", " hi ")), true);
            assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                    + "<|start_header_id|>assistant<|end_header_id|>\n\n", rendered);
        }
    }
}
