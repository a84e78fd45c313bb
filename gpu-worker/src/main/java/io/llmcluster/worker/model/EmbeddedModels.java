package io.llmcluster.worker.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Models shipped inside the jar under {@code /models/NAME/}. Weights are memory-mapped, which needs a real
 * file, so a model is copied once into a cache folder ({@code $LLMC_CACHE} or
 * {@code ~/.cache/llmcluster}) and reused while its files are unchanged in size.
 */
public final class EmbeddedModels {
    public static final String DEFAULT_MODEL = "tiny-llama";
    private static final List<String> FILES = List.of("config.json", "generation_config.json", "model.safetensors",
            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja");

    private EmbeddedModels() {}

    public static Path extract(String name) {
        String env = System.getenv("LLMC_CACHE");
        Path cache = env != null ? Path.of(env) : Path.of(System.getProperty("user.home"), ".cache", "llmcluster");
        Path target = cache.resolve("models").resolve(name);
        try {
            Files.createDirectories(target);
            int copied = 0;
            for (String file : FILES) {
                try (InputStream in = EmbeddedModels.class.getResourceAsStream("/models/" + name + "/" + file)) {
                    if (in == null) {
                        continue;
                    }
                    byte[] bytes = in.readAllBytes();
                    Path out = target.resolve(file);
                    if (!Files.exists(out) || Files.size(out) != bytes.length) {
                        Path tmp = Files.createTempFile(target, file, ".part");
                        Files.write(tmp, bytes);
                        Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    }
                    copied++;
                }
            }
            if (copied == 0) {
                throw new ModelLoadException("no embedded model named '" + name + "' in this build");
            }
            return target;
        } catch (IOException e) {
            throw new ModelLoadException("cannot extract the embedded model into " + target + ": " + e.getMessage(), e);
        }
    }
}
