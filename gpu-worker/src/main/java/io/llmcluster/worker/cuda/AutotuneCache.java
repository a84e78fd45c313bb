package io.llmcluster.worker.cuda;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * The autotuner's choices on disk, one JSON file per GPU model and driver ({@link AutotunePolicy#cacheFileName}):
 * {@code {"gpu": ..., "driver": ..., "choices": {"f16 none 6144x4096 m1": {"kernel": "gemv-r2", "us": {...}}}}}.
 * Plain Java (no CUDA): a missing file is an empty cache, an unreadable one too (with a note for the log); an
 * entry naming a kernel this version does not know is ignored. Saved through a temporary file and a rename,
 * so a crash never leaves half a file.
 */
final class AutotuneCache {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final String gpu;
    private final String driver;
    private final Map<String, AutotunePolicy.Choice> choices = new TreeMap<>();
    private String loadProblem;

    AutotuneCache(String gpu, String driver) {
        this.gpu = gpu;
        this.driver = driver;
    }

    /** The cache in {@code file}, or an empty one when the file is missing or unreadable (see {@link #loadProblem}). */
    static AutotuneCache load(Path file, String gpu, String driver) {
        AutotuneCache c = new AutotuneCache(gpu, driver);
        if (!Files.exists(file)) {
            return c;
        }
        try {
            JsonNode root = JSON.readTree(file.toFile());
            JsonNode entries = root.path("choices");
            for (Iterator<Map.Entry<String, JsonNode>> it = entries.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                ProjectionKernel k = ProjectionKernel.ofLabel(e.getValue().path("kernel").asText());
                if (k == null) {
                    continue;
                }
                Map<ProjectionKernel, Double> us = new EnumMap<>(ProjectionKernel.class);
                for (Iterator<Map.Entry<String, JsonNode>> t = e.getValue().path("us").fields(); t.hasNext(); ) {
                    Map.Entry<String, JsonNode> m = t.next();
                    ProjectionKernel mk = ProjectionKernel.ofLabel(m.getKey());
                    if (mk != null) {
                        us.put(mk, m.getValue().asDouble());
                    }
                }
                us.putIfAbsent(k, Double.NaN);
                c.choices.put(e.getKey(), new AutotunePolicy.Choice(k, Map.copyOf(us)));
            }
        } catch (IOException | RuntimeException e) {
            c.choices.clear();
            c.loadProblem = "autotune cache " + file + " is unreadable (" + e.getMessage() + "); tuning again";
        }
        return c;
    }

    /** Why the file could not be read, or null. */
    String loadProblem() {
        return loadProblem;
    }

    AutotunePolicy.Choice get(String key) {
        return choices.get(key);
    }

    void put(String key, AutotunePolicy.Choice choice) {
        choices.put(key, choice);
    }

    int size() {
        return choices.size();
    }

    void save(Path file) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("gpu", gpu);
        root.put("driver", driver);
        ObjectNode entries = root.putObject("choices");
        for (Map.Entry<String, AutotunePolicy.Choice> e : choices.entrySet()) {
            ObjectNode n = entries.putObject(e.getKey());
            n.put("kernel", e.getValue().kernel().label());
            ObjectNode us = n.putObject("us");
            for (ProjectionKernel k : ProjectionKernel.values()) {
                Double t = e.getValue().micros().get(k);
                if (t != null && !t.isNaN()) {
                    us.put(k.label(), Math.round(t * 100) / 100.0);
                }
            }
        }
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "autotune", ".tmp");
        try {
            JSON.writeValue(tmp.toFile(), root);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
