package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * INT8 weight-only on the GPU against its Java twin ({@link Int8Rows}) on fresh random data: the load-time
 * quantization kernel bit for bit, the INT8 GEMV (every warps-per-row config, 1..8 tokens, per-channel and
 * per-group scales, a short last group) and dequantize + cuBLAS by relative error against a double matmul over
 * the twin's dequantized weights, the 16-bit GEMV's split-K configs; then whole models against transformers.
 */
@RequiresCuda
class CudaInt8Test {
    static final long SEED = System.nanoTime();
    /** What the CPU backend's INT8 test allows on these tiny random models (docs/int8.md). */
    static final double INT8_MODEL_BOUND = 0.12;
    static CudaContext ctx;
    /**
     * FP32 outputs of the tensor-core skinny GEMM: the MMA units' FP32 accumulation truncates rather than rounds,
     * so one warp's chain of 900 k-steps (K = 14336) drifts to ~2e-5 (the first run: 1.7e-5 and 1.9e-5 there, ≤ 5.5e-6
     * up to K = 4096); still 100x under one FP16 rounding of the output.
     */
    static final double TENSOR_CORE_FP32 = 5e-5;

    @BeforeAll
    static void open() {
        ctx = CudaContext.open(0);
    }

    @AfterAll
    static void close() {
        if (ctx != null) {
            ctx.close();
        }
    }

    private static String seed() {
        return " (seed " + SEED + ")";
    }

    /** A quantized matrix on the host (the twin's bytes and scales) and on the device. */
    private record Quantized(byte[] packed, float[] scales, long data, long scaleAddr, int rows, int cols, int group) {
        float weight(int r, int c) {
            return Int8Rows.dequantize(packed[r * cols + c], scales[r * Int8Rows.groups(cols, group) + c / group]);
        }

        DeviceMatrix matrix() {
            return new DeviceMatrix(data, scaleAddr, rows, cols, group, 0);
        }
    }

    /** Uploads w (rounded to the dtype), quantizes it on the GPU and checks the bytes and scales against the twin. */
    private static Quantized quantize(Dev d, float[] w, int rows, int cols, int group, CudaKernels k) {
        long w16 = d.halfs(w); // w is now rounded to the dtype, as the twin must see it
        int groups = Int8Rows.groups(cols, group);
        long q = d.poisoned((long) rows * cols + 64);
        long s = d.poisoned(4L * rows * groups + 64);
        k.quantizeW8(w16, q, s, rows, cols, group);
        byte[] packed = new byte[rows * cols];
        float[] scales = new float[rows * groups];
        for (int r = 0; r < rows; r++) {
            Int8Rows.quantize(Arrays.copyOfRange(w, r * cols, (r + 1) * cols), cols, group, packed, r * cols, scales, r * groups);
        }
        MemorySegment got = Arena.ofAuto().allocate((long) rows * cols, 64);
        ctx.copyToHost(d.arena, q, got);
        assertArrayEquals(packed, got.toArray(ValueLayout.JAVA_BYTE), "quantized bytes " + rows + "x" + cols + " g" + group + seed());
        assertArrayEquals(scales, d.readFloats(s, rows * groups), "scales " + rows + "x" + cols + " g" + group + seed());
        return new Quantized(packed, scales, q, s, rows, cols, group);
    }

