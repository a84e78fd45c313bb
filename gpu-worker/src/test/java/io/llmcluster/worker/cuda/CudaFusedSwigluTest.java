package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The gate|up projection with the SwiGLU in its epilogue (GEMV and tensor-core skinny kernels, 16-bit and INT8
 * weights, every warps-per-row config) against the two-kernel path it replaces (the same kernel into FP32, then
 * silu_mul) and against a double-precision twin, on random data with NaN-poisoned outputs and a check that nothing
 * past the activation is written.
 */
@RequiresCuda
class CudaFusedSwigluTest extends CudaDeviceTest {
    /**
     * Fused against unfused: the same FP32 sums meet the same silu and the same rounding, so the outputs are expected
     * bit for bit equal; the bound leaves room for nothing but that.
     */
    static final double SAME = 1e-7;

    /** silu(gate) * up per (token, column) from the double products of x and w [2 inter][in]. */
    private static float[] twin(float[] x, float[] w, int tokens, int in, int inter) {
        float[] act = new float[tokens * inter];
        for (int t = 0; t < tokens; t++) {
            for (int j = 0; j < inter; j++) {
                double g = 0;
                double u = 0;
                for (int i = 0; i < in; i++) {
                    g += (double) x[t * in + i] * w[j * in + i];
                    u += (double) x[t * in + i] * w[(inter + j) * in + i];
                }
                act[t * inter + j] = (float) (g / (1 + Math.exp(-g)) * u);
            }
        }
        return act;
    }

    /** What the decode step did before: the projection into FP32, then silu_mul into the run dtype. */
    private static float[] unfused(Dev d, CudaKernels k, Runnable projection, long gateUp, int tokens, int inter) {
        projection.run();
        long act = d.poisoned(2L * tokens * inter + 64);
        k.siluMul(gateUp, act, tokens, inter);
        return d.readHalfs(act, tokens * inter);
    }

    private static void check(Dev d, String what, long act, float[] want, float[] twin, int tokens, int inter) {
        float[] got = d.readHalfs(act, tokens * inter);
        CudaKernelsTest.assertRows(what + " vs unfused", got, want, tokens, inter, SAME);
        CudaKernelsTest.assertRows(what + " vs twin", got, twin, tokens, inter, Dev.bound(d.dt) * 4);
        for (float v : d.readHalfs(act + 2L * tokens * inter, 16)) {
            assertTrue(Float.isNaN(v), what + " wrote past its output" + seed());
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldGiveTheTwoKernelResultFromTheGemvAndSkinnyEpilogues(CudaDtype dt) {
        // {tokens, in, inter, int8 group}: GEMV token counts 1..8 and skinny up to 64, a partial last tile (inter % 8 != 0),
        // per channel and groups of 64 / 128
        int[][] shapes = {{1, 256, 40, 256}, {2, 4096, 77, 128}, {5, 512, 16, 64}, {8, 1024, 33, 1024}, {13, 512, 24, 64},
            {64, 256, 19, 256}, {1, 4096, 77, 4096}, {1, 14336, 24, 128}};
        try (Dev d = new Dev(ctx, dt, 256L << 20)) {
            CudaKernels k = new CudaKernels(ctx, dt);
            for (int[] s : shapes) {
                int tokens = s[0];
                int in = s[1];
                int inter = s[2];
                int group = s[3];
                Random r = new Random(SEED ^ Arrays.hashCode(s));
                float[] w = Dev.random(r, 2 * inter * in, 0.05f);
                long w16 = d.halfs(w); // w now holds the dtype's values
                float[] x = Dev.random(r, tokens * in, 1f);
                long xA = d.halfs(x);
                float[] twin16 = twin(x, w, tokens, in, inter);
                long q = d.poisoned(2L * inter * in + 64);
                long sc = d.poisoned(4L * 2 * inter * Int8Rows.groups(in, group) + 64);
                k.quantizeW8(w16, q, sc, 2 * inter, in, group);
                float[] wq = dequantized(d, q, sc, 2 * inter, in, group);
                float[] twin8 = twin(x, wq, tokens, in, inter);
                long gateUp = d.poisoned(4L * tokens * 2 * inter + 64);
                for (int warps : new int[] {1, 2, 4, 8}) {
                    String tag = " r" + warps + " " + Arrays.toString(s) + " " + dt;
                    if (tokens <= CudaKernels.GEMV_MAX_TOKENS) {
                        float[] want = unfused(d, k, () -> k.gemv(xA, w16, gateUp, tokens, in, 2 * inter, true, warps),
                                gateUp, tokens, inter);
                        long act = d.poisoned(2L * tokens * inter + 64);
                        k.gemvSwiglu(xA, w16, act, tokens, in, inter, warps);
                        check(d, "gemv swiglu" + tag, act, want, twin16, tokens, inter);
                        float[] want8 = unfused(d, k, () -> k.gemvW8(xA, q, sc, gateUp, tokens, in, 2 * inter, group, true,
                                warps), gateUp, tokens, inter);
                        long act8 = d.poisoned(2L * tokens * inter + 64);
                        k.gemvW8Swiglu(xA, q, sc, act8, tokens, in, inter, group, warps);
                        check(d, "w8 gemv swiglu" + tag, act8, want8, twin8, tokens, inter);
                        if (tokens == 1 && warps <= 4) { // the pipelined one-token kernels (gemv1p_*), plain and fused
                            float[] wantP = unfused(d, k, () -> k.gemv(xA, w16, gateUp, 1, in, 2 * inter, true, warps, true),
                                    gateUp, 1, inter);
                            CudaKernelsTest.assertRows("pipelined gemv" + tag, wantP, want, 1, inter, SAME);
                            long actP = d.poisoned(2L * inter + 64);
                            k.gemvSwiglu(xA, w16, actP, 1, in, inter, warps, true);
                            check(d, "pipelined gemv swiglu" + tag, actP, want, twin16, 1, inter);
                        }
                    }
                    float[] want = unfused(d, k, () -> k.skinny(xA, w16, gateUp, tokens, in, 2 * inter, true, warps),
                            gateUp, tokens, inter);
                    long act = d.poisoned(2L * tokens * inter + 64);
                    k.skinnySwiglu(xA, w16, act, tokens, in, inter, warps);
                    check(d, "skinny swiglu" + tag, act, want, twin16, tokens, inter);
                    if (group == in || group >= 64) {
                        float[] want8 = unfused(d, k, () -> k.skinnyW8(xA, q, sc, gateUp, tokens, in, 2 * inter, group,
                                true, warps), gateUp, tokens, inter);
                        long act8 = d.poisoned(2L * tokens * inter + 64);
                        k.skinnyW8Swiglu(xA, q, sc, act8, tokens, in, inter, group, warps);
                        check(d, "w8 skinny swiglu" + tag, act8, want8, twin8, tokens, inter);
                    }
                }
            }
        }
    }

    /** The INT8 weights as the kernels see them (the twin's rule, {@link Int8Rows#dequantize}). */
    private static float[] dequantized(Dev d, long q, long scales, int rows, int cols, int group) {
        java.lang.foreign.MemorySegment bytes = java.lang.foreign.Arena.ofAuto().allocate((long) rows * cols, 64);
        ctx.copyToHost(d.arena, q, bytes);
        int groups = Int8Rows.groups(cols, group);
        float[] s = d.readFloats(scales, rows * groups);
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                w[r * cols + c] = Int8Rows.dequantize(bytes.get(java.lang.foreign.ValueLayout.JAVA_BYTE, (long) r * cols + c),
                        s[r * groups + c / group]);
            }
        }
        return w;
    }
}
