package io.llmcluster.worker.model;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A Hugging Face model directory opened for serving: config, memory-mapped weights, tokenizer and
 * generation config. Closing it unmaps the weights.
 */
public final class ModelDirectory implements AutoCloseable {
    private final Path dir;
    private final String modelId;
    private final ModelConfig config;
    private final GenerationConfig generationConfig;
    private final Tokenizer tokenizer;
    private final Checkpoint checkpoint;
    private final ChatTemplate chatTemplate;
    private final Arena arena;

    private ModelDirectory(Path dir, String modelId, ModelConfig config, GenerationConfig generationConfig,
                           Tokenizer tokenizer, Checkpoint checkpoint, ChatTemplate chatTemplate, Arena arena) {
        this.dir = dir;
        this.modelId = modelId;
        this.config = config;
        this.generationConfig = generationConfig;
        this.tokenizer = tokenizer;
        this.checkpoint = checkpoint;
        this.chatTemplate = chatTemplate;
        this.arena = arena;
    }

    public static ModelDirectory open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelLoadException("model directory " + dir + " does not exist");
        }
        ModelConfig config = ModelConfigParser.read(dir.resolve("config.json"));
        Arena arena = Arena.ofShared();
        try {
            Checkpoint checkpoint = Checkpoint.open(dir, arena);
            ChatTemplate chat = ChatTemplate.read(dir).orElse(null);
            Tokenizer tokenizer = Tokenizer.open(dir);
            String id = dir.toAbsolutePath().normalize().getFileName().toString();
            return new ModelDirectory(dir, id, config, GenerationConfig.read(dir, config), tokenizer, checkpoint, chat, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** The embedded default model (the committed tiny Llama). */
    public static ModelDirectory openDefault() {
        return open(EmbeddedModels.extract(EmbeddedModels.DEFAULT_MODEL));
    }

    public Path dir() {
        return dir;
    }

    /** The name clients use for this model (the directory's name). */
    public String modelId() {
        return modelId;
    }

    public ModelConfig config() {
        return config;
    }

    public GenerationConfig generationConfig() {
        return generationConfig;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public Checkpoint checkpoint() {
        return checkpoint;
    }

    /** The chat template (chat_template.jinja or tokenizer_config.json's chat_template), if the model has one. */
    public Optional<ChatTemplate> chatTemplate() {
        return Optional.ofNullable(chatTemplate);
    }

    @Override
    public void close() {
        tokenizer.close();
        arena.close();
    }
}
