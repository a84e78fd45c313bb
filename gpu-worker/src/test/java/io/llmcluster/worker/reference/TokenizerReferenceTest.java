package io.llmcluster.worker.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.llmcluster.worker.model.IncrementalDecoder;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.model.Tokenizer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DJL's tokenizer against the ids and texts transformers recorded (unicode, emoji, special tokens). */
class TokenizerReferenceTest {
    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-qwen2", "tiny-mistral"})
    void shouldEncodeAndDecodeLikeTransformers(String model) throws Exception {
        ReferenceRecord ref = ReferenceRecord.load(model);
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir(model))) {
            Tokenizer t = dir.tokenizer();
            for (JsonNode check : ref.json().get("tokenizer_checks")) {
                int[] ids = ReferenceRecord.ints(check.get("ids"));
                assertArrayEquals(ids, t.encode(check.get("text").asText()), "encode: " + check.get("text"));
                assertEquals(check.get("decoded_skip_special").asText(), t.decode(ids), "decode: " + check.get("text"));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-qwen2"})
    void shouldStreamTheSameTextAsDecodingAllAtOnce(String model) throws Exception {
        ReferenceRecord ref = ReferenceRecord.load(model);
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir(model))) {
            Tokenizer t = dir.tokenizer();
            for (JsonNode check : ref.json().get("tokenizer_checks")) {
                int[] ids = ReferenceRecord.ints(check.get("ids"));
                IncrementalDecoder decoder = new IncrementalDecoder(t, new int[0]);
                StringBuilder streamed = new StringBuilder();
                for (int id : ids) {
                    streamed.append(decoder.add(id));
                }
                streamed.append(decoder.flush());
                assertEquals(t.decode(ids), streamed.toString(), "streamed: " + check.get("text"));
            }
        }
    }
}
