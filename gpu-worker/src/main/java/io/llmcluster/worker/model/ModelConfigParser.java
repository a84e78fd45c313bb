package io.llmcluster.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads config.json in both its published form and transformers 5's form into a {@link ModelConfig}. */
public final class ModelConfigParser {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelConfigParser() {}

    public static ModelConfig read(Path configJson) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(configJson));
        } catch (NoSuchFileException e) {
            throw new ModelLoadException("missing " + configJson.getFileName() + " in " + configJson.getParent());
        } catch (IOException e) {
            throw new ModelLoadException("cannot parse " + configJson + ": " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelLoadException(configJson + " is not a JSON object");
        }
        return parse(root);
    }

    public static ModelConfig parse(JsonNode root) {
        JsonNode archs = root.path("architectures");
        String archName = archs.isArray() && !archs.isEmpty() ? archs.get(0).asText() : null;
        Architecture arch = Architecture.from(archName, root.path("model_type").asText(null));
        String act = root.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new ModelLoadException("config.json: unsupported hidden_act '" + act + "' (only silu)");
        }
        if (root.path("mlp_bias").asBoolean(false)) {
            throw new ModelLoadException("config.json: mlp_bias=true is not supported");
        }
        int hidden = requiredInt(root, "hidden_size");
        int heads = requiredInt(root, "num_attention_heads");
        int kvHeads = root.hasNonNull("num_key_value_heads") ? root.get("num_key_value_heads").asInt() : heads;
        int headDim = root.hasNonNull("head_dim") ? root.get("head_dim").asInt() : hidden / heads;
        int maxPositions = root.path("max_position_embeddings").asInt(2048);
        JsonNode window = root.get("sliding_window");
        boolean windowUsed = window != null && window.isNumber()
                && (arch != Architecture.QWEN2 || root.path("use_sliding_window").asBoolean(false));
        int context = windowUsed ? Math.min(maxPositions, window.asInt()) : maxPositions;
        boolean attentionBias = root.path("attention_bias").asBoolean(false);
        JsonNode rope = ropeNode(root);
        return new ModelConfig(
                arch,
                requiredInt(root, "vocab_size"),
                hidden,
                requiredInt(root, "intermediate_size"),
                requiredInt(root, "num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                root.path("rms_norm_eps").asDouble(1e-6),
                ropeTheta(root, rope),
                ropeScaling(rope),
                context,
                root.path("tie_word_embeddings").asBoolean(false),
                arch == Architecture.QWEN2 || attentionBias,
                arch != Architecture.QWEN2 && attentionBias,
                root.hasNonNull("torch_dtype") ? root.get("torch_dtype").asText() : root.path("dtype").asText("float32"),
                root.path("bos_token_id").asInt(-1),
                TokenIds.fromJson(root.get("eos_token_id")));
    }

    /** transformers 5 nests theta and scaling in rope_parameters; older configs use rope_scaling. */
    private static JsonNode ropeNode(JsonNode root) {
        if (root.hasNonNull("rope_parameters")) {
            return root.get("rope_parameters");
        }
        return root.hasNonNull("rope_scaling") ? root.get("rope_scaling") : null;
    }

    private static double ropeTheta(JsonNode root, JsonNode rope) {
        if (root.hasNonNull("rope_theta")) {
            return root.get("rope_theta").asDouble();
        }
        return rope != null && rope.hasNonNull("rope_theta") ? rope.get("rope_theta").asDouble() : 10000.0;
    }

    private static Llama3RopeScaling ropeScaling(JsonNode rope) {
        if (rope == null) {
            return null;
        }
        String type = rope.hasNonNull("rope_type") ? rope.get("rope_type").asText() : rope.path("type").asText("default");
        return switch (type) {
            case "default" -> null;
            case "llama3" -> new Llama3RopeScaling(
                    rope.path("factor").asDouble(Double.NaN),
                    rope.path("low_freq_factor").asDouble(Double.NaN),
                    rope.path("high_freq_factor").asDouble(Double.NaN),
                    rope.path("original_max_position_embeddings").asInt(-1));
            default -> throw new ModelLoadException("config.json: unsupported rope scaling type '" + type
                    + "' (supported: default, llama3)");
        };
    }

    private static int requiredInt(JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.canConvertToInt()) {
            throw new ModelLoadException("config.json: missing or non-integer '" + field + "'");
        }
        return n.asInt();
    }
}
