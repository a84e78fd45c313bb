package io.llmcluster.worker.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llmcluster.worker.model.SafetensorsWriter;
import io.llmcluster.worker.model.TensorDType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * Writes a random-weight Llama model directory for benchmarks: BF16 safetensors streamed to disk tensor by
 * tensor (never the whole model on the heap), config.json in the published form ({@code torch_dtype},
 * {@code rope_theta}, {@code rope_scaling}), generation_config.json and a tokenizer copied from a directory
 * holding {@code tokenizer.json.gz} (or {@code tokenizer.json}) and {@code tokenizer_config.json}.
 *
 * <p>Deterministic: each tensor draws from its own seeded stream, so the same spec writes the same bytes.
 * The directory is built next to its destination and moved into place when complete, with a
 * {@value #STAMP} file naming the spec; a complete directory of the same spec is left alone.
 *
 * <pre>MakeRandomModel OUT_DIR TOKENIZER_DIR</pre>
 */
public final class MakeRandomModel {
    /** Marks a finished directory; holds the spec it was made from. */
    public static final String STAMP = ".complete";
    private static final int CHUNK_BYTES = 1 << 20;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private MakeRandomModel() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: MakeRandomModel OUT_DIR TOKENIZER_DIR");
            System.exit(2);
        }
        RandomLlamaSpec spec = RandomLlamaSpec.llama32OneB();
        Path out = Path.of(args[0]);
        long t0 = System.nanoTime();
        boolean made = make(out, Path.of(args[1]), spec);
        System.err.printf("[make-random-model] %s %s (%.2f B parameters, %.2f GB of BF16 weights read per token)%s%n",
                made ? "wrote" : "up to date:", out, spec.parameters() / 1e9, spec.weightBytesPerToken() / 1e9,
                made ? String.format(" in %.1f s", (System.nanoTime() - t0) / 1e9) : "");
    }

    /** Makes {@code out} unless it is already complete for {@code spec}; returns whether it wrote anything. */
    public static boolean make(Path out, Path tokenizerDir, RandomLlamaSpec spec) throws IOException {
        Path stamp = out.resolve(STAMP);
        if (Files.isRegularFile(stamp) && Files.readString(stamp).equals(spec.toString())) {
            return false;
        }
        if (Files.exists(out) && !Files.isRegularFile(stamp)) {
            throw new IOException(out + " exists but was not made by MakeRandomModel (no " + STAMP + "); remove it first");
        }
        Path staging = out.resolveSibling(out.getFileName() + ".partial");
        deleteRecursively(staging);
        Files.createDirectories(staging);
        writeWeights(staging, spec);
        writeConfigs(staging, spec);
        copyTokenizer(tokenizerDir, staging);
        Files.writeString(staging.resolve(STAMP), spec.toString());
        deleteRecursively(out); // an older spec's directory (it has our stamp)
        Files.move(staging, out, StandardCopyOption.ATOMIC_MOVE);
        return true;
    }

    private static void writeWeights(Path dir, RandomLlamaSpec spec) throws IOException {
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", 2 * spec.parameters());
        ObjectNode weightMap = index.putObject("weight_map");
        for (int s = 0; s < spec.shards(); s++) {
            List<SafetensorsWriter.Entry> entries = new ArrayList<>();
            for (RandomLlamaSpec.Tensor t : spec.shardTensors(s)) {
                entries.add(new SafetensorsWriter.Entry(t.name(), TensorDType.BF16, t.shape(),
                        ch -> writeRandomBf16(ch, t, spec.seed())));
                weightMap.put(t.name(), spec.shardFileName(s));
            }
            SafetensorsWriter.write(dir.resolve(spec.shardFileName(s)), entries);
        }
        if (spec.shards() > 1) {
            JSON.writeValue(dir.resolve("model.safetensors.index.json").toFile(), index);
        }
    }

    /**
     * The tensor's elements as BF16: uniform with standard deviation {@link RandomLlamaSpec#WEIGHT_STD} around 0
     * for matrices, {@link RandomLlamaSpec#NORM_STD} around 1 for norm weights.
     */
    private static void writeRandomBf16(FileChannel ch, RandomLlamaSpec.Tensor t, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed ^ (t.name().hashCode() * 0x9E3779B97F4A7C15L));
        double std = t.norm() ? RandomLlamaSpec.NORM_STD : RandomLlamaSpec.WEIGHT_STD;
        float halfWidth = (float) (std * Math.sqrt(3));
        float center = t.norm() ? 1f : 0f;
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        long remaining = t.elements();
        while (remaining > 0) {
            int n = (int) Math.min(remaining, CHUNK_BYTES / 2);
            buf.clear();
            for (int i = 0; i < n; i++) {
                float u = (random.nextInt() >>> 8) * 0x1.0p-24f; // [0, 1)
                buf.putShort(toBf16(center + (2 * u - 1) * halfWidth));
            }
            buf.flip();
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            remaining -= n;
        }
    }

    /** Round to nearest even (finite inputs). */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    private static void writeConfigs(Path dir, RandomLlamaSpec spec) throws IOException {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("attention_bias", false);
        c.put("attention_dropout", 0.0);
        c.put("bos_token_id", RandomLlamaSpec.BOS_TOKEN_ID);
        c.put("eos_token_id", RandomLlamaSpec.END_OF_TEXT_TOKEN_ID);
        c.put("head_dim", spec.headDim());
        c.put("hidden_act", "silu");
        c.put("hidden_size", spec.hiddenSize());
        c.put("initializer_range", RandomLlamaSpec.WEIGHT_STD);
        c.put("intermediate_size", spec.intermediateSize());
        c.put("max_position_embeddings", spec.maxPositions());
        c.put("mlp_bias", false);
        c.put("model_type", "llama");
        c.put("num_attention_heads", spec.numHeads());
        c.put("num_hidden_layers", spec.numLayers());
        c.put("num_key_value_heads", spec.numKvHeads());
        c.put("pretraining_tp", 1);
        c.put("rms_norm_eps", 1e-5);
        ObjectNode rope = c.putObject("rope_scaling");
        rope.put("factor", 32.0);
        rope.put("high_freq_factor", 4.0);
        rope.put("low_freq_factor", 1.0);
        rope.put("original_max_position_embeddings", 8192);
        rope.put("rope_type", "llama3");
        c.put("rope_theta", 500000.0);
        c.put("tie_word_embeddings", true);
        c.put("torch_dtype", "bfloat16");
        c.put("transformers_version", "4.45.0");
        c.put("use_cache", true);
        c.put("vocab_size", spec.vocabSize());
        JSON.writeValue(dir.resolve("config.json").toFile(), c);

        ObjectNode g = JSON.createObjectNode();
        g.put("bos_token_id", RandomLlamaSpec.BOS_TOKEN_ID);
        g.putArray("eos_token_id").add(RandomLlamaSpec.END_OF_TEXT_TOKEN_ID).add(RandomLlamaSpec.EOT_TOKEN_ID);
        g.put("transformers_version", "4.45.0");
        JSON.writeValue(dir.resolve("generation_config.json").toFile(), g);
    }

    private static void copyTokenizer(Path from, Path to) throws IOException {
        Path gz = from.resolve("tokenizer.json.gz");
        if (Files.isRegularFile(gz)) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
                Files.copy(in, to.resolve("tokenizer.json"));
            }
        } else {
            Files.copy(from.resolve("tokenizer.json"), to.resolve("tokenizer.json"));
        }
        Files.copy(from.resolve("tokenizer_config.json"), to.resolve("tokenizer_config.json"));
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
