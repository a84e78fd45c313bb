package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.model.ModelConfig;
import io.llmcluster.worker.model.ModelDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The calibration pass of W8A8 SmoothQuant, run at load before the quantized backend starts: the model in the run
 * dtype (a short-lived 16-bit {@link CudaBackend}: no graphs, no autotuner, a KV pool for one calibration prompt)
 * prefills the calibration tokens while a {@link Probe} folds the column maxima of the inputs of q|k|v and gate|up
 * (the RMSNorm outputs) into device vectors; the same backend's 16-bit weights give the weight column maxima. The
 * backend is closed before the quantized one opens, so the peak device memory is the 16-bit model's.
 *
 * <p>Tokens: the lines of {@link CudaQuantization.W8a8#calibrationText()} as separate prompts (real checkpoints),
 * or random token ids from a fixed seed (random-weight models, where no text is more typical than another), up to
 * {@link CudaQuantization.W8a8#calibrationTokens()} in all.
 */
final class SmoothQuantCalibration {
    /** Tokens per random calibration prompt. */
    static final int RANDOM_PROMPT_TOKENS = 256;
    private static final long RANDOM_SEED = 0x5EED_0F_CA1BL;

    /**
     * Per layer and column: the activation maxima at the inputs of q|k|v and gate|up and the weight maxima of those
     * matrices over all their output rows.
     */
    record Stats(float[][] qkvInput, float[][] gateUpInput, float[][] qkvWeight, float[][] gateUpWeight, int tokens) {}

    private SmoothQuantCalibration() {}

    /** Hooked into {@link CudaBackend#queueStep}: folds the column maxima of a projection input into the device vectors. */
    static final class Probe {
        static final int QKV = 0;
        static final int GATE_UP = 1;
        private final W8a8Kernels k;
        private final long base;
        private final int hidden;

        Probe(W8a8Kernels k, long base, int hidden) {
            this.k = k;
            this.base = base;
            this.hidden = hidden;
        }

        void record(int layer, int which, long x, int rows) {
            k.colAbsmax(x, base + 4L * hidden * (2L * layer + which), rows, hidden);
        }
    }

    static Stats collect(ModelDirectory model, CudaBackendOptions o, PrintStream log) {
        CudaQuantization.W8a8 q = o.quantization().w8a8();
        ModelConfig c = model.config();
        int[][] prompts = prompts(model, q);
        int longest = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElseThrow();
        long perBlock = 2L * c.numLayers() * o.kvBlockSize() * c.kvDim() * o.dtype().bytes();
        long kvBytes = ((longest + o.kvBlockSize() - 1) / o.kvBlockSize() + 2) * perBlock;
        CudaBackendOptions co = o.withQuantization(CudaQuantization.NONE).withAutotune(CudaBackendOptions.Autotune.OFF)
                .withCudaGraphs(false).withMaxSequences(1).withKvCacheBytes(kvBytes);
        long start = System.nanoTime();
        int layers = c.numLayers();
        int h = c.hiddenSize();
        try (CudaBackend b = new CudaBackend(model, co)) {
            CudaContext ctx = b.context();
            ctx.makeCurrent();
            W8a8Kernels k = new W8a8Kernels(ctx, o.dtype());
            long floats = 4L * layers * h; // [qkv input, gate_up input] per layer, then [qkv weight, gate_up weight]
            try (DeviceArena maxima = DeviceArena.allocate(4 * floats + 256); Arena host = Arena.ofConfined()) {
                long base = maxima.take(4 * floats, "calibration maxima");
                ctx.fill32(maxima, base, 0, floats);
                b.setCalibrationProbe(new Probe(k, base, h));
                int tokens = 0;
                try {
                    tokens = run(b, prompts);
                } finally {
                    b.setCalibrationProbe(null);
                }
                CudaWeights w = b.weights();
                long weights = base + 4L * 2 * layers * h;
                for (int l = 0; l < layers; l++) {
                    k.colAbsmax(w.qkv[l].data(), weights + 4L * h * (2L * l), w.qkv[l].rows(), h);
                    k.colAbsmax(w.gateUp[l].data(), weights + 4L * h * (2L * l + 1), w.gateUp[l].rows(), h);
                }
                MemorySegment all = host.allocate(4 * floats, 64);
                ctx.copyToHost(maxima, base, all);
                float[] f = all.toArray(JAVA_FLOAT);
                Stats s = new Stats(slice(f, 0, layers, h), slice(f, 1, layers, h), slice(f, 2 * layers, layers, h),
                        slice(f, 2 * layers + 1, layers, h), tokens);
                log.printf("[w8a8] calibrated on %d tokens (%s) in %.1f s%n", tokens,
                        q.calibrationText() == null ? "random token ids" : q.calibrationText().toString(),
                        (System.nanoTime() - start) / 1e9);
                return s;
            }
        }
    }

    /** Rows {@code first}, {@code first + 2}, ... of {@code layers} rows of {@code h} floats. */
    private static float[][] slice(float[] f, int first, int layers, int h) {
        float[][] out = new float[layers][];
        for (int l = 0; l < layers; l++) {
            int at = (first + 2 * l) * h;
            out[l] = Arrays.copyOfRange(f, at, at + h);
        }
        return out;
    }

    /** Prefills every prompt (each from position 0, in chunks of the batch size); returns the tokens run. */
    private static int run(CudaBackend b, int[][] prompts) {
        int[] table = new int[b.numKvBlocks()];
        Arrays.setAll(table, i -> i);
        ForwardBatch batch = new ForwardBatch(b.maxBatchTokens(), 1);
        int tokens = 0;
        for (int[] p : prompts) {
            int len = Math.min(p.length, b.maxContextTokens() - 1);
            for (int from = 0; from < len; from += b.maxBatchTokens()) {
                int n = Math.min(b.maxBatchTokens(), len - from);
                batch.clear();
                batch.addSequence(p, from, n, from, table, ForwardBatch.Logits.LAST);
                b.forward(batch);
                tokens += n;
            }
        }
        return tokens;
    }

    /** The calibration prompts as token ids (see the class comment). */
    static int[][] prompts(ModelDirectory model, CudaQuantization.W8a8 q) {
        int budget = q.calibrationTokens();
        int longest = Math.min(RANDOM_PROMPT_TOKENS, model.config().maxContextTokens() - 1);
        List<int[]> out = new ArrayList<>();
        if (q.calibrationText() == null) {
            Random r = new Random(RANDOM_SEED);
            int vocab = model.config().vocabSize();
            for (int left = budget; left > 0; left -= longest) {
                int[] p = new int[Math.min(left, longest)];
                Arrays.setAll(p, i -> r.nextInt(vocab));
                out.add(p);
            }
            return out.toArray(int[][]::new);
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(q.calibrationText());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the W8A8 calibration text " + q.calibrationText() + ": " + e, e);
        }
        int left = budget;
        for (String line : lines) {
            if (left <= 0) {
                break;
            }
            if (line.isBlank()) {
                continue;
            }
            int[] ids = model.tokenizer().encode(line);
            int n = Math.min(ids.length, Math.min(left, model.config().maxContextTokens() - 1));
            out.add(Arrays.copyOf(ids, n));
            left -= n;
        }
        int total = budget - left;
        if (total < 16) {
            throw new IllegalArgumentException("the W8A8 calibration text " + q.calibrationText() + " gives " + total
                    + " tokens; at least 16 are needed (one prompt per line)");
        }
        return out.toArray(int[][]::new);
    }
}
