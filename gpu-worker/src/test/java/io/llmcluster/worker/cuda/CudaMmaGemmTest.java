package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The project's tensor-core GEMM (gemm_mma.cu) against its CPU twin, a plain double-accumulated matmul over the
 * same dtype-rounded inputs: token counts 1, 7, 64, 333 (tails of the 128-row tile), output sizes that are and are
 * not multiples of 128, K multiples of 32, of 8 only, and odd (the scalar-load variant); FP32 and 16-bit outputs
 * into NaN-poisoned buffers whose bytes past the output must stay poisoned.
 */
@RequiresCuda
class CudaMmaGemmTest extends CudaDeviceTest {
    /** FP32 output: only the accumulation order differs from the double-accumulated twin. */
    static final double FP32_OUT_BOUND = 1e-5;

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchAPlainMatmulForEveryTokenCountAndTail(CudaDtype dt) {
        int[] tokenCounts = {1, 7, 64, 333};
        int[][] inOut = {{256, 384}, {1024, 520}, {104, 200}, {77, 130}, {40, 8}, {4096, 136}};
        double worst32 = 0;
        double worst16 = 0;
        try (Dev d = new Dev(ctx, dt, 512L << 20)) {
            CudaKernels k = new CudaKernels(ctx, dt);
            for (int[] s : inOut) {
                for (int tokens : tokenCounts) {
                    int in = s[0];
                    int out = s[1];
                    Random r = new Random(SEED ^ Arrays.hashCode(new int[] {tokens, in, out}));
                    float[] x = Dev.random(r, tokens * in, 1f);
                    float[] w = Dev.random(r, out * in, 0.1f);
                    long xA = d.halfs(x);
                    long wA = d.halfs(w);
                    float[] expected = matmul(x, w, tokens, in, out);
                    int slack = 64;
                    long y = d.poisoned(4L * (tokens * out + slack));
                    k.gemmMma(xA, wA, y, tokens, in, out, true);
                    float[] got = d.readFloats(y, tokens * out + slack);
                    worst32 = Math.max(worst32, check(got, expected, tokens, out, FP32_OUT_BOUND, "FP32 out", s, dt));
                    assertPoisonedAfter(d.readInts(y, tokens * out + slack), tokens * out, "FP32 out " + tokens + "x" + out);
                    long y16 = d.poisoned(2L * (tokens * out + slack));
                    k.gemmMma(xA, wA, y16, tokens, in, out, false);
                    float[] got16 = d.readHalfs(y16, tokens * out);
                    worst16 = Math.max(worst16, check(got16, expected, tokens, out, Dev.bound(dt), "16-bit out", s, dt));
                    int[] words = d.readInts(y16, (2 * (tokens * out + slack)) / 4);
                    assertPoisonedAfter(words, (tokens * out + 1) / 2 + 1, "16-bit out " + tokens + "x" + out);
                }
            }
        }
        System.out.printf("[kernels] gemm_mma %s worst row rel err: FP32 out %.2e (bound %.0e), %s out %.2e (bound %.0e)%n",
                dt, worst32, FP32_OUT_BOUND, dt, worst16, Dev.bound(dt));
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldAgreeWithCublasThroughTheGemmInterface(CudaDtype dt) {
        int tokens = 200;
        int in = 512;
        int out = 640;
        try (Dev d = new Dev(ctx, dt, 256L << 20)) {
            long ws = d.arena.take(32L << 20, "workspace");
            CudaKernels k = new CudaKernels(ctx, dt);
            Random r = new Random(SEED ^ 77);
            long xA = d.halfs(Dev.random(r, tokens * in, 1f));
            long wA = d.halfs(Dev.random(r, out * in, 0.1f));
            long a = d.poisoned(4L * tokens * out);
            long b = d.poisoned(4L * tokens * out);
            try (Gemm mma = new MmaGemm(k); Gemm cublas = new CublasGemm(new Cublas(ctx.stream().handle(), ws, 32L << 20), dt)) {
                mma.linear(xA, wA, a, tokens, in, out, true);
                cublas.linear(xA, wA, b, tokens, in, out, true);
                float[] ga = d.readFloats(a, tokens * out);
                float[] gb = d.readFloats(b, tokens * out);
                for (int t = 0; t < tokens; t++) {
                    double e = Dev.relErr(ga, t * out, gb, t * out, out);
                    assertTrue(e <= FP32_OUT_BOUND, "row " + t + " differs from cuBLAS by " + e + seed());
                }
            }
        }
    }

    /** Throughput of ours and cuBLAS on two shapes (printed; no assertion: the numbers go to docs/gpu.md). */
    @Test
    void shouldReportThroughputAgainstCublas() {
        int[][] shapes = {{4096, 4096, 4096}, {512, 4096, 14336}, {2048, 4096, 28672}};
        CudaDtype dt = CudaDtype.BF16;
        try (Dev d = new Dev(ctx, dt, 1200L << 20)) {
            long ws = d.arena.take(32L << 20, "workspace");
            CudaKernels k = new CudaKernels(ctx, dt);
            try (Gemm mma = new MmaGemm(k); Gemm cublas = new CublasGemm(new Cublas(ctx.stream().handle(), ws, 32L << 20), dt)) {
                for (int[] s : shapes) {
                    int m = s[0];
                    int in = s[1];
                    int out = s[2];
                    long x = d.arena.take(2L * m * in, "x");
                    long w = d.arena.take(2L * out * in, "w");
                    long y = d.arena.take(4L * m * out, "y");
                    ctx.fill32(d.arena, x, 0x3C003C00, (long) m * in / 2);
                    ctx.fill32(d.arena, w, 0x3C003C00, (long) out * in / 2);
                    double ours = tflops(mma, x, w, y, m, in, out);
                    double theirs = tflops(cublas, x, w, y, m, in, out);
                    System.out.printf("[kernels] GEMM %s M=%d K=%d N=%d: own mma.sync %.0f TFLOP/s, cuBLAS %.0f TFLOP/s (%.0f%%)%n",
                            dt, m, in, out, ours, theirs, 100 * ours / theirs);
                    assertTrue(ours > 0);
                }
            }
        }
    }

    private static double tflops(Gemm g, long x, long w, long y, int m, int in, int out) {
        for (int i = 0; i < 3; i++) {
            g.linear(x, w, y, m, in, out, true);
        }
        ctx.synchronize();
        int reps = 20;
        long t0 = System.nanoTime();
        for (int i = 0; i < reps; i++) {
            g.linear(x, w, y, m, in, out, true);
        }
        ctx.synchronize();
        double s = (System.nanoTime() - t0) * 1e-9 / reps;
        return 2.0 * m * in * out / s * 1e-12;
    }

    static float[] matmul(float[] x, float[] w, int tokens, int in, int out) {
        float[] y = new float[tokens * out];
        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < out; o++) {
                double acc = 0;
                for (int i = 0; i < in; i++) {
                    acc += (double) x[t * in + i] * w[o * in + i];
                }
                y[t * out + o] = (float) acc;
            }
        }
        return y;
    }

    private static double check(float[] got, float[] expected, int tokens, int out, double bound, String what, int[] s,
            CudaDtype dt) {
        double worst = 0;
        for (int t = 0; t < tokens; t++) {
            double e = Dev.relErr(got, t * out, expected, t * out, out);
            assertTrue(e <= bound, dt + " " + what + " M=" + tokens + " K=" + s[0] + " N=" + s[1] + " row " + t + " rel err " + e
                    + seed());
            worst = Math.max(worst, e);
        }
        return worst;
    }

    private static void assertPoisonedAfter(int[] words, int from, String what) {
        for (int i = from; i < words.length; i++) {
            assertEquals(Dev.NAN_WORDS, words[i], what + ": word " + i + " past the output was written" + seed());
        }
    }
}
