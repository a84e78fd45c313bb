package io.llmcluster.worker.tools;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.EngineStats;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.model.ModelDirectory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

/**
 * Engine benchmarks of the paged-KV / continuous-batching issue, on a model directory:
 * <ul>
 *   <li>{@code throughput}: N requests run one after another, then the same N at once; output tokens/s of
 *       both and their ratio (target ≥ 4× at N = 32 on 2 cores with the ~1B model);</li>
 *   <li>{@code prefix}: S shared system prompts × R requests, each a system prompt plus a unique suffix,
 *       submitted as one burst, with prefix caching off and on: hit rate and time to first token.</li>
 * </ul>
 * Usage: {@code EngineBench MODEL_DIR throughput N PROMPT_TOKENS OUTPUT_TOKENS}
 * or {@code EngineBench MODEL_DIR prefix SYSTEM_PROMPTS REQUESTS SYSTEM_TOKENS SUFFIX_TOKENS}.
 * Prints {@code key=value} lines that deploy/bench/engine-bench.sh tabulates.
 */
public final class EngineBench {
    private EngineBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 5 && args.length != 6) {
            System.err.println("usage: EngineBench MODEL_DIR throughput N PROMPT_TOKENS OUTPUT_TOKENS\n"
                    + "       EngineBench MODEL_DIR prefix SYSTEM_PROMPTS REQUESTS SYSTEM_TOKENS SUFFIX_TOKENS");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int[] n = Arrays.stream(args, 2, args.length).mapToInt(Integer::parseInt).toArray();
        try (ModelDirectory model = ModelDirectory.open(dir)) {
            switch (args[1]) {
                case "throughput" -> throughput(model, n[0], n[1], n[2]);
                case "prefix" -> prefix(model, n[0], n[1], n[2], n[3]);
                default -> throw new IllegalArgumentException("unknown benchmark " + args[1]);
            }
        }
    }

    private static void throughput(ModelDirectory model, int requests, int promptTokens, int outputTokens) throws Exception {
        List<int[]> prompts = new ArrayList<>();
        Random r = new Random(1);
        for (int i = 0; i < requests; i++) {
            prompts.add(randomTokens(r, promptTokens, model));
        }
        SamplingParams params = SamplingParams.builder().temperature(0).maxTokens(outputTokens).ignoreEos(true).build();
        try (CpuBackend backend = new CpuBackend(model, CpuBackendOptions.defaults().withMaxSequences(requests));
             Engine engine = new Engine(model, backend, EngineConfig.defaults().withMaxNumSeqs(requests).withPrefixCaching(false))) {
            run(engine, List.of(prompts.getFirst()), params); // warm-up
            long t0 = System.nanoTime();
            for (int[] p : prompts) {
                run(engine, List.of(p), params);
            }
            double sequential = (System.nanoTime() - t0) / 1e9;
            t0 = System.nanoTime();
            run(engine, prompts, params);
            double concurrent = (System.nanoTime() - t0) / 1e9;
            long tokens = (long) requests * outputTokens;
            System.out.printf("sequential_s=%.2f%nsequential_tok_s=%.2f%nconcurrent_s=%.2f%nconcurrent_tok_s=%.2f%nratio=%.2f%n",
                    sequential, tokens / sequential, concurrent, tokens / concurrent, sequential / concurrent);
            System.out.println("backend=" + backend.describe());
        }
    }

    private static void prefix(ModelDirectory model, int systemPrompts, int requests, int systemTokens, int suffixTokens)
            throws Exception {
        Random r = new Random(2);
        List<int[]> systems = new ArrayList<>();
        for (int i = 0; i < systemPrompts; i++) {
            systems.add(randomTokens(r, systemTokens, model));
        }
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            int[] p = Arrays.copyOf(systems.get(i % systemPrompts), systemTokens + suffixTokens);
            System.arraycopy(randomTokens(r, suffixTokens, model), 0, p, systemTokens, suffixTokens);
            prompts.add(p);
        }
        SamplingParams params = SamplingParams.builder().temperature(0).maxTokens(1).ignoreEos(true).build();
        for (boolean caching : new boolean[] {false, true}) {
            try (CpuBackend backend = new CpuBackend(model, CpuBackendOptions.defaults().withMaxSequences(requests));
                 Engine engine = new Engine(model, backend, EngineConfig.defaults().withMaxNumSeqs(requests).withPrefixCaching(caching))) {
                run(engine, List.of(randomTokens(r, systemTokens + suffixTokens, model)), params); // warm-up
                EngineStats before = engine.stats();
                long t0 = System.nanoTime();
                double[] ttft = run(engine, prompts, params);
                double wall = (System.nanoTime() - t0) / 1e9;
                Arrays.sort(ttft);
                EngineStats s = engine.stats();
                String tag = caching ? "cached" : "uncached";
                double hitRate = (double) (s.prefixHitTokens() - before.prefixHitTokens())
                        / Math.max(1, s.prefixQueryTokens() - before.prefixQueryTokens());
                System.out.printf("%s_hit_rate=%.3f%n%s_ttft_mean_s=%.3f%n%s_ttft_p50_s=%.3f%n%s_ttft_p90_s=%.3f%n%s_wall_s=%.2f%n",
                        tag, hitRate, tag, Arrays.stream(ttft).average().orElse(0), tag, ttft[ttft.length / 2],
                        tag, ttft[(int) (ttft.length * 0.9)], tag, wall);
            }
        }
    }

    /** Submits all prompts at once and waits; returns each request's time to first token in seconds. */
    private static double[] run(Engine engine, List<int[]> prompts, SamplingParams params) throws Exception {
        double[] ttft = new double[prompts.size()];
        List<CompletableFuture<Void>> done = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            int index = i;
            long submitNs = System.nanoTime();
            CompletableFuture<Void> f = new CompletableFuture<>();
            engine.submit(prompts.get(i), params, (TokenChunk c) -> {
                if (ttft[index] == 0) {
                    ttft[index] = (System.nanoTime() - submitNs) / 1e9;
                }
                if (c.isLast()) {
                    f.complete(null);
                }
            });
            done.add(f);
        }
        CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).get();
        return ttft;
    }

    /** Random ordinary tokens (special tokens sit at the top of these vocabularies: keep below them). */
    private static int[] randomTokens(Random r, int n, ModelDirectory model) {
        int ordinary = Math.max(2, model.config().vocabSize() - 16);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(ordinary);
        }
        return t;
    }
}
