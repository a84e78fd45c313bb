package io.llmcluster.cluster.bench;

import io.llmcluster.worker.tools.MakeRandomModel;
import io.llmcluster.worker.tools.RandomLlamaSpec;
import java.nio.file.Path;

/**
 * Writes the cluster benchmark's model (not a test): a small random-weight Llama (hidden 512, MLP 1536, 8 layers,
 * 8 query heads over 4 KV heads, the 32k tokenizer, 4096 positions; about 41 M parameters, 82 MB of BF16) through
 * {@link MakeRandomModel}. Small enough that three CPU workers share two cores, big enough that prefilling a long
 * system prompt costs far more than the HTTP and actor hops around it, so TTFT measures the prefix cache.
 *
 * <pre>MakeBenchModel OUT_DIR TOKENIZER_DIR</pre>
 */
public final class MakeBenchModel {
    private MakeBenchModel() {}

    public static RandomLlamaSpec spec() {
        return new RandomLlamaSpec(512, 1536, 8, 8, 4, 32000, 4096, 1, 20261129L);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: MakeBenchModel OUT_DIR TOKENIZER_DIR");
            System.exit(2);
        }
        RandomLlamaSpec spec = spec();
        boolean made = MakeRandomModel.make(Path.of(args[0]), Path.of(args[1]), spec);
        System.err.printf("[make-bench-model] %s %s (%.1f M parameters)%n", made ? "wrote" : "up to date:", args[0],
                spec.parameters() / 1e6);
    }
}
