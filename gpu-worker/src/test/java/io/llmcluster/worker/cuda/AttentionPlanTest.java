package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which attention kernel serves a shape, and the decode attention's split plan (CudaBackend.splitPlan): no GPU. */
class AttentionPlanTest {
    /** The INT8 KV prefill has mma.sync variants only: a wgmma variant (Hopper's default) maps to the mma default. */
    @Test
    void shouldGiveKernelsWithoutAWgmmaVersionAnMmaVariant() {
        for (int v = 0; v < AttentionKernels.PREFILL_VARIANTS.length; v++) {
            assertEquals(v, AttentionKernels.mmaVariantOf(v));
        }
        assertEquals(2, AttentionKernels.mmaVariantOf(AttentionKernels.HOPPER_PREFILL_VARIANT));
        assertEquals(2, AttentionKernels.mmaVariantOf(AttentionKernels.PREFILL_VARIANTS.length
                + AttentionKernels.WGMMA_VARIANTS.length - 1));
    }

    /**
     * Hopper variants v4-v11: {64, 128}-key score tiles x {ping-pong, none} x {one CTA per item, persistent};
     * v12-v21: 128-key, persistent (batched table loads, scheduling fence, both, both without ping-pong, the fence
     * with table entries shuffled from the producer warp's lanes, that without ping-pong, a row per producer thread
     * pair with and without ping-pong, that with a conflict-free chunk order with and without the fence); the
     * default is v12.
     */
    @Test
    void shouldLaunchOneCtaPerItemOrAtMostOnePerSmForThePersistentHopperVariants() {
        int first = AttentionKernels.PREFILL_VARIANTS.length;
        assertEquals(18, AttentionKernels.WGMMA_VARIANTS.length);
        boolean[] persistent = {false, false, true, true, false, false, true, true, true, true, true, true, true, true,
            true, true, true, true};
        int[] keys = {64, 64, 64, 64, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128};
        for (int w = 0; w < 18; w++) {
            assertEquals(persistent[w], AttentionKernels.wgmmaPersistent(first + w), "v" + (first + w));
            assertEquals(keys[w], AttentionKernels.wgmmaScoreKeys(first + w), "v" + (first + w));
        }
        assertEquals(512, AttentionKernels.wgmmaGrid(first, 512, 132));       // one CTA per item
        assertEquals(132, AttentionKernels.wgmmaGrid(first + 2, 512, 132));   // persistent: one per SM
        assertEquals(40, AttentionKernels.wgmmaGrid(first + 6, 40, 132));     // fewer items than SMs
        assertEquals(5, AttentionKernels.wgmmaGrid(first + 7, 4096, 5));      // the tests' 5 CTAs
        assertEquals(4096, AttentionKernels.wgmmaGrid(first + 5, 4096, 5));
        // the default: 128-key score tiles with ping-pong and the batched table loads (entry w4), persistent
        assertEquals(12, AttentionKernels.HOPPER_PREFILL_VARIANT);
        assertEquals(4, AttentionKernels.WGMMA_VARIANTS[AttentionKernels.HOPPER_PREFILL_VARIANT - first][0]);
        assertTrue(AttentionKernels.wgmmaPersistent(AttentionKernels.HOPPER_PREFILL_VARIANT));
        assertEquals(128, AttentionKernels.wgmmaScoreKeys(AttentionKernels.HOPPER_PREFILL_VARIANT));
    }

    @Test
    void shouldPickTheTensorCoreKernelsForTheShapesTheyServe() {
        assertTrue(AttentionKernels.prefillTensorCores(128));
        assertTrue(AttentionKernels.prefillTensorCores(16));
        assertFalse(AttentionKernels.prefillTensorCores(256));
        assertFalse(AttentionKernels.prefillTensorCores(36));
        assertEquals(32, AttentionKernels.prefillTokensPerTile(4, 128));
        assertEquals(42, AttentionKernels.prefillTokensPerTile(3, 128));
        assertEquals(1, AttentionKernels.prefillTokensPerTile(200, 128));
        assertEquals(CudaKernels.prefillTokensPerTile(4), AttentionKernels.prefillTokensPerTile(4, 256));
        assertTrue(AttentionKernels.decodeTensorCores(32, 2, 128));
        assertFalse(AttentionKernels.decodeTensorCores(64, 2, 128));
        assertTrue(AttentionKernels.decodeSupports(32, 4, 256)); // CUDA-core decode kernel
        assertFalse(AttentionKernels.decodeSupports(64, 2, 128)); // group 32: decode through the prefill kernel
    }

