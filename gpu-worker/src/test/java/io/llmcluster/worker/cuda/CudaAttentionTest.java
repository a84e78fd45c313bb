package io.llmcluster.worker.cuda;

import static io.llmcluster.worker.cuda.CudaKernelsTest.assertRows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.cpu.PagedAttention;
import io.llmcluster.worker.cuda.CudaKernelsTest.Layout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The tensor-core attention kernels ({@link AttentionKernels}) against the CPU twin {@link PagedAttention#attendGroup}
 * on random data: GQA groups 1 to 16 (3: rows that do not fill a tile), head dims 16 to 128 (16, 48, 96: columns
 * past the head dim), variable-length batches with cached prefixes through shuffled block tables with holes,
 * partial blocks (block sizes 16 and 7), causal tiles that straddle the diagonal, decode contexts around the
 * 64-key tile edges and split chunks that are not multiples of it, splits past the context (empty); on compute
 * capability 9.0 also every variant of the Hopper (wgmma) prefill kernel at head dim 128, with contexts of up to 6
 * of its 128-key tiles (its 3-stage K/V ring wraps), block sizes 16, 7 and 32, and its persistent variants on 5 CTAs
 * (each takes many items from the global counter: the ring, the mbarrier phases and the ping-pong carry over from item
 * to item; four persistent variants run in a row on one counter, so one that is not back at 0 after a launch skips
 * items of the next and leaves poisoned rows). Unused KV slots
 * and every output are NaN-poisoned, so a kernel that reads past a sequence or skips a row fails.
 */
@RequiresCuda
class CudaAttentionTest extends CudaDeviceTest {
    /** {query heads, kv heads, head dim}. */
    static final int[][] SHAPES = {{4, 4, 64}, {8, 2, 128}, {16, 2, 64}, {32, 2, 128}, {16, 1, 32}, {6, 2, 48},
        {4, 2, 16}, {8, 8, 96}, {32, 8, 128}};

    /** K/V for every position each sequence has, on the device (16-bit) and the host (FP32); other slots NaN / 0. */
    private static void fillKv(Dev d, Random r, Layout lay, int kvDim, long kCache, long vCache, MemorySegment kc,
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
        long kTmp = d.halfs(kAll); // rounds in place to what the device holds; NaN stays NaN
        long vTmp = d.halfs(vAll);
        jcuda.driver.JCudaDriver.cuMemcpyDtoD(d.arena.pointer(kCache), d.arena.pointer(kTmp), 2 * slots * kvDim);
        jcuda.driver.JCudaDriver.cuMemcpyDtoD(d.arena.pointer(vCache), d.arena.pointer(vTmp), 2 * slots * kvDim);
        for (int i = 0; i < kAll.length; i++) {
            kc.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.isNaN(kAll[i]) ? 0 : kAll[i]);
            vc.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.isNaN(vAll[i]) ? 0 : vAll[i]);
        }
    }

    /** The CPU twin for every token: PagedAttention.attendGroup over positions [0, its position]. */
    static float[] cpuAttention(Dev d, Layout lay, float[] q, MemorySegment kc, MemorySegment vc, int nh, int nkv,
            int hd) {
        int qDim = nh * hd;
        MemorySegment qs = d.segment(q);
        MemorySegment out = d.zeros((long) lay.tokens() * qDim);
        int maxCtx = Arrays.stream(lay.positions()).max().orElse(0) + 1;
        float[] scratch = new float[(nh / nkv) * maxCtx];
        for (int t = 0; t < lay.tokens(); t++) {
            int seq = lay.seqOfToken()[t];
            for (int kvh = 0; kvh < nkv; kvh++) {
                PagedAttention.attendGroup(qs, (long) t * qDim, kvh, nh / nkv, kc, vc, lay.tables()[seq], lay.blockSize(),
                        lay.positions()[t] + 1, nkv, hd, (float) (1 / Math.sqrt(hd)), out, (long) t * qDim, scratch);
            }
        }
        return out.toArray(ValueLayout.JAVA_FLOAT);
    }

    static int[] tiles(Layout lay, int perTile) {
        List<Integer> tiles = new ArrayList<>();
        int first = 0;
        for (int s = 0; s < lay.start().length; s++) {
            for (int i = 0; i < lay.count()[s]; i += perTile) {
                tiles.addAll(List.of(first + i, Math.min(perTile, lay.count()[s] - i), s, 0));
            }
            first += lay.count()[s];
        }
        return tiles.stream().mapToInt(Integer::intValue).toArray();
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchTheCpuAttentionInTheTensorCorePrefillKernel(CudaDtype dt) {
        // (cached prefix, new tokens) per sequence: one token, odd lengths, prefix hits, many tiles, a long prefix
        // the third: more 128-key tiles (up to 6) than the Hopper kernel's pipeline stages, so its ring wraps
        int[][][] layouts = {{{0, 0, 37, 0, 5, 200}, {1, 19, 9, 70, 33, 130}, {16}}, {{0, 11, 3}, {65, 40, 1}, {7}},
            {{700, 0, 129}, {60, 300, 2}, {32}}};
        for (int[] shape : SHAPES) {
            for (int[][] layout : layouts) {
                prefillCase(dt, shape, layout, true);
            }
        }
        prefillCase(dt, new int[] {8, 2, 128}, layouts[0], false); // the CUDA-core fallback through the same entry
    }

    private void prefillCase(CudaDtype dt, int[] shape, int[][] layout, boolean tensorCores) {
        int nh = shape[0];
        int nkv = shape[1];
        int hd = shape[2];
        try (Dev d = new Dev(ctx, dt, 128L << 20)) {
            Random r = new Random(SEED ^ (Arrays.toString(shape) + Arrays.deepToString(layout)).hashCode());
            Layout lay = Layout.of(r, layout[2][0], layout[0], layout[1]);
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
            int perTile = tensorCores ? AttentionKernels.prefillTokensPerTile(nh / nkv, hd)
                    : CudaKernels.prefillTokensPerTile(nh / nkv);
            int[] tiles = tiles(lay, perTile);
            float[] expected = cpuAttention(d, lay, q, kc, vc, nh, nkv, hd);
            try (AttentionKernels att = new AttentionKernels(ctx, new CudaKernels(ctx, dt))) {
                for (int v = 0; v < (tensorCores ? att.prefillVariantCount() : 1); v++) {
                    if (v >= AttentionKernels.PREFILL_VARIANTS.length && !att.wgmmaServes(v, hd)) {
                        continue; // the Hopper kernel's variants serve head dim 128 only (the others fall back to v2)
                    }
                    att.setPrefillVariant(v);
                    att.setPersistentCtas(5); // persistent variants: each CTA walks many items (the timing runs one per SM)
                    long out = d.poisoned(2L * n * qDim + 64);
                    att.prefill(qA, kCache, vCache, out, d.ints(tiles), tiles.length / 4, d.ints(lay.positions()),
                            d.ints(lay.flatTables()), lay.stride(), nh, nkv, hd, lay.blockSize(), tensorCores);
                    String what = (!tensorCores ? "fallback prefill " : att.wgmmaServes(v, hd) ? "wgmma prefill v" + v + " "
                            : "mma prefill v" + v + " ") + Arrays.toString(shape)
                            + " bs " + lay.blockSize();
                    assertRows(what, d.readHalfs(out, n * qDim), expected, n * nh, hd, 2 * Dev.bound(dt));
                    for (float x : d.readHalfs(out + 2L * n * qDim, 32)) {
                        assertTrue(Float.isNaN(x), what + " wrote past its output" + seed());
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaDtype.class)
    void shouldMatchTheCpuAttentionInTheTensorCoreDecodeKernel(CudaDtype dt) {
        for (int[] shape : SHAPES) {
            for (int blockSize : new int[] {16, 7}) {
                for (int chunk : new int[] {64, 100, 512, 4096}) { // 4096: one split, the output written by the kernel
                    decodeCase(dt, shape, blockSize, chunk, true);
                }
            }
        }
        decodeCase(dt, new int[] {32, 4, 128}, 16, 128, false);
    }

    private void decodeCase(CudaDtype dt, int[] shape, int blockSize, int chunk, boolean tensorCores) {
        int nh = shape[0];
        int nkv = shape[1];
        int hd = shape[2];
        try (Dev d = new Dev(ctx, dt, 128L << 20)) {
            Random r = new Random(SEED ^ ("decode" + Arrays.toString(shape) + blockSize + chunk).hashCode());
            int[] ctxLen = {1, 15, 16, 17, 63, 64, 65, 300, 1000, 2049};
            int[] start = new int[ctxLen.length];
            int[] ones = new int[ctxLen.length];
            for (int s = 0; s < ctxLen.length; s++) {
                start[s] = ctxLen[s] - 1;
                ones[s] = 1;
            }
            Layout lay = Layout.of(r, blockSize, start, ones);
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
            int splits = (2049 + chunk - 1) / chunk + (chunk == 512 ? 2 : 0); // chunk 512: two splits past every context
            float[] expected = cpuAttention(d, lay, q, kc, vc, nh, nkv, hd);
            try (AttentionKernels att = new AttentionKernels(ctx, new CudaKernels(ctx, dt))) {
                // the one-token kernel + reduce, the items kernel with 1 and 3 tokens per CTA (10 tokens: the last CTA takes
                // one), its default pick, then 3 tokens a CTA on the 3-stage ring
                int[] itemVariants = tensorCores ? new int[] {AttentionKernels.DECODE_ITEMS_OLD, 1, 3, AttentionKernels.DECODE_ITEMS_AUTO}
                        : new int[] {AttentionKernels.DECODE_ITEMS_AUTO};
                // then each variant of the warp-per-task kernel (decode_attention_warp.cu)
                int warpVariants = tensorCores ? AttentionKernels.DECODE_WARP_VARIANTS.length : 0;
                int stages3 = tensorCores ? 1 : 0;
                for (int v = 0; v < itemVariants.length + stages3 + warpVariants; v++) {
                    int items = v < itemVariants.length ? itemVariants[v] : v < itemVariants.length + stages3 ? 3
                            : AttentionKernels.DECODE_ITEMS_AUTO;
                    int warp = v < itemVariants.length + stages3 ? AttentionKernels.DECODE_WARP_OFF : v - itemVariants.length - stages3;
                    att.setDecodeItemStages(v < itemVariants.length ? AttentionKernels.DEFAULT_DECODE_ITEM_STAGES : 3);
                    att.setDecodeItemsPerCta(items);
                    att.setDecodeWarpVariant(warp);
                    long partO = d.poisoned(4L * n * nh * splits * hd);
                    long partMl = d.poisoned(4L * n * nh * splits * 2);
                    long out = d.poisoned(2L * n * qDim + 64);
                    att.decode(qA, kCache, vCache, partO, partMl, out, d.ints(decodes), n, d.ints(lay.positions()),
                            d.ints(lay.flatTables()), lay.stride(), nh, nkv, hd, lay.blockSize(), chunk, splits, tensorCores);
                    String what = (warp >= 0 ? "warp decode v" + warp + " "
                            : tensorCores ? "mma decode items " + items + (v < itemVariants.length ? " " : " 3 stages ")
                            : "fallback decode ") + Arrays.toString(shape)
                            + " bs " + blockSize + " chunk " + chunk;
                    assertRows(what, d.readHalfs(out, n * qDim), expected, n * nh, hd, 2 * Dev.bound(dt));
                    for (float x : d.readHalfs(out + 2L * n * qDim, 32)) {
                        assertTrue(Float.isNaN(x), what + " wrote past its output" + seed());
                    }
                }
            }
        }
    }
}
