package io.llmcluster.worker.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llmcluster.worker.model.EmbeddedModels;
import io.llmcluster.worker.model.SafetensorsFile;
import io.llmcluster.worker.model.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What transformers computed for one reference model (deploy/gpu/make_reference_models.py): per prompt the
 * input ids, the FP32 logits at every position and a 32-token greedy continuation.
 */
public record ReferenceRecord(String model, List<Prompt> prompts, JsonNode json) {

    public record Prompt(String text, int[] inputIds, int[] greedyIds, float[][] logits) {}

    public static final List<String> MODELS = List.of("tiny-llama", "tiny-llama-bf16", "tiny-qwen2", "tiny-mistral");

    /** The model's directory: the embedded default for tiny-llama, test resources for the others. */
    public static Path modelDir(String model) {
        return model.equals(EmbeddedModels.DEFAULT_MODEL) ? EmbeddedModels.extract(model) : resource("reference/" + model);
    }

    public static ReferenceRecord load(String model) throws Exception {
        JsonNode json = new ObjectMapper().readTree(Files.readString(resource("reference/records/" + model + ".json")));
        List<Prompt> prompts = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            Map<String, TensorView> logits = SafetensorsFile
                    .open(resource("reference/records/" + model + ".logits.safetensors"), arena).tensors();
            int i = 0;
            for (JsonNode p : json.get("prompts")) {
                TensorView t = logits.get("prompt_" + i++);
                int rows = (int) t.shape()[0];
                int cols = (int) t.shape()[1];
                float[][] rowsOut = new float[rows][cols];
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < cols; c++) {
                        rowsOut[r][c] = t.data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) r * cols + c);
                    }
                }
                prompts.add(new Prompt(p.get("text").asText(), ints(p.get("input_ids")), ints(p.get("greedy_ids")), rowsOut));
            }
        }
        return new ReferenceRecord(model, prompts, json);
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    static Path resource(String name) {
        try {
            var url = ReferenceRecord.class.getResource("/" + name);
            if (url == null) {
                throw new IllegalStateException("missing test resource " + name);
            }
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
