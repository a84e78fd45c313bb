package io.llmcluster.worker.cuda;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.model.ModelDirectory;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The W8A8 benchmark (deploy/gpu/w8a8-device.sh; bench-gpu.sh with BENCH_W8A8=1): on the 8B-shaped model, FP16 then
 * W8A8 SmoothQuant, each in its own backend: load seconds, 2048-token prefill TTFT (median of 5 after one warm-up),
 * batch-1 decode ms per token, and per projection shape at M = 2048 tokens the device time of the W8A8 path
 * (per-token activation quantization + cuBLAS INT8 GEMM + epilogue) and of its parts against cuBLAS FP16 (FP32 out,
 * what the FP16 backend runs). Prints {@code key=value} lines; bench_gpu.py's torch.matmul / torch._int_mm lines
 * are the PyTorch references. Usage: {@code W8a8Bench MODEL_DIR [tokens, default 2048]}.
 */
public final class W8a8Bench {
    private static final String[] NAMES = {"qkv", "o", "gate_up", "down"};

    private W8a8Bench() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int m = args.length > 1 ? Integer.parseInt(args[1]) : 2048;
        double[] f16Us = new double[NAMES.length];
        double f16Ttft = Double.NaN;
        double f16Decode = Double.NaN;
        for (String mode : new String[] {"f16", "w8a8"}) {
            CudaQuantization q = mode.equals("f16") ? CudaQuantization.NONE
                    : CudaQuantization.w8a8(CudaQuantization.DEFAULT_ALPHA, CudaQuantization.DEFAULT_CALIBRATION_TOKENS, null);
            long t0 = System.nanoTime();
            try (ModelDirectory model = ModelDirectory.open(dir);
                 CudaBackend be = new CudaBackend(model, CudaBackendOptions.defaults().withMaxBatchTokens(m)
                         .withMaxSequences(64).withKvMemoryFraction(0.1).withQuantization(q))) {
                GpuBench.kv(mode + "_load_s", (System.nanoTime() - t0) / 1e9);
                GpuBench.kv(mode + "_backend", be.describe());
                double ttft = ttft(be, m);
                GpuBench.kv(mode + "_prefill_" + m + "_ttft_ms", ttft);
                double decode = ProjectionBench.decodeMs(be, 128, 64);
                GpuBench.kv(mode + "_decode_b1_ms", decode);
                if (mode.equals("f16")) {
                    f16Ttft = ttft;
                    f16Decode = decode;
                } else {
                    GpuBench.kv("w8a8_prefill_" + m + "_ttft_speedup_vs_f16", f16Ttft / ttft);
                    GpuBench.kv("w8a8_decode_b1_speedup_vs_f16", f16Decode / decode);
                }
                gemms(be, m, mode, f16Us);
            }
        }
    }

    /** Wall ms of a whole {@code m}-token prefill step (logits of the last token copied back), median of 5. */
    static double ttft(CudaBackend be, int m) {
        int bs = be.kvBlockSize();
        int[] table = new int[(m + bs - 1) / bs + 1];
        Arrays.setAll(table, i -> i);
        int[] tokens = new int[m];
        Arrays.setAll(tokens, i -> (i * 7919) % (be.vocabSize() - 16));
        ForwardBatch fb = new ForwardBatch(m, 1);
        double[] ms = new double[5];
        for (int i = 0; i <= ms.length; i++) {
            fb.clear();
            fb.addSequence(tokens, 0, m, 0, table, ForwardBatch.Logits.LAST);
            long t0 = System.nanoTime();
            be.forward(fb);
            if (i > 0) {
                ms[i - 1] = (System.nanoTime() - t0) / 1e6;
            }
        }
        Arrays.sort(ms);
        return ms[ms.length / 2];
    }

    /** Per layer shape at {@code m} tokens: the path the backend runs, device µs and TFLOP/s (W8A8: and its parts). */
    private static void gemms(CudaBackend be, int m, String mode, double[] f16Us) {
        Projections p = be.projections();
        long[] scratch = be.gemmScratch(); // the last prefill left real activations in them
        DeviceMatrix[][] byShape = be.weights().byShape();
        for (int s = 0; s < NAMES.length; s++) {
            DeviceMatrix[] copies = byShape[s];
            DeviceMatrix w = copies[0];
            double flop = 2.0 * m * w.rows() * w.cols();
            String tag = mode + "_gemm_" + NAMES[s] + "_m" + m;
            double ms = ProjectionBench.time(be, i -> p.linear(scratch[0], copies[i % copies.length], scratch[1], m, true));
            GpuBench.kv(tag + "_us", 1000 * ms);
            GpuBench.kv(tag + "_tflops", flop / ms / 1e9);
            if (s == CudaWeights.SHAPE_GATE_UP) {
                // what a layer runs from gate|up to the down projection's input: FP16 cuBLAS + silu_mul, W8A8 fused
                int inter = w.rows() / 2;
                long act = scratch[2];
                double swiglu = mode.equals("f16")
                        ? ProjectionBench.time(be, i -> {
                            p.linear(scratch[0], copies[i % copies.length], scratch[1], m, true);
                            be.kernels().siluMul(scratch[1], act, m, inter);
                        })
                        : ProjectionBench.time(be, i -> be.w8a8Gemm().gateUpSiluMul(scratch[0], copies[i % copies.length],
                                scratch[1], act, m));
                GpuBench.kv(mode + "_gate_up_swiglu_m" + m + "_us", 1000 * swiglu);
            }
            if (mode.equals("f16")) {
                f16Us[s] = 1000 * ms;
                continue;
            }
            GpuBench.kv(tag + "_speedup_vs_f16_cublas", f16Us[s] / (1000 * ms));
            W8a8Gemm g = be.w8a8Gemm();
            if (g != null) {
                double[] parts = g.timeParts(be, copies, scratch[0], scratch[1], m);
                GpuBench.kv(tag + "_quant_us", 1000 * parts[0]);
                GpuBench.kv(tag + "_int8_gemm_us", 1000 * parts[1]);
                GpuBench.kv(tag + "_int8_gemm_tops", flop / parts[1] / 1e9);
                GpuBench.kv(tag + "_epilogue_us", 1000 * parts[2]);
            }
        }
    }
}
