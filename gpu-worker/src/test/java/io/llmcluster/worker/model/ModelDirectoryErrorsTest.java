package io.llmcluster.worker.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each way a model directory can be broken gives one clear message naming the file and the problem. */
class ModelDirectoryErrorsTest {
    @TempDir
    Path dir;

    @BeforeEach
    void copyTinyLlama() throws IOException {
        Path source = EmbeddedModels.extract(EmbeddedModels.DEFAULT_MODEL);
        try (Stream<Path> files = Files.list(source)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
    }

    private String loadFailure() {
        return assertThrows(ModelLoadException.class, () -> {
            try (ModelDirectory m = ModelDirectory.open(dir);
                 CpuBackend b = new CpuBackend(m, CpuBackendOptions.defaults().withKvCacheBytes(1 << 20))) {
                b.describe();
            }
        }).getMessage();
    }

    private void editConfig(String from, String to) throws IOException {
        Path config = dir.resolve("config.json");
        String json = Files.readString(config);
        assertTrue(json.contains(from), "config.json lacks " + from);
        Files.writeString(config, json.replace(from, to));
    }

    @Test
    void shouldNameAMissingConfig() throws IOException {
        Files.delete(dir.resolve("config.json"));
        assertTrue(loadFailure().startsWith("missing config.json in "), loadFailure());
    }

    @Test
    void shouldNameAMissingTokenizer() throws IOException {
        Files.delete(dir.resolve("tokenizer.json"));
        assertTrue(loadFailure().startsWith("missing tokenizer.json in "), loadFailure());
    }

    @Test
    void shouldNameMissingWeights() throws IOException {
        Files.delete(dir.resolve("model.safetensors"));
        assertTrue(loadFailure().startsWith("no *.safetensors weights in "), loadFailure());
    }

    @Test
    void shouldReportATruncatedWeightsFile() throws IOException {
        Path weights = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(weights);
        Files.write(weights, Arrays.copyOf(all, all.length / 2));
        String msg = loadFailure();
        assertTrue(msg.contains("model.safetensors") && msg.contains("truncated file"), msg);
    }

    @Test
    void shouldReportAShapeMismatchAgainstTheConfig() throws IOException {
        editConfig("\"intermediate_size\": 128", "\"intermediate_size\": 100");
        String msg = loadFailure();
        assertTrue(msg.contains("mlp.gate_proj.weight") && msg.contains("has shape [128, 64], expected [100, 64]"), msg);
    }

    @Test
    void shouldReportAnUnsupportedArchitecture() throws IOException {
        editConfig("LlamaForCausalLM", "FalconForCausalLM");
        assertTrue(loadFailure().contains("unsupported architecture 'FalconForCausalLM'"), loadFailure());
    }

    @Test
    void shouldReportANonexistentDirectory() {
        String msg = assertThrows(ModelLoadException.class, () -> ModelDirectory.open(dir.resolve("nope"))).getMessage();
        assertTrue(msg.contains("does not exist"), msg);
    }
}