    @Test
    void shouldSizeTheHopperKernelsSharedMemoryLikeTheKernelAndWithinTheBlockLimit() {
        // 1024 alignment slack + q tile + 3 stages x (K + V), 32 KiB each, + two 8-byte mbarriers per stage
        // + 4 item slots of the dynamic schedule (two 8-byte mbarriers and an int each)
        assertEquals(1024 + 7 * 32768 + 48 + 80, AttentionKernels.wgmmaSharedBytes());
        assertTrue(AttentionKernels.wgmmaSharedBytes() <= 227 * 1024);
    }

    @Test
    void shouldUseChunksOfTheConfiguredSizeWhileTheyFitTheSplitCap() {
        assertArrayEquals(new int[] {0, 1, 128}, CudaBackend.splitPlan(1, 128, 49, false));
        assertArrayEquals(new int[] {3, 8, 128}, CudaBackend.splitPlan(1024, 128, 49, false));
        assertArrayEquals(new int[] {4, 16, 128}, CudaBackend.splitPlan(1025, 128, 49, false));
        assertArrayEquals(new int[] {6, 64, 128}, CudaBackend.splitPlan(49 * 128, 128, 49, false)); // 49 used, 15 empty
    }

    @Test
    void shouldSpreadALongContextOverTheCapInWholeDecodeTiles() {
        // 32k + 43 positions, 8 kv heads on 132 SMs x 3 CTAs: 49 splits of 11 tiles (704 positions), 47 of them used
        assertArrayEquals(new int[] {18, 49, 704}, CudaBackend.splitPlan(32811, 128, 49, false));
        assertArrayEquals(new int[] {10, 49, 192}, CudaBackend.splitPlan(49 * 128 + 1, 128, 49, false)); // 99 tiles: 3 per split
    }

    @Test
    void shouldCoverEveryContextWithinTheCapAndGiveOnePlanPerClass() {
        for (int cap : new int[] {1, 7, 49, 64}) {
          for (boolean single : new boolean[] {false, true}) {
            Map<Integer, int[]> byClass = new HashMap<>();
            int maxClass = 8 + ((131072 + 63) / 64 + cap - 1) / cap; // what CudaBackend sizes its graph table for
            for (int ctx = 1; ctx <= 131072; ctx++) {
                int[] p = CudaBackend.splitPlan(ctx, 128, cap, single);
                String at = "cap " + cap + " context " + ctx + ": " + p[0] + "/" + p[1] + "/" + p[2];
                assertTrue(p[1] >= 1 && p[1] <= 64, at);
                assertTrue((long) p[1] * p[2] >= ctx, at);
                assertTrue((ctx + p[2] - 1) / p[2] <= Math.max(cap, 1), at + ": more non-empty splits than the cap");
                assertTrue(p[0] >= 0 && p[0] < maxClass, at);
                int[] seen = byClass.putIfAbsent(p[0], p);
                assertTrue(seen == null || (seen[1] == p[1] && seen[2] == p[2]), at + ": class reused with another plan");
            }
          }
        }
    }

    @Test
    void shouldRunAShortContextAsOneSplitOfAllItsChunksAtLargeBatches() {
        assertArrayEquals(new int[] {0, 1, 128}, CudaBackend.splitPlan(100, 128, 49, true));
        assertArrayEquals(new int[] {1, 1, 256}, CudaBackend.splitPlan(131, 128, 49, true)); // was 2 splits, one of 3 keys
        assertArrayEquals(new int[] {3, 1, 1024}, CudaBackend.splitPlan(1000, 128, 49, true));
        assertArrayEquals(new int[] {6, 1, 8192}, CudaBackend.splitPlan(49 * 128, 128, 49, true));
        // past maxSplits chunks the context is long enough to split at any batch: the long-context plan
        assertArrayEquals(new int[] {18, 49, 704}, CudaBackend.splitPlan(32811, 128, 49, true));
        assertEquals(49, CudaBackend.singleSplitMinBatch(49)); // batch 64 and up (graph buckets are powers of two)
    }

