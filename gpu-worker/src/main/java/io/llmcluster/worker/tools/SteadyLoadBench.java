package io.llmcluster.worker.tools;

import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.backend.StepTimes;
import io.llmcluster.worker.backend.TimedBackend;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.cuda.CudaBackend;
import io.llmcluster.worker.cuda.CudaBackendOptions;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.SteadyLoad;
import io.llmcluster.worker.model.ModelDirectory;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Inter-token latency under a steady load (issue #6: "ITL p50 and p99 under a steady load of 64 streams", target
 * p99/p50 ≤ 1.25): {@link SteadyLoad} on one backend, once per prefill cap while decoding, each on a fresh
 * {@link Engine} (2048 batched tokens on CUDA, 512 on the CPU; prefix caching off, random prompts).
 *
 * <p>Usage: {@code SteadyLoadBench MODEL_DIR cpu|cuda [STREAMS=64] [CAPS=off,auto] [WINDOW_S=15] [WARMUP_S=5]
 * [MIN_PROMPT=128] [MAX_PROMPT=512] [OUTPUT=128]}; CAPS is a comma list of {@code off}, {@code auto} (the backend's
 * choice) or token counts. Prints {@code key=value} lines, {@code steady_c<STREAMS>_cap<N>_...}, and one summary line
 * per cap. An unmeasured run of WARMUP_S (at least 1 s) comes first, for the JIT and the first graph captures.
 */
