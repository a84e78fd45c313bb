package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.cpu.PagedAttention;
import io.llmcluster.worker.cpu.RopeTable;
import io.llmcluster.worker.cpu.ScalarKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every kernel against its CPU twin on fresh random inputs (the seed is in each failure message): several
 * shapes, odd sizes, block tables with holes and in shuffled order, GQA ratios 1, 4 and 8 (and 16 through
 * the prefill kernel), outputs poisoned with NaN before each launch, relative-error bounds per dtype.
 */
@RequiresCuda
class CudaKernelsTest extends CudaDeviceTest {
    private static Dev dev(CudaDtype dt) {
        return new Dev(ctx, dt, 512L << 20);
    }

    private static Random rnd(String what) {
        return new Random(SEED ^ what.hashCode());
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldGatherEmbeddingRowsExactly(CudaDtype dt) {
        try (Dev d = dev(dt)) {
            Random r = rnd("embedding");
            int vocab = 97;
            int hidden = 72;
            int[] ids = {0, 96, 5, 5, 50, 1, 95, 13, 77, 2, 3, 64, 8};
            float[] table = Dev.random(r, vocab * hidden, 1f);
            long t = d.halfs(table);
            long out = d.poisoned(4L * ids.length * hidden);
            new CudaKernels(ctx, dt).embedding(d.ints(ids), t, out, ids.length, hidden);
            float[] got = d.readFloats(out, ids.length * hidden);
            for (int i = 0; i < ids.length; i++) {
                for (int j = 0; j < hidden; j++) {
                    assertEquals(table[ids[i] * hidden + j], got[i * hidden + j], "token " + i + " dim " + j + seed());
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchTheCpuRmsNormWithAndWithoutResidualAndForGatheredRows(CudaDtype dt) {
        for (int hidden : new int[] {64, 100, 4096, 5120}) {
            try (Dev d = dev(dt)) {
                Random r = rnd("norm" + hidden);
                int rows = 5;
                float eps = 1e-5f;
                float[] x = Dev.random(r, rows * hidden, 2f);
                float[] w = Dev.random(r, hidden, 1f);
                float[] delta = Dev.random(r, rows * hidden, 1f);
                CudaKernels k = new CudaKernels(ctx, dt);
                long xA = d.floats(x);
                long wA = d.floats(w);
                long dA = d.floats(delta); // FP32: the o_proj / down GEMM output
                // plain norm
                long out = d.poisoned(2L * rows * hidden);
                k.rmsnorm(xA, wA, out, rows, hidden, eps);
                float[] expected = new float[rows * hidden];
                MemorySegment e = d.zeros(rows * hidden);
                for (int i = 0; i < rows; i++) {
                    ScalarKernels.rmsNorm(d.segment(x), (long) i * hidden, d.segment(w), 0, e, (long) i * hidden, hidden, eps);
                }
                MemorySegment.copy(e, ValueLayout.JAVA_FLOAT, 0, expected, 0, expected.length);
                assertRows("rmsnorm h=" + hidden, d.readHalfs(out, rows * hidden), expected, rows, hidden, Dev.bound(dt));
                // gathered final norm of residual + delta (residual not written)
                int[] pick = {4, 0, 2};
                long gathered = d.poisoned(2L * pick.length * hidden);
                k.gatherResidualRmsnorm(dA, xA, d.ints(pick), wA, gathered, pick.length, hidden, eps);
                float[] sum = x.clone();
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += delta[i];
                }
                float[] expectedGather = new float[pick.length * hidden];
                for (int i = 0; i < pick.length; i++) {
                    MemorySegment g = d.zeros(hidden);
                    ScalarKernels.rmsNorm(d.segment(sum), (long) pick[i] * hidden, d.segment(w), 0, g, 0, hidden, eps);
                    MemorySegment.copy(g, ValueLayout.JAVA_FLOAT, 0, expectedGather, i * hidden, hidden);
                }
                assertRows("gather norm h=" + hidden, d.readHalfs(gathered, pick.length * hidden), expectedGather, pick.length,
                        hidden, Dev.bound(dt));
                assertRows("residual untouched by the gather", d.readFloats(xA, rows * hidden), x, rows, hidden, 0);
                // residual add + norm: residual += delta in FP32, out = norm(residual)
                long out2 = d.poisoned(2L * rows * hidden);
                k.residualRmsnorm(dA, xA, wA, out2, rows, hidden, eps);
                MemorySegment e2 = d.zeros(rows * hidden);
                for (int i = 0; i < rows; i++) {
                    ScalarKernels.rmsNorm(d.segment(sum), (long) i * hidden, d.segment(w), 0, e2, (long) i * hidden, hidden, eps);
                }
                assertRows("residual sum h=" + hidden, d.readFloats(xA, rows * hidden), sum, rows, hidden, 1e-6);
                assertRows("residual rmsnorm h=" + hidden, d.readHalfs(out2, rows * hidden),
                        e2.toArray(ValueLayout.JAVA_FLOAT), rows, hidden, Dev.bound(dt));
            }
        }
    }

    /** A batch layout: sequences with (cached prefix, new tokens), block tables with holes, shuffled blocks. */
    record Layout(int[] start, int[] count, int[][] tables, int stride, int numBlocks, int blockSize, int[] positions,
                  int[] seqOfToken, int[] flatTables) {
        int tokens() {
            return positions.length;
        }

        int slot(int seq, int pos) {
            return tables[seq][pos / blockSize] * blockSize + pos % blockSize;
        }

        static Layout of(Random r, int blockSize, int[] start, int[] count) {
            int seqs = start.length;
            int[] needed = new int[seqs];
            int total = 0;
            int stride = 1;
            for (int s = 0; s < seqs; s++) {
                needed[s] = (start[s] + count[s] - 1) / blockSize + 1;
                total += needed[s];
                stride = Math.max(stride, needed[s]);
            }
            int numBlocks = total + 7; // spare blocks that no table uses: holes in the pool
            List<Integer> pool = new ArrayList<>();
            for (int b = 0; b < numBlocks; b++) {
                pool.add(b);
            }
            Collections.shuffle(pool, r);
            int[][] tables = new int[seqs][];
            int next = 0;
            int[] flat = new int[seqs * stride];
            Arrays.fill(flat, -1); // unused entries stay -1: a kernel that reads them faults (memcheck) or reads garbage
            for (int s = 0; s < seqs; s++) {
                tables[s] = new int[needed[s] + 3];
                Arrays.fill(tables[s], -1);
                for (int i = 0; i < needed[s]; i++) {
                    tables[s][i] = pool.get(next++);
                    flat[s * stride + i] = tables[s][i];
                }
            }
            int tokens = Arrays.stream(count).sum();
            int[] positions = new int[tokens];
            int[] seqOf = new int[tokens];
            int t = 0;
            for (int s = 0; s < seqs; s++) {
                for (int i = 0; i < count[s]; i++, t++) {
                    positions[t] = start[s] + i;
                    seqOf[t] = s;
                }
            }
            return new Layout(start, count, tables, stride, numBlocks, blockSize, positions, seqOf, flat);
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldApplyRopeAndWriteKvIntoTheRightSlotsOnly(CudaDtype dt) {
        int[][] shapes = {{4, 4, 64, 0}, {8, 2, 128, 1}, {16, 2, 64, 1}, {4, 1, 16, 0}};
        for (int[] shape : shapes) {
            int nh = shape[0];
            int nkv = shape[1];
            int hd = shape[2];
            boolean withBias = shape[3] == 1;
            try (Dev d = dev(dt)) {
                Random r = rnd("rope" + Arrays.toString(shape));
                Layout lay = Layout.of(r, 16, new int[] {0, 30, 77}, new int[] {5, 17, 1});
                int n = lay.tokens();
                int qDim = nh * hd;
                int kvDim = nkv * hd;
                int width = qDim + 2 * kvDim;
                RopeTable rope = new RopeTable(hd, 128, 500000, withBias ? null : new RopeTable.Llama3Scaling(8, 1, 4, 64));
                float[] cos = new float[128 * hd / 2];
                float[] sin = new float[128 * hd / 2];
                for (int p = 0; p < 128; p++) {
                    for (int i = 0; i < hd / 2; i++) {
                        cos[p * hd / 2 + i] = rope.cos(p, i);
                        sin[p * hd / 2 + i] = rope.sin(p, i);
                    }
                }
                float[] qkv = Dev.random(r, n * width, 1f);
                long qkvA = d.floats(qkv); // FP32: the QKV GEMM output
                float[] bias = withBias ? Dev.random(r, width, 0.5f) : new float[width];
                long biasA = withBias ? d.floats(bias) : 0;
                long slots = (long) lay.numBlocks() * lay.blockSize();
                long qOut = d.poisoned(2L * n * qDim);
                long kCache = d.poisoned(2L * slots * kvDim);
                long vCache = d.poisoned(2L * slots * kvDim);
                new CudaKernels(ctx, dt).ropeKvWrite(qkvA, biasA, d.ints(lay.positions()), d.ints(lay.seqOfToken()),
                        d.ints(lay.flatTables()), lay.stride(), d.floats(cos), d.floats(sin), qOut, kCache, vCache, n, nh, nkv,
                        hd, lay.blockSize());
                // CPU twin: bias, RopeTable.apply on q and k, PagedAttention.writeKv into an FP32 cache
                MemorySegment q = d.zeros((long) n * qDim);
                MemorySegment k = d.zeros((long) n * kvDim);
                MemorySegment v = d.zeros((long) n * kvDim);
                MemorySegment kc = d.zeros(slots * kvDim);
                MemorySegment vc = d.zeros(slots * kvDim);
                for (int t = 0; t < n; t++) {
                    for (int j = 0; j < width; j++) {
                        float x = qkv[t * width + j] + bias[j];
                        if (j < qDim) {
                            q.setAtIndex(ValueLayout.JAVA_FLOAT, (long) t * qDim + j, x);
                        } else if (j < qDim + kvDim) {
                            k.setAtIndex(ValueLayout.JAVA_FLOAT, (long) t * kvDim + j - qDim, x);
                        } else {
                            v.setAtIndex(ValueLayout.JAVA_FLOAT, (long) t * kvDim + j - qDim - kvDim, x);
                        }
                    }
                    rope.apply(q, (long) t * qDim, nh, hd, lay.positions()[t]);
                    rope.apply(k, (long) t * kvDim, nkv, hd, lay.positions()[t]);
                    int slot = lay.slot(lay.seqOfToken()[t], lay.positions()[t]);
                    PagedAttention.writeKv(kc, vc, slot, k, (long) t * kvDim, v, (long) t * kvDim, nkv, hd);
                }
                String what = "rope_kv " + Arrays.toString(shape);
                assertRows(what + " q", d.readHalfs(qOut, n * qDim), q.toArray(ValueLayout.JAVA_FLOAT), n * nh, hd, Dev.bound(dt));
                float[] gotK = d.readHalfs(kCache, (int) (slots * kvDim));
                float[] gotV = d.readHalfs(vCache, (int) (slots * kvDim));
                float[] expK = kc.toArray(ValueLayout.JAVA_FLOAT);
                float[] expV = vc.toArray(ValueLayout.JAVA_FLOAT);
                boolean[] written = new boolean[(int) slots];
                for (int t = 0; t < n; t++) {
                    int slot = lay.slot(lay.seqOfToken()[t], lay.positions()[t]);
                    written[slot] = true;
                    double ek = Dev.relErr(gotK, slot * kvDim, expK, slot * kvDim, kvDim);
                    double ev = Dev.relErr(gotV, slot * kvDim, expV, slot * kvDim, kvDim);
                    assertTrue(ek <= Dev.bound(dt) && ev <= Dev.bound(dt),
                            what + " token " + t + " slot " + slot + ": K err " + ek + ", V err " + ev + seed());
                }
                for (int s = 0; s < slots; s++) {
                    if (!written[s]) {
                        assertTrue(Float.isNaN(gotK[s * kvDim]) && Float.isNaN(gotV[s * kvDim + kvDim - 1]),
                                what + ": slot " + s + " was written but no token maps to it" + seed());
                    }
                }
            }
        }
    }

    /** Fills K/V for every position each sequence has (prefix and new tokens) on both sides; other slots stay NaN. */
    private static float[][] fillKv(Dev d, Random r, Layout lay, int kvDim, long kCache, long vCache, MemorySegment kc,
            MemorySegment vc) {
        long slots = (long) lay.numBlocks() * lay.blockSize();
        float[] kAll = new float[(int) (slots * kvDim)];
        float[] vAll = new float[(int) (slots * kvDim)];
        Arrays.fill(kAll, Float.NaN);
        Arrays.fill(vAll, Float.NaN);
        for (int s = 0; s < lay.start().length; s++) {
            for (int p = 0; p < lay.start()[s] + lay.count()[s]; p++) {
                int slot = lay.slot(s, p);
                for (int j = 0; j < kvDim; j++) {
                    kAll[slot * kvDim + j] = (float) r.nextGaussian();
                    vAll[slot * kvDim + j] = (float) r.nextGaussian();
                }
            }
        }
        long kTmp = d.halfs(kAll); // rounds kAll/vAll in place; NaN stays NaN
        long vTmp = d.halfs(vAll);
        copyDevice(d, kTmp, kCache, 2 * slots * kvDim);
        copyDevice(d, vTmp, vCache, 2 * slots * kvDim);
        for (int i = 0; i < kAll.length; i++) {
            kc.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.isNaN(kAll[i]) ? 0 : kAll[i]);
            vc.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.isNaN(vAll[i]) ? 0 : vAll[i]);
        }
        return new float[][] {kAll, vAll};
    }

    private static void copyDevice(Dev d, long src, long dst, long bytes) {
        jcuda.driver.JCudaDriver.cuMemcpyDtoD(d.arena.pointer(dst), d.arena.pointer(src), bytes);
    }

    /** CPU twin of attention for every token: PagedAttention.attendGroup over [0, position]. */
    private static float[] cpuAttention(Dev d, Layout lay, float[] q, MemorySegment kc, MemorySegment vc, int nh, int nkv,
            int hd, int[] tokens) {
        int qDim = nh * hd;
        MemorySegment qs = d.segment(q);
        MemorySegment out = d.zeros((long) lay.tokens() * qDim);
        float[] scratch = new float[(nh / nkv) * 4096];
        for (int t : tokens) {
            int seq = lay.seqOfToken()[t];
            for (int kvh = 0; kvh < nkv; kvh++) {
                PagedAttention.attendGroup(qs, (long) t * qDim, kvh, nh / nkv, kc, vc, lay.tables()[seq], lay.blockSize(),
                        lay.positions()[t] + 1, nkv, hd, (float) (1 / Math.sqrt(hd)), out, (long) t * qDim, scratch);
            }
        }
        return out.toArray(ValueLayout.JAVA_FLOAT);
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchTheCpuAttentionInTheFlashPrefillKernel(CudaDtype dt) {
        int[][] shapes = {{4, 4, 64}, {8, 2, 128}, {16, 2, 64}, {32, 4, 128}, {16, 1, 32}, {4, 2, 256}, {6, 2, 48}};
        for (int[] shape : shapes) {
            int nh = shape[0];
            int nkv = shape[1];
            int hd = shape[2];
            try (Dev d = dev(dt)) {
                Random r = rnd("prefill" + Arrays.toString(shape));
                // (cached prefix, new tokens): single token, odd lengths, a prefix hit, several tiles
                Layout lay = Layout.of(r, 16, new int[] {0, 0, 37, 0, 5}, new int[] {1, 19, 9, 70, 33});
                int n = lay.tokens();
                int qDim = nh * hd;
                int kvDim = nkv * hd;
                long slots = (long) lay.numBlocks() * lay.blockSize();
                long kCache = d.poisoned(2L * slots * kvDim);
                long vCache = d.poisoned(2L * slots * kvDim);
                MemorySegment kc = d.zeros(slots * kvDim);
                MemorySegment vc = d.zeros(slots * kvDim);
                fillKv(d, r, lay, kvDim, kCache, vCache, kc, vc);
                float[] q = Dev.random(r, n * qDim, 1f);
                long qA = d.halfs(q);
                int perTile = CudaKernels.prefillTokensPerTile(nh / nkv);
                List<Integer> tiles = new ArrayList<>();
                int first = 0;
                for (int s = 0; s < lay.start().length; s++) {
                    for (int i = 0; i < lay.count()[s]; i += perTile) {
                        tiles.addAll(List.of(first + i, Math.min(perTile, lay.count()[s] - i), s, 0));
                    }
                    first += lay.count()[s];
                }
                long out = d.poisoned(2L * n * qDim);
                new CudaKernels(ctx, dt).prefillAttention(qA, kCache, vCache, out,
                        d.ints(tiles.stream().mapToInt(Integer::intValue).toArray()), tiles.size() / 4, d.ints(lay.positions()),
                        d.ints(lay.flatTables()), lay.stride(), nh, nkv, hd, lay.blockSize());
                float[] expected = cpuAttention(d, lay, q, kc, vc, nh, nkv, hd, java.util.stream.IntStream.range(0, n).toArray());
                assertRows("prefill " + Arrays.toString(shape), d.readHalfs(out, n * qDim), expected, n * nh, hd,
                        2 * Dev.bound(dt));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchTheCpuAttentionInTheSplitKDecodeKernel(CudaDtype dt) {
        int[][] shapes = {{4, 4, 64}, {8, 2, 128}, {32, 4, 128}, {8, 1, 256}, {4, 2, 16}};
        for (int[] shape : shapes) {
            for (int chunk : new int[] {64, 512}) {
                int nh = shape[0];
                int nkv = shape[1];
                int hd = shape[2];
                try (Dev d = dev(dt)) {
                    Random r = rnd("decode" + Arrays.toString(shape) + chunk);
                    int[] ctxLen = {1, 15, 16, 17, 300, 1000, 2049};
                    int[] start = new int[ctxLen.length];
                    int[] ones = new int[ctxLen.length];
                    for (int s = 0; s < ctxLen.length; s++) {
                        start[s] = ctxLen[s] - 1;
                        ones[s] = 1;
                    }
                    Layout lay = Layout.of(r, 16, start, ones);
                    int n = lay.tokens();
                    int qDim = nh * hd;
                    int kvDim = nkv * hd;
                    long slots = (long) lay.numBlocks() * lay.blockSize();
                    long kCache = d.poisoned(2L * slots * kvDim);
                    long vCache = d.poisoned(2L * slots * kvDim);
                    MemorySegment kc = d.zeros(slots * kvDim);
                    MemorySegment vc = d.zeros(slots * kvDim);
                    fillKv(d, r, lay, kvDim, kCache, vCache, kc, vc);
                    float[] q = Dev.random(r, n * qDim, 1f);
                    long qA = d.halfs(q);
                    int[] decodes = new int[2 * n];
                    for (int t = 0; t < n; t++) {
                        decodes[2 * t] = t;
                        decodes[2 * t + 1] = t;
                    }
                    int splits = (2049 + chunk - 1) / chunk;
                    long partO = d.poisoned(4L * n * nh * splits * hd);
                    long partMl = d.poisoned(4L * n * nh * splits * 2);
                    long out = d.poisoned(2L * n * qDim);
                    new CudaKernels(ctx, dt).decodeAttention(qA, kCache, vCache, partO, partMl, out, d.ints(decodes), n,
                            d.ints(lay.positions()), d.ints(lay.flatTables()), lay.stride(), nh, nkv, hd, lay.blockSize(),
                            chunk, splits);
                    float[] expected = cpuAttention(d, lay, q, kc, vc, nh, nkv, hd, java.util.stream.IntStream.range(0, n).toArray());
                    assertRows("decode " + Arrays.toString(shape) + " chunk " + chunk, d.readHalfs(out, n * qDim), expected,
                            n * nh, hd, 2 * Dev.bound(dt));
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchTheCpuSiluMulAndBiasAdd(CudaDtype dt) {
        try (Dev d = dev(dt)) {
            Random r = rnd("swiglu");
            int rows = 7;
            CudaKernels k = new CudaKernels(ctx, dt);
            // 333: one element per thread step; 336 and 3000: four (16-byte loads), 3000 past one block's 1024 columns
            for (int cols : new int[] {333, 336, 3000}) {
                float[] gu = Dev.random(r, rows * 2 * cols, 2f);
                long guA = d.floats(gu); // FP32: the gate|up GEMM output
                int slack = 16;
                long out = d.poisoned(2L * (rows * cols + slack));
                k.siluMul(guA, out, rows, cols);
                MemorySegment g = d.segment(gu);
                MemorySegment e = d.zeros((long) rows * cols);
                for (int i = 0; i < rows; i++) {
                    ScalarKernels.siluMul(g, (long) i * 2 * cols, g, (long) i * 2 * cols + cols, e, (long) i * cols, cols);
                }
                assertRows("silu_mul inter=" + cols, d.readHalfs(out, rows * cols), e.toArray(ValueLayout.JAVA_FLOAT), rows, cols,
                        Dev.bound(dt));
                int[] words = d.readInts(out, (rows * cols + slack) / 2);
                for (int i = (rows * cols + 1) / 2 + 1; i < words.length; i++) {
                    assertEquals(Dev.NAN_WORDS, words[i], "silu_mul inter=" + cols + " wrote past its output");
                }
                // silu_mul16: the same from a 16-bit gate|up (the inputs rounded to the dtype first, on both sides)
                long gu16 = d.halfs(gu);
                long out16 = d.poisoned(2L * (rows * cols + slack));
                k.siluMul16(gu16, out16, rows, cols);
                MemorySegment g16 = d.segment(gu);
                MemorySegment e16 = d.zeros((long) rows * cols);
                for (int i = 0; i < rows; i++) {
                    ScalarKernels.siluMul(g16, (long) i * 2 * cols, g16, (long) i * 2 * cols + cols, e16, (long) i * cols, cols);
                }
                assertRows("silu_mul16 inter=" + cols, d.readHalfs(out16, rows * cols), e16.toArray(ValueLayout.JAVA_FLOAT), rows,
                        cols, Dev.bound(dt));
                int[] words16 = d.readInts(out16, (rows * cols + slack) / 2);
                for (int i = (rows * cols + 1) / 2 + 1; i < words16.length; i++) {
                    assertEquals(Dev.NAN_WORDS, words16[i], "silu_mul16 inter=" + cols + " wrote past its output");
                }
            }
            int inter = 333;
            float[] bias = Dev.random(r, inter, 1f);
            float[] y = Dev.random(r, rows * inter, 1f);
            long yA = d.floats(y);
            k.addBias(yA, d.floats(bias), rows, inter);
            for (int i = 0; i < y.length; i++) {
                y[i] += bias[i % inter];
            }
            assertRows("add_bias (FP32)", d.readFloats(yA, rows * inter), y, rows, inter, 1e-7);
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldPickTheFirstMaximumLikeTheHostArgmax(CudaDtype dt) {
        try (Dev d = dev(dt)) {
            Random r = rnd("argmax");
            int vocab = 50021;
            int rows = 6;
            float[] logits = Dev.random(r, rows * vocab, 3f);
            logits[vocab + 17] = 100;
            logits[vocab + 40000] = 100; // tie: the lower index wins
            Arrays.fill(logits, 2 * vocab, 3 * vocab, 1.5f); // all equal: index 0
            logits[3 * vocab + 5] = Float.NaN; // NaN never wins
            logits[3 * vocab + vocab - 1] = 50;
            logits[4 * vocab] = 60; // the very first element
            long l = d.floats(logits);
            long out = d.poisoned(4L * rows);
            new CudaKernels(ctx, dt).argmax(l, rows, vocab, out);
            int[] got = d.readInts(out, rows);
            for (int row = 0; row < rows; row++) {
                int best = 0;
                float bv = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < vocab; i++) {
                    if (logits[row * vocab + i] > bv) {
                        bv = logits[row * vocab + i];
                        best = i;
                    }
                }
                assertEquals(best, got[row], "argmax row " + row + seed());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchAPlainMatmulThroughCublas(CudaDtype dt) {
        int[][] shapes = {{1, 64, 200}, {7, 96, 130}, {33, 256, 512}};
        try (Dev d = dev(dt)) {
            long ws = d.arena.take(32L << 20, "workspace");
            try (CublasGemm gemm = new CublasGemm(new Cublas(ctx.stream().handle(), ws, 32L << 20), dt)) {
                for (int[] s : shapes) {
                    int tokens = s[0];
                    int in = s[1];
                    int out = s[2];
                    Random r = rnd("gemm" + Arrays.toString(s));
                    float[] x = Dev.random(r, tokens * in, 1f);
                    float[] w = Dev.random(r, out * in, 0.1f);
                    long xA = d.halfs(x);
                    long wA = d.halfs(w);
                    float[] expected = new float[tokens * out];
                    for (int t = 0; t < tokens; t++) {
                        for (int o = 0; o < out; o++) {
                            double acc = 0;
                            for (int i = 0; i < in; i++) {
                                acc += (double) x[t * in + i] * w[o * in + i];
                            }
                            expected[t * out + o] = (float) acc;
                        }
                    }
                    long y16 = d.poisoned(2L * tokens * out);
                    long y32 = d.poisoned(4L * tokens * out);
                    gemm.linear(xA, wA, y16, tokens, in, out, false);
                    gemm.linear(xA, wA, y32, tokens, in, out, true);
                    assertRows("gemm " + Arrays.toString(s), d.readHalfs(y16, tokens * out), expected, tokens, out, Dev.bound(dt));
                    assertRows("gemm fp32 out " + Arrays.toString(s), d.readFloats(y32, tokens * out), expected, tokens, out, 1e-4);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchAPlainMatmulInTheDecodeGemvKernel(CudaDtype dt) {
        int[][] shapes = {{1, 64, 200}, {3, 96, 130}, {8, 4096, 300}, {5, 14336, 40}, {2, 1032, 9}};
        try (Dev d = dev(dt)) {
            CudaKernels k = new CudaKernels(ctx, dt);
            for (int[] s : shapes) {
                int tokens = s[0];
                int in = s[1];
                int out = s[2];
                Random r = rnd("gemv" + Arrays.toString(s));
                float[] x = Dev.random(r, tokens * in, 1f);
                float[] w = Dev.random(r, out * in, 0.1f);
                long xA = d.halfs(x);
                long wA = d.halfs(w);
                float[] expected = new float[tokens * out];
                for (int t = 0; t < tokens; t++) {
                    for (int o = 0; o < out; o++) {
                        double acc = 0;
                        for (int i = 0; i < in; i++) {
                            acc += (double) x[t * in + i] * w[o * in + i];
                        }
                        expected[t * out + o] = (float) acc;
                    }
                }
                long yT = d.poisoned(2L * tokens * out + 64);
                long y32 = d.poisoned(4L * tokens * out + 64);
                k.gemv(xA, wA, yT, tokens, in, out, false);
                k.gemv(xA, wA, y32, tokens, in, out, true);
                assertRows("gemv " + Arrays.toString(s), d.readHalfs(yT, tokens * out), expected, tokens, out, Dev.bound(dt));
                assertRows("gemv fp32 out " + Arrays.toString(s), d.readFloats(y32, tokens * out), expected, tokens, out, 1e-5);
                float[] tail = d.readFloats(y32 + 4L * tokens * out, 16);
                for (float v : tail) {
                    assertTrue(Float.isNaN(v), "gemv wrote past its output" + seed());
                }
            }
        }
    }

    /** Row-wise relative error of {@code got} against {@code expected}, {@code rows} rows of {@code cols}. */
    static void assertRows(String what, float[] got, float[] expected, int rows, int cols, double bound) {
        double worst = 0;
        int worstRow = -1;
        for (int i = 0; i < rows; i++) {
            double e = Dev.relErr(got, i * cols, expected, i * cols, cols);
            if (!(e <= bound) || Double.isNaN(e)) {
                throw new AssertionError(what + ": row " + i + " rel err " + e + " > " + bound + "; got "
                        + Arrays.toString(Arrays.copyOfRange(got, i * cols, i * cols + Math.min(cols, 6))) + ", expected "
                        + Arrays.toString(Arrays.copyOfRange(expected, i * cols, i * cols + Math.min(cols, 6))) + seed());
            }
            if (e > worst) {
                worst = e;
                worstRow = i;
            }
        }
        System.out.printf("[kernels] %-40s worst row %d rel err %.2e (bound %.0e)%n", what, worstRow, worst, bound);
    }
}
