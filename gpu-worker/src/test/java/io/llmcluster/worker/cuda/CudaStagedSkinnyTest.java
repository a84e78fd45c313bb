package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The staged skinny GEMMs (skinny_staged.cu: weights brought into shared memory by bulk copies, sm_90) against
 * double-precision twins on fresh random data: 16-bit and per-channel INT8 weights (the INT8 twin multiplies the
 * dequantized weights of {@link Int8Rows}), FP32 and 16-bit outputs, 1..8 tokens, rows of one to fourteen 2 KB
 * chunks and of 512 / 1024-byte chunks (one stage, both stages, stages refilled), a partial last tile; the SwiGLU
 * epilogue against the same kernel's FP32 output followed by silu_mul (bit for bit) and against the twin.
 * NaN-poisoned outputs, and nothing past the output may be written.
 */
@RequiresCuda
class CudaStagedSkinnyTest {
    static final long SEED = System.nanoTime();
    static CudaContext ctx;

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

    /** y[t][o] = x[t] · w[o] in double. */
    private static float[] matmul(float[] x, float[] w, int tokens, int in, int out) {
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

    /** silu(gate) * up from y = x · wᵀ over w [2 inter][in]. */
    private static float[] swiglu(float[] y, int tokens, int inter) {
        float[] act = new float[tokens * inter];
        for (int t = 0; t < tokens; t++) {
            for (int j = 0; j < inter; j++) {
                double g = y[t * 2 * inter + j];
                double u = y[t * 2 * inter + inter + j];
                act[t * inter + j] = (float) (g / (1 + Math.exp(-g)) * u);
            }
        }
        return act;
    }

    private static void assertUntouched(Dev d, long past, boolean fp32, String what) {
        float[] tail = fp32 ? d.readFloats(past, 16) : d.readHalfs(past, 16);
        for (float v : tail) {
            assertTrue(Float.isNaN(v), what + " wrote past its output" + seed());
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMultiplyLikeAPlainMatmulWithTheWeightsStagedInSharedMemory(CudaDtype dt) {
        CudaKernels k = new CudaKernels(ctx, dt);
        Assumptions.assumeTrue(k.stagedSupported(), "bulk copies need sm_90");
        // {tokens, in, out}: INT8 rows of 512 B (one chunk), 1536 B (three 512 B chunks: refills), 4096 B (two 2 KB
        // chunks), 14336 B (seven); 16-bit rows twice that; partial last tiles (out % 16 != 0)
        int[][] shapes = {{1, 512, 40}, {3, 1536, 77}, {8, 4096, 16}, {1, 4096, 130}, {5, 14336, 33}, {2, 1024, 100}};
        try (Dev d = new Dev(ctx, dt, 512L << 20)) {
            for (int[] s : shapes) {
                int tokens = s[0];
                int in = s[1];
                int out = s[2];
                Random r = new Random(SEED ^ Arrays.hashCode(s) ^ 11);
                float[] w = Dev.random(r, out * in, 0.1f);
                long w16 = d.halfs(w); // w now holds the dtype's values
                float[] x = Dev.random(r, tokens * in, 1f);
                long xA = d.halfs(x);
                long q = d.poisoned((long) out * in + 64);
                long sc = d.poisoned(4L * out + 64);
                k.quantizeW8(w16, q, sc, out, in, in);
                float[] want8 = matmul(x, CudaFusedSwigluTest.dequantized(d, q, sc, out, in, in), tokens, in, out);
                float[] want16 = matmul(x, w, tokens, in, out);

                for (int chunk : new int[] {2048, 1024}) {
                    String what = Arrays.toString(s) + " " + dt + " chunk " + chunk;
                    long y = d.poisoned(4L * tokens * out + 64);
                    k.skinnyStagedW8(xA, q, sc, y, tokens, in, out, in, true, false, chunk);
                    CudaKernelsTest.assertRows("w8 staged fp32 out " + what, d.readFloats(y, tokens * out), want8, tokens, out,
                            CudaInt8Test.TENSOR_CORE_FP32);
                    assertUntouched(d, y + 4L * tokens * out, true, "w8 staged " + what);
                    long yT = d.poisoned(2L * tokens * out + 64);
                    k.skinnyStagedW8(xA, q, sc, yT, tokens, in, out, in, false, false, chunk);
                    CudaKernelsTest.assertRows("w8 staged " + what, d.readHalfs(yT, tokens * out), want8, tokens, out, Dev.bound(dt));
                    assertUntouched(d, yT + 2L * tokens * out, false, "w8 staged " + what);

                    long y16 = d.poisoned(4L * tokens * out + 64);
                    k.skinnyStaged(xA, w16, y16, tokens, in, out, true, false, chunk);
                    CudaKernelsTest.assertRows("staged fp32 out " + what, d.readFloats(y16, tokens * out), want16, tokens, out,
                            CudaInt8Test.TENSOR_CORE_FP32);
                    assertUntouched(d, y16 + 4L * tokens * out, true, "staged " + what);
                    long y16T = d.poisoned(2L * tokens * out + 64);
                    k.skinnyStaged(xA, w16, y16T, tokens, in, out, false, false, chunk);
                    CudaKernelsTest.assertRows("staged " + what, d.readHalfs(y16T, tokens * out), want16, tokens, out, Dev.bound(dt));
                    assertUntouched(d, y16T + 2L * tokens * out, false, "staged " + what);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldGiveTheTwoKernelResultFromTheStagedSwigluEpilogue(CudaDtype dt) {
        CudaKernels k = new CudaKernels(ctx, dt);
        Assumptions.assumeTrue(k.stagedSupported(), "bulk copies need sm_90");
        // {tokens, in, inter}: a partial last 8-column tile (inter % 8 != 0), one chunk and several
        int[][] shapes = {{1, 4096, 77}, {4, 512, 16}, {8, 2048, 33}, {1, 14336, 24}};
        try (Dev d = new Dev(ctx, dt, 256L << 20)) {
            for (int[] s : shapes) {
                int tokens = s[0];
                int in = s[1];
                int inter = s[2];
                Random r = new Random(SEED ^ Arrays.hashCode(s) ^ 13);
                float[] w = Dev.random(r, 2 * inter * in, 0.05f);
                long w16 = d.halfs(w);
                float[] x = Dev.random(r, tokens * in, 1f);
                long xA = d.halfs(x);
                long q = d.poisoned(2L * inter * in + 64);
                long sc = d.poisoned(8L * inter + 64);
                k.quantizeW8(w16, q, sc, 2 * inter, in, in);
                float[] twin8 = swiglu(matmul(x, CudaFusedSwigluTest.dequantized(d, q, sc, 2 * inter, in, in), tokens, in,
                        2 * inter), tokens, inter);
                float[] twin16 = swiglu(matmul(x, w, tokens, in, 2 * inter), tokens, inter);
                long gateUp = d.poisoned(4L * tokens * 2 * inter + 64);
                for (int chunk : new int[] {2048, 1024}) {
                    String what = Arrays.toString(s) + " " + dt + " chunk " + chunk;
                    k.skinnyStagedW8(xA, q, sc, gateUp, tokens, in, 2 * inter, in, true, false, chunk);
                    long ref8 = d.poisoned(2L * tokens * inter + 64);
                    k.siluMul(gateUp, ref8, tokens, inter);
                    long act8 = d.poisoned(2L * tokens * inter + 64);
                    k.skinnyStagedW8(xA, q, sc, act8, tokens, in, inter, in, false, true, chunk);
                    check(d, "w8 staged swiglu " + what, act8, d.readHalfs(ref8, tokens * inter), twin8, tokens, inter);

                    k.skinnyStaged(xA, w16, gateUp, tokens, in, 2 * inter, true, false, chunk);
                    long ref16 = d.poisoned(2L * tokens * inter + 64);
                    k.siluMul(gateUp, ref16, tokens, inter);
                    long act16 = d.poisoned(2L * tokens * inter + 64);
                    k.skinnyStaged(xA, w16, act16, tokens, in, inter, false, true, chunk);
                    check(d, "staged swiglu " + what, act16, d.readHalfs(ref16, tokens * inter), twin16, tokens, inter);
                }
            }
        }
    }

    private static void check(Dev d, String what, long act, float[] unfused, float[] twin, int tokens, int inter) {
        float[] got = d.readHalfs(act, tokens * inter);
        CudaKernelsTest.assertRows(what + " vs unfused", got, unfused, tokens, inter, CudaFusedSwigluTest.SAME);
        CudaKernelsTest.assertRows(what + " vs twin", got, twin, tokens, inter, Dev.bound(d.dt) * 4);
        assertUntouched(d, act + 2L * tokens * inter, false, what);
    }
}
