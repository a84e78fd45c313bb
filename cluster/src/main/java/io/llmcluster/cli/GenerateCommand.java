package io.llmcluster.cli;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.node.DeviceChoice;
import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.cuda.CudaBackendOptions;
import io.llmcluster.worker.cuda.CudaQuantization;
import io.llmcluster.worker.cuda.GemmChoice;
import io.llmcluster.worker.cuda.CudaDtype;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.EngineStats;
import io.llmcluster.worker.model.ModelDirectory;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code llmc generate}: one prompt in, tokens printed as they are produced. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate a continuation of a prompt and print it as it is produced.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (default: the embedded tiny Llama)")
    Path model;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The prompt")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "64", description = "Tokens to generate at most (default ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "1.0", description = "0 = greedy (default ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--top-k", defaultValue = "-1", description = "Keep the k most likely tokens (-1 = off)")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass in (0, 1]")
    double topP;

    @Option(names = "--min-p", defaultValue = "0.0", description = "Drop tokens below min-p × the top probability")
    double minP;

    @Option(names = "--repetition-penalty", defaultValue = "1.0", description = "> 1 discourages repeats (1 = off)")
    double repetitionPenalty;

    @Option(names = "--presence-penalty", defaultValue = "0.0", description = "In [-2, 2]")
    double presencePenalty;

    @Option(names = "--frequency-penalty", defaultValue = "0.0", description = "In [-2, 2]")
    double frequencyPenalty;

    @Option(names = "--seed", description = "Seed for reproducible sampling")
    Long seed;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop string (repeatable)")
    List<String> stop = new ArrayList<>();

    @Option(names = "--stop-token-id", paramLabel = "ID", description = "Stop token id (repeatable)")
    List<Integer> stopTokenIds = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Keep generating past end-of-sequence tokens")
    boolean ignoreEos;

    @Option(names = "--quantize", paramLabel = "int8|w8a8", description = "Quantize at load: int8 (weight-only; "
            + "per output channel unless --int8-group-size) or w8a8 (CUDA only: SmoothQuant, INT8 weights and activations, "
            + "INT8 tensor-core GEMMs; calibrated at load)")
    String quantize;

    @Mixin
    QuantizeOptions w8a8Options;

    @Option(names = "--int8-group-size", defaultValue = "0", paramLabel = "N",
            description = "CUDA: one INT8 scale per N input columns (a multiple of 16; 0 = per output channel, the default)")
    int int8GroupSize;

    @Option(names = "--retune", description = "CUDA: time the projection kernels again and rewrite the autotune cache "
            + "(~/.cache/llmcluster/autotune-<gpu>-<driver>.json)")
    boolean retune;

    @Option(names = "--no-autotune", description = "CUDA: no autotuner; fixed kernel choices")
    boolean noAutotune;

    @Option(names = "--threads", description = "CPU threads (default: all cores)")
    Integer threads;

    @Option(names = "--device", defaultValue = "auto",
            description = "auto | cuda | cpu (auto: CUDA when a usable GPU is found, else the CPU; it says which)")
    String device;

    @Option(names = "--dtype", defaultValue = "fp16", description = "CUDA run dtype: fp16 | bf16 (default ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--gemm", defaultValue = "auto",
            description = "CUDA GEMM: auto | cublas | mma (mma: the project's tensor-core kernel; auto: the autotuner "
                    + "chooses per shape for 1..64 tokens, cuBLAS above)")
    String gemm;

    @Option(names = "--kv-cache-dtype", paramLabel = "auto|int8", defaultValue = "auto",
            description = "KV cache storage: auto = the run dtype (FP32 on the CPU, FP16/BF16 on CUDA); int8 = a byte "
                    + "per element plus an FP32 scale per token and kv head: ~2x the KV blocks (~4x on the CPU)")
    String kvCacheDtype;

    @Option(names = "--concurrency", defaultValue = "1", description = "Run N copies of the prompt at once (seeds seed+i)")
    int concurrency;

    @Option(names = "--max-prefill-tokens-while-decoding", defaultValue = "auto", paramLabel = "auto|off|N",
            description = "Prompt tokens per engine step while streams decode (auto = 256 on CUDA, off on the CPU)")
    String maxPrefillTokensWhileDecoding;

    @Override
    public Integer call() throws Exception {
        if (concurrency < 1) {
            throw new IllegalArgumentException("--concurrency must be >= 1, got " + concurrency);
        }
        int prefillCap = EngineConfig.parsePrefillCap(maxPrefillTokensWhileDecoding);
        SamplingParams params = samplingParams();
        CpuBackendOptions options = backendOptions();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (ModelDirectory dir = model == null ? ModelDirectory.openDefault() : ModelDirectory.open(model);
             ModelBackend backend = openBackend(dir, options);
             Engine engine = new Engine(dir, backend, EngineConfig.defaults().withMaxNumSeqs(Math.max(64, concurrency))
                     .withMaxPrefillTokensWhileDecoding(prefillCap))) {
            System.err.println("[llmc] model " + dir.modelId() + " (" + dir.config().architecture().hfClassName()
                    + ") on " + backend.describe());
            int[] ids = dir.tokenizer().encode(prompt);
            long startNs = System.nanoTime();
            List<GeneratedText> runs = new ArrayList<>();
            for (int i = 0; i < concurrency; i++) {
                SamplingParams p = seed == null ? params : params.toBuilder().seed(seed + i).build();
                GeneratedText run = new GeneratedText(concurrency == 1 ? out : null);
                if (concurrency == 1) {
                    out.print(prompt);
                }
                engine.submit(ids, p, run);
                runs.add(run);
            }
            int generated = 0;
            for (int i = 0; i < runs.size(); i++) {
                GeneratedText r = runs.get(i).await();
                generated += r.completionTokens();
                if (concurrency > 1) {
                    out.println("[" + (i + 1) + "] " + prompt + r.text());
                } else {
                    out.println();
                }
            }
            double seconds = (System.nanoTime() - startNs) / 1e9;
            EngineStats s = engine.stats();
            System.err.printf("[llmc] %d × %d prompt tokens, %d generated in %.2f s (%.1f tok/s; finish: %s); "
                            + "engine prefill %.1f tok/s, decode %.1f tok/s, prefix hit rate %.2f%n",
                    concurrency, ids.length, generated, seconds, generated / seconds,
                    runs.getFirst().finishReason().apiName(), s.prefillTokensPerSecond(), s.decodeTokensPerSecond(),
                    s.prefixHitRate());
        }
        return 0;
    }

    private SamplingParams samplingParams() {
        return SamplingParams.builder()
                .maxTokens(maxTokens)
                .temperature(temperature)
                .topK(topK)
                .topP(topP)
                .minP(minP)
                .repetitionPenalty(repetitionPenalty)
                .presencePenalty(presencePenalty)
                .frequencyPenalty(frequencyPenalty)
                .seed(seed == null ? OptionalLong.empty() : OptionalLong.of(seed))
                .stopStrings(stop)
                .stopTokenIds(stopTokenIds)
                .ignoreEos(ignoreEos)
                .build();
    }

    private ModelBackend openBackend(ModelDirectory dir, CpuBackendOptions cpu) {
        return DeviceChoice.parse(device).open(dir, cpu, this::cudaOptions);
    }

    private CudaBackendOptions cudaOptions() {
        CudaBackendOptions.Autotune tune = noAutotune ? CudaBackendOptions.Autotune.OFF
                : retune ? CudaBackendOptions.Autotune.RETUNE : CudaBackendOptions.Autotune.ON;
        return CudaBackendOptions.defaults().withDtype(CudaDtype.parse(dtype)).withGemm(GemmChoice.parse(gemm))
                .withMaxSequences(Math.max(64, concurrency)).withQuantization(quantization())
                .withAutotune(tune).withKvCacheDtype(KvCacheDtype.parse(kvCacheDtype));
    }

    /** Read once (the options and the calibration file's readability checked then), used by both backends' options. */
    private CudaQuantization quantization() {
        if (quantization == null) {
            quantization = w8a8Options.parse(quantize, int8GroupSize, device);
        }
        return quantization;
    }

    private CudaQuantization quantization;

    private CpuBackendOptions backendOptions() {
        DeviceChoice.parse(device); // a clear error for an unknown device before anything loads
        quantization(); // a clear error for a bad value before anything loads
        if (retune && noAutotune) {
            throw new IllegalArgumentException("--retune and --no-autotune contradict each other");
        }
        CpuBackendOptions o = CpuBackendOptions.defaults().withQuantizeInt8(quantize != null)
                .withKvCacheDtype(KvCacheDtype.parse(kvCacheDtype)); // a clear error for a bad value before anything loads
        return threads == null ? o : o.withThreads(threads);
    }
}