    private static float[] expected(Quantized m, float[] x, int tokens) {
        float[] y = new float[tokens * m.rows()];
        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < m.rows(); o++) {
                double acc = 0;
                for (int i = 0; i < m.cols(); i++) {
                    acc += (double) x[t * m.cols() + i] * m.weight(o, i);
                }
                y[t * m.rows() + o] = (float) acc;
            }
        }
        return y;
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldQuantizeExactlyLikeTheTwinAndMultiplyLikeAPlainMatmulOnTheDequantizedWeights(CudaDtype dt) {
        // {tokens, in, out, group}: per channel (group = in), groups of 16/128, a short last group (96 % 64)
        int[][] shapes = {{1, 64, 200, 64}, {3, 96, 130, 64}, {8, 4096, 300, 128}, {5, 14336, 40, 14336},
            {2, 1040, 9, 16}, {7, 512, 77, 128}};
        try (Dev d = new Dev(ctx, dt, 512L << 20)) {
            CudaKernels k = new CudaKernels(ctx, dt);
            for (int[] s : shapes) {
                int tokens = s[0];
                int in = s[1];
                int out = s[2];
                int group = s[3];
                Random r = new Random(SEED ^ Arrays.hashCode(s));
                float[] w = Dev.random(r, out * in, 0.1f);
                w[r.nextInt(w.length)] = 0.9f; // an outlier sets its group's scale
                Quantized m = quantize(d, w, out, in, group, k);
                float[] x = Dev.random(r, tokens * in, 1f);
                long xA = d.halfs(x);
                float[] want = expected(m, x, tokens);
                for (int warps : new int[] {1, 2, 4, 8}) {
                    long y32 = d.poisoned(4L * tokens * out + 64);
                    long yT = d.poisoned(2L * tokens * out + 64);
                    k.gemvW8(xA, m.data(), m.scaleAddr(), y32, tokens, in, out, group, true, warps);
                    k.gemvW8(xA, m.data(), m.scaleAddr(), yT, tokens, in, out, group, false, warps);
                    String what = "w8 gemv r" + warps + " " + Arrays.toString(s);
                    CudaKernelsTest.assertRows(what + " fp32 out", d.readFloats(y32, tokens * out), want, tokens, out, 1e-5);
                    CudaKernelsTest.assertRows(what, d.readHalfs(yT, tokens * out), want, tokens, out, Dev.bound(dt));
                    for (float v : d.readFloats(y32 + 4L * tokens * out, 16)) {
                        assertTrue(Float.isNaN(v), "w8 gemv wrote past its output" + seed());
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldDequantizeInChunksAndMultiplyThroughCublasForManyTokens(CudaDtype dt) {
        int rows = 300;
        int cols = 256;
        int group = 64;
        int tokens = 70;
        try (Dev d = new Dev(ctx, dt, 256L << 20);
             Cublas cublas = new Cublas(ctx.stream().handle(), d.poisoned(4L << 20), 4L << 20)) {
            CudaKernels k = new CudaKernels(ctx, dt);
            Random r = new Random(SEED ^ 77);
            Quantized m = quantize(d, Dev.random(r, rows * cols, 0.1f), rows, cols, group, k);
            // the dequantized rows alone: exact against the twin's weight rounded to the dtype
            long deq = d.poisoned(2L * rows * cols);
            k.dequantW8(m.data(), m.scaleAddr(), deq, rows, cols, group);
            float[] got = d.readHalfs(deq, rows * cols);
            for (int i = 0; i < rows * cols; i++) {
                float want = dt.decode(dt.encode(m.weight(i / cols, i % cols)));
                assertTrue(got[i] == want, "dequant element " + i + ": " + got[i] + " != " + want + seed());
            }
            // a scratch of 7 rows: 43 chunks, the last one short
            long scratch = d.poisoned(2L * 7 * cols);
            Projections p = new Projections(k, new CublasGemm(cublas, dt), new MmaGemm(k), GemmChoice.AUTO, true, scratch,
                    2L * 7 * cols, 1);
            float[] x = Dev.random(r, tokens * cols, 1f);
            long xA = d.halfs(x);
            long y = d.poisoned(4L * tokens * rows);
            p.run(ProjectionKernel.W8_DEQUANT_CUBLAS, xA, m.matrix(), y, tokens, true);
            // cuBLAS sees the weights rounded to the dtype: compare with a bound for that rounding
            CudaKernelsTest.assertRows("w8 dequant+cublas", d.readFloats(y, tokens * rows), expected(m, x, tokens), tokens, rows,
                    Dev.bound(dt));
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldGiveTheSameProductsWithEveryWarpsPerRowConfigOfThe16BitGemv(CudaDtype dt) {
        int[][] shapes = {{1, 4096, 130}, {4, 1032, 61}, {8, 14336, 17}};
        try (Dev d = new Dev(ctx, dt, 256L << 20)) {
            CudaKernels k = new CudaKernels(ctx, dt);
            for (int[] s : shapes) {
                Random r = new Random(SEED ^ Arrays.hashCode(s));
                int tokens = s[0];
                int in = s[1];
                int out = s[2];
                float[] x = Dev.random(r, tokens * in, 1f);
                float[] w = Dev.random(r, out * in, 0.1f);
                long xA = d.halfs(x);
                long wA = d.halfs(w);
                float[] want = new float[tokens * out];
                for (int t = 0; t < tokens; t++) {
                    for (int o = 0; o < out; o++) {
                        double acc = 0;
                        for (int i = 0; i < in; i++) {
                            acc += (double) x[t * in + i] * w[o * in + i];
                        }
                        want[t * out + o] = (float) acc;
                    }
                }
                for (int warps : new int[] {2, 4, 8}) {
                    long y = d.poisoned(4L * tokens * out + 64);
                    k.gemv(xA, wA, y, tokens, in, out, true, warps);
                    CudaKernelsTest.assertRows("gemv r" + warps + " " + Arrays.toString(s), d.readFloats(y, tokens * out), want,
                            tokens, out, 1e-5);
                    for (float v : d.readFloats(y + 4L * tokens * out, 16)) {
                        assertTrue(Float.isNaN(v), "gemv r" + warps + " wrote past its output" + seed());
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMultiplyLikeAPlainMatmulInTheTensorCoreSkinnyGemmsFor1To64Tokens(CudaDtype dt) {
        // {tokens, in, out, group}: every n-tile class, a partial last 16-row tile, per channel and groups of 64/128
        int[][] shapes = {{1, 256, 40, 256}, {3, 4096, 77, 128}, {8, 512, 16, 64}, {13, 1024, 130, 1024}, {32, 2048, 33, 128},
            {64, 768, 100, 64}, {50, 14336, 24, 14336}};
        try (Dev d = new Dev(ctx, dt, 512L << 20)) {
            CudaKernels k = new CudaKernels(ctx, dt);
            for (int[] s : shapes) {
                int tokens = s[0];
                int in = s[1];
                int out = s[2];
                Random r = new Random(SEED ^ Arrays.hashCode(s) ^ 5);
                float[] w = Dev.random(r, out * in, 0.1f);
                Quantized m = quantize(d, w, out, in, s[3], k); // rounds w to the dtype too
                long w16 = d.halfs(w);
                float[] x = Dev.random(r, tokens * in, 1f);
                long xA = d.halfs(x);
                float[] want8 = expected(m, x, tokens);
                float[] want16 = new float[tokens * out];
                for (int t = 0; t < tokens; t++) {
                    for (int o = 0; o < out; o++) {
                        double acc = 0;
                        for (int i = 0; i < in; i++) {
                            acc += (double) x[t * in + i] * w[o * in + i];
                        }
                        want16[t * out + o] = (float) acc;
                    }
                }
                for (int warps : new int[] {1, 2, 4, 8}) {
                    String what = " r" + warps + " " + Arrays.toString(s);
                    long y = d.poisoned(4L * tokens * out + 64);
                    k.skinnyW8(xA, m.data(), m.scaleAddr(), y, tokens, in, out, s[3], true, warps);
                    CudaKernelsTest.assertRows("w8 skinny fp32 out" + what, d.readFloats(y, tokens * out), want8, tokens, out,
                            TENSOR_CORE_FP32);
                    long yT = d.poisoned(2L * tokens * out + 64);
                    k.skinnyW8(xA, m.data(), m.scaleAddr(), yT, tokens, in, out, s[3], false, warps);
                    CudaKernelsTest.assertRows("w8 skinny" + what, d.readHalfs(yT, tokens * out), want8, tokens, out, Dev.bound(dt));
                    long y16 = d.poisoned(4L * tokens * out + 64);
                    k.skinny(xA, w16, y16, tokens, in, out, true, warps);
                    CudaKernelsTest.assertRows("skinny fp32 out" + what, d.readFloats(y16, tokens * out), want16, tokens, out,
                            TENSOR_CORE_FP32);
                    for (long a : new long[] {y + 4L * tokens * out, y16 + 4L * tokens * out}) {
                        for (float v : d.readFloats(a, 16)) {
                            assertTrue(Float.isNaN(v), "skinny wrote past its output" + what + seed());
                        }
                    }
                }
            }
        }
    }

    static CudaBackendOptions int8Options(CudaQuantization q) {
        return CudaBackendReferenceTest.options(CudaDtype.F16).withQuantization(q);
    }

    /**
     * Whole models, INT8 per channel (the CPU backend's rule) and per group of 32 and 64: logits within the CPU INT8 bound
     * of transformers at every position; per channel also close to the CPU backend's INT8 logits (same rule; the GPU
     * quantizes the FP16-rounded weights, FP16 activations); greedy continuations compared with transformers'.
     */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-bf16", "tiny-qwen2", "tiny-mistral"})
    void shouldStayWithinTheInt8BoundOfTransformersPerChannelAndPerGroup(String model) throws Exception {
        ReferenceRecord ref = ReferenceRecord.load(model);
        for (CudaQuantization q : new CudaQuantization[] {CudaQuantization.int8PerChannel(), CudaQuantization.int8Groups(32),
                CudaQuantization.int8Groups(64)}) {
            try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir(model));
                 CudaBackend gpu = new CudaBackend(dir, int8Options(q));
                 CpuBackend cpu = new CpuBackend(dir, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(8L << 20)
                         .withMaxBatchTokens(256).withQuantizeInt8(true))) {
                assertTrue(gpu.describe().contains("INT8"), gpu.describe());
                for (ReferenceRecord.Prompt p : ref.prompts()) {
                    double worst = CudaBackendReferenceTest.worstRowError(gpu, p);
                    double vsCpu = worstRowVs(gpu, cpu, p.inputIds());
                    int[] greedy = CudaBackendReferenceTest.greedy(gpu, p.inputIds(), p.greedyIds().length, false);
                    int agree = 0;
                    while (agree < greedy.length && greedy[agree] == p.greedyIds()[agree]) {
                        agree++;
                    }
                    System.out.printf("[int8] %-16s %-9s logits worst row rel err %.3f vs transformers (bound %.2f), %.3f vs "
                            + "CPU INT8; greedy agrees for %d of %d tokens, %d tokens%n", model, q.tag(), worst,
                            INT8_MODEL_BOUND, vsCpu, agree, greedy.length, p.inputIds().length);
                    assertTrue(worst <= INT8_MODEL_BOUND, model + " " + q.tag() + " rel err " + worst + " for: " + p.text());
                    if (q.groupSize() == 0) {
                        assertTrue(vsCpu <= 0.05, model + " INT8 GPU vs CPU rel err " + vsCpu);
                    }
                }
            }
        }
    }

    private static double worstRowVs(CudaBackend gpu, CpuBackend cpu, int[] ids) {
        io.llmcluster.worker.backend.ForwardBatch b = new io.llmcluster.worker.backend.ForwardBatch(256, 1);
        b.addSequence(ids, 0, ids.length, 0, CudaBackendReferenceTest.identityTable(cpu),
                io.llmcluster.worker.backend.ForwardBatch.Logits.ALL);
        MemorySegment c = cpu.forward(b);
        float[] cl = c.asSlice(0, 4L * ids.length * cpu.vocabSize()).toArray(ValueLayout.JAVA_FLOAT);
        b.clear();
        b.addSequence(ids, 0, ids.length, 0, CudaBackendReferenceTest.identityTable(gpu),
                io.llmcluster.worker.backend.ForwardBatch.Logits.ALL);
        MemorySegment g = gpu.forward(b);
        double worst = 0;
        for (int r = 0; r < ids.length; r++) {
            float[] row = Arrays.copyOfRange(cl, r * cpu.vocabSize(), (r + 1) * cpu.vocabSize());
            worst = Math.max(worst, io.llmcluster.worker.reference.Errors.relativeError(g, (long) r * gpu.vocabSize(), row));
        }
        return worst;
    }

    /** The autotuner writes its cache, reuses it at the next start (nothing measured), and RETUNE measures again. */
    @Test
    void shouldTuneOnceThenReuseTheCachedChoices() throws Exception {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("autotune");
        CudaBackendOptions o = int8Options(CudaQuantization.int8Groups(32)).withAutotuneDir(dir);
        String first;
        try (ModelDirectory m = ModelDirectory.open(ReferenceRecord.modelDir("tiny-qwen2"));
             CudaBackend be = new CudaBackend(m, o)) {
            first = be.describe();
        }
        java.nio.file.Path file;
        try (var files = java.nio.file.Files.list(dir)) {
            file = files.filter(f -> f.getFileName().toString().startsWith("autotune-")).findFirst().orElseThrow();
        }
        String json = java.nio.file.Files.readString(file);
        assertTrue(json.contains("\"w8-gemv-r") && json.contains("int8-g32"), json);
        long modified = java.nio.file.Files.getLastModifiedTime(file).toMillis();
        Thread.sleep(1100); // coarse file-time clocks
        try (ModelDirectory m = ModelDirectory.open(ReferenceRecord.modelDir("tiny-qwen2"));
             CudaBackend be = new CudaBackend(m, o)) {
            assertTrue(be.describe().contains("autotuned choices"), be.describe() + " / first " + first);
        }
        assertTrue(java.nio.file.Files.getLastModifiedTime(file).toMillis() == modified, "a cached run rewrote " + file);
        try (ModelDirectory m = ModelDirectory.open(ReferenceRecord.modelDir("tiny-qwen2"));
             CudaBackend be = new CudaBackend(m, o.withAutotune(CudaBackendOptions.Autotune.RETUNE))) {
            assertTrue(be.describe().contains("autotuned choices"), be.describe());
        }
        assertTrue(java.nio.file.Files.getLastModifiedTime(file).toMillis() > modified, "RETUNE did not rewrite " + file);
    }
}
