package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every cuBLASLt algorithm the heuristic offers for a projection (the autotuner's LT_k candidates) against a plain
 * double-accumulated matmul over the same dtype-rounded inputs, FP32 output into NaN-poisoned buffers whose words past
 * the output must stay poisoned: the decode-step sizes 128, 256 and 512 tokens on square, wide and narrow-and-deep
 * matrices (the last is where split-K algorithms show up).
 */
@RequiresCuda
class CudaCublasLtTest extends CudaDeviceTest {
    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchAPlainMatmulWithEveryAlgorithmTheHeuristicOffers(CudaDtype dt) {
        int[][] cases = {{128, 1024, 1536}, {256, 512, 2560}, {512, 2048, 256}}; // tokens, in, out
        int algorithmsRun = 0;
        try (Dev d = new Dev(ctx, dt, 512L << 20)) {
            long ws = d.arena.take(32L << 20, "workspace");
            try (CublasLt lt = new CublasLt(ctx.stream().handle(), ws, 32L << 20)) {
                for (int[] c : cases) {
                    int tokens = c[0];
                    int in = c[1];
                    int out = c[2];
                    Random r = new Random(SEED ^ Arrays.hashCode(c));
                    float[] x = Dev.random(r, tokens * in, 1f);
                    float[] w = Dev.random(r, out * in, 0.1f);
                    long xA = d.halfs(x);
                    long wA = d.halfs(w);
                    float[] expected = CudaMmaGemmTest.matmul(x, w, tokens, in, out);
                    CublasLt.Plan plan = lt.plan(out, tokens, in, dt.cudaDataType(), true);
                    assertTrue(plan.algorithms() >= 1, "no algorithm for " + Arrays.toString(c));
                    for (int rank = 0; rank < plan.algorithms(); rank++) {
                        int slack = 64;
                        long y = d.poisoned(4L * (tokens * out + slack));
                        plan.run(rank, xA, wA, y);
                        float[] got = d.readFloats(y, tokens * out);
                        for (int t = 0; t < tokens; t++) {
                            double e = Dev.relErr(got, t * out, expected, t * out, out);
                            assertTrue(e <= CudaMmaGemmTest.FP32_OUT_BOUND, dt + " " + Arrays.toString(c) + " algorithm " + rank
                                    + " row " + t + " rel err " + e + seed());
                        }
                        int[] words = d.readInts(y, tokens * out + slack);
                        for (int i = tokens * out; i < words.length; i++) {
                            assertEquals(Dev.NAN_WORDS, words[i], "algorithm " + rank + " wrote past the output");
                        }
                        algorithmsRun++;
                    }
                }
            }
        }
        System.out.printf("[kernels] cuBLASLt %s: %d algorithms over %d problems within %.0e of the double matmul%n", dt,
                algorithmsRun, cases.length, CudaMmaGemmTest.FP32_OUT_BOUND);
    }
}
