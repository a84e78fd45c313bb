package io.llmcluster.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * All tensors of a model directory: one {@code model.safetensors}, or the shards that
 * {@code model.safetensors.index.json} names (each shard mapped once), or, without either, every
 * {@code *.safetensors} file in the directory.
 */
public final class Checkpoint {
    private final Map<String, TensorView> tensors;

    private Checkpoint(Map<String, TensorView> tensors) {
        this.tensors = tensors;
    }

    public static Checkpoint open(Path dir, Arena arena) {
        Path index = dir.resolve("model.safetensors.index.json");
        Map<String, TensorView> all = new LinkedHashMap<>();
        if (Files.exists(index)) {
            Map<String, String> weightMap = readIndex(index);
            Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
            for (String shard : new TreeSet<>(weightMap.values())) {
                shards.put(shard, SafetensorsFile.open(dir.resolve(shard), arena));
            }
            weightMap.forEach((tensor, shard) -> {
                TensorView t = shards.get(shard).tensors().get(tensor);
                if (t == null) {
                    throw new ModelLoadException("model.safetensors.index.json maps '" + tensor + "' to " + shard
                            + " but that file has no such tensor");
                }
                all.put(tensor, t);
            });
        } else {
            for (Path file : safetensorsFiles(dir)) {
                all.putAll(SafetensorsFile.open(file, arena).tensors());
            }
        }
        return new Checkpoint(all);
    }

    private static Iterable<Path> safetensorsFiles(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            var list = files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
            if (list.isEmpty()) {
                throw new ModelLoadException("no *.safetensors weights in " + dir);
            }
            return list;
        } catch (IOException e) {
            throw new ModelLoadException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, String> readIndex(Path index) {
        try {
            JsonNode map = new ObjectMapper().readTree(Files.readString(index)).path("weight_map");
            if (!map.isObject()) {
                throw new ModelLoadException(index + " has no weight_map object");
            }
            Map<String, String> result = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : map.properties()) {
                result.put(e.getKey(), e.getValue().asText());
            }
            return result;
        } catch (IOException e) {
            throw new ModelLoadException("cannot parse " + index + ": " + e.getMessage(), e);
        }
    }

    /** The tensor, or a clear error naming what is missing. */
    public TensorView require(String name) {
        TensorView t = tensors.get(name);
        if (t == null) {
            throw new ModelLoadException("weights lack tensor '" + name + "'");
        }
        return t;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    public Map<String, TensorView> tensors() {
        return tensors;
    }

    public long totalBytes() {
        return tensors.values().stream().mapToLong(t -> t.data().byteSize()).sum();
    }
}