    /** decode_attention_items.cu: tokens per CTA by how many waves the one-token CTAs would fill, and its shared memory. */
    @Test
    void shouldGiveTwoDecodeTokensToACtaFromFourWavesOn() {
        int slots = 396; // H200: 132 SMs x 3 CTAs
        assertEquals(1, AttentionKernels.decodeItemsFor(64 * 8, slots)); // b64, 8 kv heads: 1.3 waves
        assertEquals(1, AttentionKernels.decodeItemsFor(128 * 8, slots)); // 2.6 waves
        assertEquals(1, AttentionKernels.decodeItemsFor(4 * slots - 1, slots));
        assertEquals(2, AttentionKernels.decodeItemsFor(4 * slots, slots));
        assertEquals(2, AttentionKernels.decodeItemsFor(256 * 8, slots)); // 5.2 waves
        assertEquals(2, AttentionKernels.decodeItemsFor(1L << 20, slots));
        assertEquals(1, AttentionKernels.decodeItemsFor(1, 0));
        // 4 x 64 K/V rows + 2 x (group + 1) q rows of 136 elements: group 4 fits three CTAs in an SM's 228 KB
        assertEquals((256 + 10) * 136 * 2, AttentionKernels.decodeItemsSharedBytes(128, 4, 2));
        assertTrue(3 * (AttentionKernels.decodeItemsSharedBytes(128, 4, 2) + 672 + 1024) <= 228 * 1024);
        assertEquals((256 + 34) * 40 * 2, AttentionKernels.decodeItemsSharedBytes(32, 16, 2));
        assertEquals(3 * (128 + 5) * 136 * 2, AttentionKernels.decodeItemsSharedBytes(128, 4, 3)); // two CTAs an SM
    }

    /**
     * decode_attention_warp.cu: one split of at most 512 positions and a quarter of a wave of warps (H200: 132 SMs x 2 CTAs
     * x 4 warps = 1056), and its shared memory (per warp: stages x 16 K and 16 V rows of 136 elements).
     */
    @Test
    void shouldTakeTheWarpKernelForShortSingleSplitsFromAQuarterWaveOfWarpsOn() {
        int slots = 1056;
        assertTrue(AttentionKernels.decodeWarpServes(64 * 8, slots, 1, 256)); // b64, 129-256 context
        assertTrue(AttentionKernels.decodeWarpServes(512 * 8, slots, 1, 512));
        assertTrue(AttentionKernels.decodeWarpServes(264, slots, 1, 128));
        assertFalse(AttentionKernels.decodeWarpServes(263, slots, 1, 128)); // b32 x 8 kv heads = 256: CTA-wide kernels
        assertFalse(AttentionKernels.decodeWarpServes(256 * 8, slots, 1, 1024)); // longer contexts: not measured
        assertFalse(AttentionKernels.decodeWarpServes(64 * 8 * 2, slots, 2, 128)); // several splits: not measured
        assertEquals(4 * 3 * 2 * 16 * 136 * 2, AttentionKernels.decodeWarpSharedBytes(0, 128));
        assertTrue(2 * (AttentionKernels.decodeWarpSharedBytes(0, 128) + 1024) <= 228 * 1024); // two CTAs an SM
        assertEquals(4 * 2 * 2 * 16 * 136 * 2, AttentionKernels.decodeWarpSharedBytes(1, 128));
        assertTrue(3 * (AttentionKernels.decodeWarpSharedBytes(1, 128) + 1024) <= 228 * 1024); // three
        assertEquals(2 * 4 * 2 * 16 * 40 * 2, AttentionKernels.decodeWarpSharedBytes(2, 32));
    }
}