public final class SteadyLoadBench {
    private SteadyLoadBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || !(args[1].equals("cpu") || args[1].equals("cuda"))) {
            System.err.println("usage: SteadyLoadBench MODEL_DIR cpu|cuda [STREAMS=64] [CAPS=off,auto] [WINDOW_S=15]"
                    + " [WARMUP_S=5] [MIN_PROMPT=128] [MAX_PROMPT=512] [OUTPUT=128]");
            System.exit(2);
        }
        boolean cuda = args[1].equals("cuda");
        int streams = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        String[] caps = (args.length > 3 ? args[3] : "off,auto").split(",");
        double window = args.length > 4 ? Double.parseDouble(args[4]) : 15;
        double warmup = args.length > 5 ? Double.parseDouble(args[5]) : 5;
        int minPrompt = args.length > 6 ? Integer.parseInt(args[6]) : 128;
        int maxPrompt = args.length > 7 ? Integer.parseInt(args[7]) : 512;
        int output = args.length > 8 ? Integer.parseInt(args[8]) : 128;
        SteadyLoad.Options options = new SteadyLoad.Options(streams, minPrompt, maxPrompt, output, warmup, window, 6);
        int batchTokens = cuda ? 2048 : 512;
        try (ModelDirectory model = ModelDirectory.open(Path.of(args[0]));
             ModelBackend backend = cuda
                     ? new CudaBackend(model, CudaBackendOptions.defaults().withMaxBatchTokens(batchTokens).withMaxSequences(streams))
                     : new CpuBackend(model, CpuBackendOptions.defaults().withMaxBatchTokens(batchTokens).withMaxSequences(streams))) {
            kv("steady_backend", backend.describe());
            kv("steady_cap_auto", backend.preferredPrefillTokensWhileDecoding());
            kv("steady_workload", minPrompt + "-" + maxPrompt + " in / " + output + " out");
            TimedBackend timed = new TimedBackend(backend);
            // JIT, first CUDA graph captures: one unmeasured run, so the first cap measured starts as warm as the others
            try (Engine engine = new Engine(model, timed, engineConfig(streams, batchTokens, 0))) {
                long t0 = System.nanoTime();
                SteadyLoad.run(engine, backend.vocabSize(), new SteadyLoad.Options(streams, minPrompt, maxPrompt, output,
                        0, Math.max(1, warmup), 7), null);
                kv("steady_jit_warmup_s", (System.nanoTime() - t0) / 1e9);
            }
            Set<Integer> done = new LinkedHashSet<>();
            for (String c : caps) {
                int cap = EngineConfig.parsePrefillCap(c);
                int resolved = cap == EngineConfig.PREFILL_CAP_AUTO ? backend.preferredPrefillTokensWhileDecoding() : cap;
                if (!done.add(resolved)) {
                    continue; // auto named a cap already measured
                }
                try (Engine engine = new Engine(model, timed, engineConfig(streams, batchTokens, resolved))) {
                    String tag = "steady_c" + streams + "_cap" + resolved;
                    SteadyLoad.Result r = SteadyLoad.run(engine, backend.vocabSize(), options, timed::forwardNanos);
                    report(tag, r, resolved, options);
                    reportSteps(tag, timed.stepTimes().byPrefillTokens(r.windowStartNs(), r.windowEndNs(), STEP_GROUPS));
                }
            }
        }
    }

    private static EngineConfig engineConfig(int streams, int batchTokens, int prefillCap) {
        return EngineConfig.defaults().withMaxNumSeqs(streams).withMaxNumBatchedTokens(batchTokens).withPrefixCaching(false)
                .withMaxPrefillTokensWhileDecoding(prefillCap);
    }

    private static void report(String tag, SteadyLoad.Result r, int cap, SteadyLoad.Options o) {
        kv(tag + "_tok_s", r.outputTokensPerSecond());
        kv(tag + "_itl_mean_ms", r.itlMeanMs());
        kv(tag + "_itl_p50_ms", r.itlP50Ms());
        kv(tag + "_itl_p90_ms", r.itlP90Ms());
        kv(tag + "_itl_p99_ms", r.itlP99Ms());
        kv(tag + "_itl_p999_ms", r.itlP999Ms());
        kv(tag + "_itl_max_ms", r.itlMaxMs());
        kv(tag + "_itl_p99_over_p50", r.itlP99OverP50());
        kv(tag + "_ttft_p50_ms", r.ttftP50Ms());
        kv(tag + "_ttft_p99_ms", r.ttftP99Ms());
        kv(tag + "_completed", r.completed());
        kv(tag + "_errors", r.errors());
        kv(tag + "_step_ms", r.stepMs());
        kv(tag + "_prompt_tokens_per_step", r.steps() == 0 ? Double.NaN : (double) r.promptTokens() / r.steps());
        kv(tag + "_backend_busy_frac", r.backendBusyFraction());
        kv(tag + "_fill_phase_steps", r.fillPhaseSteps());
        kv(tag + "_window_s", r.windowSeconds());
        System.out.printf("[steady] %d streams, prompts %d..%d, %d out, prefill cap while decoding %s: %.0f tok/s, ITL p50 %.2f"
                        + " / p99 %.2f ms (p99/p50 %.2f, max %.1f), TTFT p50 %.0f ms, %.2f ms/step, %.0f prompt tokens/step,"
                        + " backend busy %.1f%%, %d errors%n", r.streams(), o.minPrompt(), o.maxPrompt(), o.outputTokens(),
                cap == 0 ? "off" : String.valueOf(cap), r.outputTokensPerSecond(), r.itlP50Ms(), r.itlP99Ms(),
                r.itlP99OverP50(), r.itlMaxMs(), r.ttftP50Ms(), r.stepMs(),
                r.steps() == 0 ? Double.NaN : (double) r.promptTokens() / r.steps(), 100 * r.backendBusyFraction(), r.errors());
        System.out.flush();
    }

    /** Prompt tokens a step carried besides its decodes (see {@link StepTimes}): groups 0, 1-63, 64-127, ... 256+. */
    private static final int[] STEP_GROUPS = {1, 64, 128, 192, 256};

    /** Step time by the prompt work the step carried: whether the ITL tail is the heavy steps or something else. */
    private static void reportSteps(String tag, List<StepTimes.Group> groups) {
        for (StepTimes.Group g : groups) {
            String key = tag + "_steps_prefill_" + g.label().replace("+", "plus");
            kv(key + "_n", g.steps());
            kv(key + "_mean_ms", g.meanMs());
            kv(key + "_p50_ms", g.p50Ms());
            kv(key + "_p99_ms", g.p99Ms());
            kv(key + "_max_ms", g.maxMs());
            System.out.printf("[steady]   steps with %s prompt tokens: %d, mean %.2f / p50 %.2f / p99 %.2f / max %.2f ms%n",
                    g.label(), g.steps(), g.meanMs(), g.p50Ms(), g.p99Ms(), g.maxMs());
        }
        System.out.flush();
    }

    private static void kv(String key, Object value) {
        String v = value instanceof Double d ? String.format("%.4f", d) : String.valueOf(value);
        System.out.println(key + "=" + v);
        System.out.flush();
    }
}
