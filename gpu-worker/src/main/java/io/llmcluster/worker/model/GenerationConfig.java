package io.llmcluster.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The end-of-sequence ids from generation_config.json, falling back to config.json's eos_token_id. */
public record GenerationConfig(int[] eosTokenIds) {

    public static GenerationConfig read(Path dir, ModelConfig config) {
        Path file = dir.resolve("generation_config.json");
        if (!Files.isRegularFile(file)) {
            return new GenerationConfig(config.eosTokenIds());
        }
        try {
            JsonNode root = new ObjectMapper().readTree(Files.readString(file));
            int[] eos = TokenIds.fromJson(root.get("eos_token_id"));
            return new GenerationConfig(eos.length > 0 ? eos : config.eosTokenIds());
        } catch (IOException e) {
            throw new ModelLoadException("cannot parse " + file + ": " + e.getMessage(), e);
        }
    }

    public boolean isEos(int tokenId) {
        for (int id : eosTokenIds) {
            if (id == tokenId) {
                return true;
            }
        }
        return false;
    }
}
