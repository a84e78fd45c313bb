package io.llmcluster.worker.cuda;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.model.ModelDirectory;
import java.nio.file.Path;
import java.util.Arrays;
import jcuda.driver.CUevent;

/**
 * The projection benchmark of issue #6 (deploy/gpu/bench-gpu.sh runs it after GpuBench): for FP16 weights and
 * INT8 weight-only (per channel and per group of 128), batch-1 decode ms per token (CUDA graphs, autotuned
 * projections) and every projection shape's read bandwidth at M = 1..64 tokens through the chosen kernel, cuBLAS,
 * and the best own kernel (GEMV or skinny GEMM configuration), with the autotuner's choice. Prints {@code key=value} lines.
 * M = 1 is also timed with the repetitions launched as programmatic dependents of each other ({@code _pdl_gbs}: each
 * kernel's first weight loads overlap the previous one's tail, as in a decode step's chain).
 * Usage: {@code ProjectionBench MODEL_DIR [modes, default f16,int8-ch,int8-g128] [token counts, default 1,2,4,...,64]}.
 */
public final class ProjectionBench {
    private static final String[] NAMES = {"qkv", "o", "gate_up", "down", "lm_head"};
    private static final int[] MS = {1, 2, 4, 8, 16, 32, 64};

    private ProjectionBench() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        String[] modes = (args.length > 1 ? args[1] : "f16,int8-ch,int8-g128").split(",");
        int[] tokenCounts = args.length > 2 ? Arrays.stream(args[2].split(",")).mapToInt(Integer::parseInt).toArray() : MS;
        double f16Ms = Double.NaN;
        for (String mode : modes) {
            CudaQuantization q = switch (mode) {
                case "f16" -> CudaQuantization.NONE;
                case "int8-ch" -> CudaQuantization.int8PerChannel();
                default -> CudaQuantization.int8Groups(Integer.parseInt(mode.substring("int8-g".length())));
            };
            long t0 = System.nanoTime();
            try (ModelDirectory model = ModelDirectory.open(dir);
                 CudaBackend be = new CudaBackend(model, CudaBackendOptions.defaults().withMaxBatchTokens(2048)
                         .withMaxSequences(64).withKvMemoryFraction(0.1).withQuantization(q))) {
                GpuBench.kv(mode + "_load_s", (System.nanoTime() - t0) / 1e9);
                GpuBench.kv(mode + "_backend", be.describe());
                double ms = decodeMs(be, 128, 64);
                GpuBench.kv(mode + "_decode_b1_ms", ms);
                fusionVariants(be, mode);
                if (mode.equals("f16")) {
                    f16Ms = ms;
                } else if (!Double.isNaN(f16Ms)) {
                    GpuBench.kv(mode + "_decode_b1_speedup_vs_f16", f16Ms / ms);
                }
                double[] m1 = sweep(be, tokenCounts, mode + "_");
                // where a batch-1 step goes: the projections at their measured M = 1 device times, the rest is
                // norms, RoPE + KV write, attention, SwiGLU, embedding and the launch gaps of the graph
                int layers = model.config().numLayers();
                double proj = layers * (m1[CudaWeights.SHAPE_QKV] + m1[CudaWeights.SHAPE_O] + m1[CudaWeights.SHAPE_GATE_UP]
                        + m1[CudaWeights.SHAPE_DOWN]) + m1[CudaWeights.SHAPE_LM_HEAD];
                GpuBench.kv(mode + "_decode_b1_projections_ms", proj);
                GpuBench.kv(mode + "_decode_b1_other_ms", ms - proj);
            }
        }
    }

    /**
     * Batch-1 decode ms with programmatic dependent launches and the fused SwiGLU each off and on (the default is both
     * on), so one run shows what each saves; leaves the defaults.
     */
    static void fusionVariants(CudaBackend be, String mode) {
        String[] names = {"ordered_unfused", "pdl_only", "fused_only"};
        boolean[][] v = {{false, false}, {true, false}, {false, true}};
        for (int i = 0; i < v.length; i++) {
            be.setFusion(v[i][0], v[i][1]);
            GpuBench.kv(mode + "_decode_b1_" + names[i] + "_ms", decodeMs(be, 128, 64));
        }
        be.setFusion(true, true);
        GpuBench.kv(mode + "_decode_b1_pdl_launches", be.context().dependentLaunch().launches());
    }

    /** Batch-1 decode wall ms per step (graphs on) after a {@code prompt}-token prefill. */
    static double decodeMs(CudaBackend be, int prompt, int steps) {
        int bs = be.kvBlockSize();
        int[] table = new int[(prompt + steps + 8 + bs - 1) / bs];
        for (int i = 0; i < table.length; i++) {
            table[i] = i;
        }
        int[] tokens = new int[prompt];
        for (int i = 0; i < prompt; i++) {
            tokens[i] = (i * 7919) % (be.vocabSize() - 16);
        }
        ForwardBatch fb = new ForwardBatch(2048, 64);
        fb.addSequence(tokens, 0, prompt, 0, table, ForwardBatch.Logits.LAST);
        be.forward(fb);
        int[] id = {17};
        int pos = prompt;
        for (int i = 0; i < 4; i++) {
            fb.clear();
            fb.addSequence(id, 0, 1, pos++, table, ForwardBatch.Logits.LAST);
            be.forward(fb);
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            fb.clear();
            fb.addSequence(id, 0, 1, pos++, table, ForwardBatch.Logits.LAST);
            be.forward(fb);
        }
        return (System.nanoTime() - t0) / 1e6 / steps;
    }

    /**
     * Returns each shape's M = 1 device ms. For each shape and M: GB/s (weight bytes read / time) of the kernel the backend uses ("ours"), of cuBLAS
     * (16-bit weights) or dequantize + cuBLAS (INT8), and of the fastest GEMV configuration, plus the kernel used.
     */
    static double[] sweep(CudaBackend be, int[] ms, String prefix) {
        double[] m1Ms = new double[CudaWeights.SHAPES];
        Projections p = be.projections();
        long[] scratch = be.gemmScratch();
        int e = be.kernels().dtype().bytes();
        for (DeviceMatrix[] copies : be.weights().byShape()) {
            DeviceMatrix w = copies[0];
            double bytes = w.bytesRead(e);
            for (int m : ms) {
                if (m > be.maxBatchTokens()) {
                    continue;
                }
                String tag = prefix + "gemv_" + NAMES[w.shape()] + "_m" + m;
                ProjectionKernel used = p.kernelFor(w, m);
                ProjectionKernel large = w.int8() ? ProjectionKernel.W8_DEQUANT_CUBLAS : ProjectionKernel.CUBLAS;
                double best = Double.MAX_VALUE;
                ProjectionKernel bestGemv = null;
                for (ProjectionKernel k : AutotunePolicy.candidates(w.int8(), w.group(), m, w.cols())) {
                    if (k.warpsPerRow > 0) {
                        double t = time(be, i -> p.run(k, scratch[0], copies[i % copies.length], scratch[1], m, true));
                        if (m == 1) {
                            GpuBench.kv(tag + "_" + k.label() + "_gbs", bytes / t / 1e6); // every own kernel at M = 1
                        }
                        if (t < best) {
                            best = t;
                            bestGemv = k;
                        }
                    }
                }
                double ours = time(be, i -> p.run(used, scratch[0], copies[i % copies.length], scratch[1], m, true));
                if (m == 1) {
                    m1Ms[w.shape()] = ours;
                    double chained = timeChained(be, i -> p.run(used, scratch[0], copies[i % copies.length], scratch[1], m, true));
                    GpuBench.kv(tag + "_ours_pdl_gbs", bytes / chained / 1e6);
                }
                double lib = time(be, i -> p.run(large, scratch[0], copies[i % copies.length], scratch[1], m, true));
                GpuBench.kv(tag + "_kernel", used.label());
                GpuBench.kv(tag + "_ours_gbs", bytes / ours / 1e6);
                GpuBench.kv(tag + "_" + (w.int8() ? "dequant_cublas" : "cublas") + "_gbs", bytes / lib / 1e6);
                if (bestGemv != null) {
                    GpuBench.kv(tag + "_best_own", bestGemv.label() + " " + String.format("%.0f", bytes / best / 1e6));
                }
                if (w.int8() && m == 1) {
                    // the same bytes streamed by the 16-bit GEMV (the INT8 rows read as rows of cols / 2 halves; values
                    // do not matter): what the INT8 kernels could reach if dequantizing cost nothing
                    double stream = Double.MAX_VALUE;
                    for (int r : new int[] {1, 2, 4, 8}) {
                        stream = Math.min(stream, time(be, i -> be.kernels().gemv(scratch[0], copies[i % copies.length].data(),
                                scratch[1], 1, w.cols() / 2, w.rows(), true, r)));
                    }
                    GpuBench.kv(tag + "_same_bytes_f16_gemv_gbs", (double) w.rows() * w.cols() / stream / 1e6);
                }
            }
        }
        return m1Ms;
    }

    /**
     * Milliseconds per run of device time, median of 3 timings of 20 runs each queued behind a spin (see Autotuner);
     * run i gets index i (callers rotate through the layers' copies of a matrix, so it is not read from L2).
     */
    static double timeChained(CudaBackend be, java.util.function.IntConsumer work) {
        DependentLaunch d = be.context().dependentLaunch();
        d.beginStep();
        try {
            return time(be, work);
        } finally {
            d.endStep();
        }
    }

    static double time(CudaBackend be, java.util.function.IntConsumer work) {
        CudaContext ctx = be.context();
        work.accept(0);
        double[] t = new double[3];
        CUevent a = ctx.newEvent();
        CUevent z = ctx.newEvent();
        for (int i = 0; i < t.length; i++) {
            be.kernels().spin(1_000_000L);
            ctx.record(a);
            for (int r = 0; r < 20; r++) {
                work.accept(r + 1);
            }
            ctx.record(z);
            t[i] = ctx.elapsedMs(a, z) / 20;
        }
        ctx.destroy(a);
        ctx.destroy(z);
        Arrays.sort(t);
        return t[1];
    }
}
