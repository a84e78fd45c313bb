package io.llmcluster.worker.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class ModelConfigParserTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String PUBLISHED_LLAMA = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 512, "hidden_size": 64,
             "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
             "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 64},
             "tie_word_embeddings": false, "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": [2, 5]}
            """;

    private static final String TRANSFORMERS5_LLAMA = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 512, "hidden_size": 64,
             "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "head_dim": 16, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
             "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
             "tie_word_embeddings": false, "dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": [2, 5]}
            """;

    private static ModelConfig parse(String json) throws Exception {
        return ModelConfigParser.parse(JSON.readTree(json));
    }

    @Test
    void shouldReadPublishedAndTransformers5FormsAlike() throws Exception {
        ModelConfig old = parse(PUBLISHED_LLAMA);
        ModelConfig neu = parse(TRANSFORMERS5_LLAMA);
        for (ModelConfig c : new ModelConfig[] {old, neu}) {
            assertEquals(Architecture.LLAMA, c.architecture());
            assertEquals(500000.0, c.ropeTheta());
            assertEquals(new Llama3RopeScaling(8, 1, 4, 64), c.ropeScaling());
            assertEquals(16, c.headDim());
            assertEquals(2, c.groupSize());
            assertEquals("bfloat16", c.weightDtype());
            assertArrayEquals(new int[] {2, 5}, c.eosTokenIds());
            assertFalse(c.qkvBias());
        }
    }

    @Test
    void shouldGiveQwen2QkvBiasAndTiedEmbeddings() throws Exception {
        ModelConfig c = parse("""
                {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 512, "hidden_size": 64, "intermediate_size": 96,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "rope_theta": 1000000.0,
                 "sliding_window": 32, "use_sliding_window": false, "tie_word_embeddings": true, "eos_token_id": 7,
                 "max_position_embeddings": 128}
                """);
        assertTrue(c.qkvBias());
        assertFalse(c.outputBias());
        assertTrue(c.tieWordEmbeddings());
        assertNull(c.ropeScaling());
        assertEquals(128, c.maxContextTokens(), "Qwen2 ignores sliding_window unless use_sliding_window");
        assertArrayEquals(new int[] {7}, c.eosTokenIds());
    }

    @Test
    void shouldUseExplicitHeadDimAndCapContextBySlidingWindow() throws Exception {
        ModelConfig c = parse("""
                {"architectures": ["MistralForCausalLM"], "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
                 "sliding_window": 100, "max_position_embeddings": 4096}
                """);
        assertEquals(32, c.headDim());
        assertEquals(128, c.qDim());
        assertEquals(100, c.maxContextTokens());
        assertEquals(10000.0, c.ropeTheta());
    }

    @Test
    void shouldRejectUnsupportedArchitectureByName() {
        var e = assertThrows(ModelLoadException.class, () -> parse(PUBLISHED_LLAMA.replace("LlamaForCausalLM", "GPT2LMHeadModel")));
        assertTrue(e.getMessage().contains("unsupported architecture 'GPT2LMHeadModel'"), e.getMessage());
    }

    @Test
    void shouldRejectUnsupportedRopeScaling() {
        var e = assertThrows(ModelLoadException.class, () -> parse(PUBLISHED_LLAMA.replace("\"llama3\"", "\"yarn\"")));
        assertTrue(e.getMessage().contains("unsupported rope scaling type 'yarn'"), e.getMessage());
    }

    @Test
    void shouldNameAMissingField() {
        var e = assertThrows(ModelLoadException.class, () -> parse(PUBLISHED_LLAMA.replace("\"hidden_size\": 64,", "")));
        assertTrue(e.getMessage().contains("'hidden_size'"), e.getMessage());
    }

    @Test
    void shouldRejectHeadCountsThatDoNotGroup() {
        var e = assertThrows(ModelLoadException.class,
                () -> parse(PUBLISHED_LLAMA.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3")));
        assertTrue(e.getMessage().contains("multiple of num_key_value_heads"), e.getMessage());
    }
}
