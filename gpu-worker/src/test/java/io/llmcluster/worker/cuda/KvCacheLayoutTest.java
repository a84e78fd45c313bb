package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.KvCacheDtype;
import org.junit.jupiter.api.Test;

/** Pool sizing of the CUDA KV cache, 16-bit and INT8 (no GPU needed). */
class KvCacheLayoutTest {
    /** Llama-3-8B: 32 layers, 8 kv heads of 128, blocks of 16 tokens, FP16. */
    private static KvCacheLayout eightB(KvCacheDtype d) {
        return new KvCacheLayout(32, 8, 128, 16, 2, d);
    }

    @Test
    void shouldSizeSixteenBitBlocksAsBefore() {
        KvCacheLayout l = eightB(KvCacheDtype.AUTO);
        assertEquals(2L * 32 * 16 * 8 * 128 * 2, l.bytesPerBlock()); // 2 MiB
        assertEquals(16L * 8 * 128 * 2 * 10, l.layerBytes(10));
        assertEquals(0, l.layerScaleBytes(10));
        assertEquals(5120, l.blocksFor(10L << 30));
        assertEquals(2, l.cacheElementBytes());
    }

    @Test
    void shouldGiveInt8BlocksOneBytePerElementPlusAnFp32ScalePerTokenAndKvHead() {
        KvCacheLayout l = eightB(KvCacheDtype.INT8);
        assertEquals(16L * 8 * 128, l.layerBytes(1));
        assertEquals(16L * 8 * 4, l.layerScaleBytes(1));
        assertEquals(1_081_344, l.bytesPerBlock()); // 2 x 32 x (16384 + 512)
        assertEquals(9929, l.blocksFor(10L << 30)); // 1.94x the 5120 FP16 blocks
        assertEquals(5120, l.unquantized().blocksFor(10L << 30));
        // sequences of 32k tokens (2048 blocks each) that fit in 10 GiB: 2 with FP16, 4 with INT8
        assertEquals(2, l.unquantized().blocksFor(10L << 30) / 2048);
        assertEquals(4, l.blocksFor(10L << 30) / 2048);
        // a BF16 run: the same bytes per INT8 block, the element size only matters for auto
        assertEquals(l.bytesPerBlock(), new KvCacheLayout(32, 8, 128, 16, 2, KvCacheDtype.INT8).bytesPerBlock());
    }

    @Test
    void shouldCapBlocksAtTheIdRangeAndNeverGoNegative() {
        KvCacheLayout tiny = new KvCacheLayout(1, 1, 8, 1, 2, KvCacheDtype.INT8); // 2 x (8 + 4) = 24 bytes a block
        assertEquals(24, tiny.bytesPerBlock());
        assertEquals(1 << 24, tiny.blocksFor(1L << 40));
        assertEquals(0, tiny.blocksFor(23));
        assertEquals(0, tiny.blocksFor(-5));
        assertThrows(IllegalArgumentException.class, () -> new KvCacheLayout(0, 1, 8, 1, 2, KvCacheDtype.AUTO));
    }

    @Test
    void shouldOfferInt8OnlyForShapesOfTheTensorCoreAttention() {
        for (int hd : new int[] {16, 32, 48, 64, 96, 128}) {
            assertTrue(Int8KvKernels.supports(hd), "head_dim " + hd);
            assertNull(Int8KvKernels.refusal(hd));
        }
        for (int hd : new int[] {256, 100, 136}) {
            assertFalse(Int8KvKernels.supports(hd), "head_dim " + hd);
        }
        assertEquals("--kv-cache-dtype int8 needs the tensor-core attention kernels (head_dim % 8 == 0 and head_dim <= 128);"
                + " this model has head_dim 256, which only the CUDA-core kernels (16-bit KV) serve: use --kv-cache-dtype auto",
                Int8KvKernels.refusal(256));
    }

    @Test
    void shouldSizeTheInt8KernelsSharedMemoryLikeTheKernelsLayout() {
        // decode, class 128: q 16 rows + one K and one V tile of 64 rows, 136 halves each; two stages of
        // 2 x 64 x 128 bytes + 2 x 64 scales
        assertEquals((16 + 128) * 136 * 2 + 2 * (2 * 64 * 128 + 2 * 64 * 4), Int8KvKernels.decodeSharedBytes(128, 2));
        assertEquals((16 + 128) * 136 * 2 + 4 * (2 * 64 * 128 + 2 * 64 * 4), Int8KvKernels.decodeSharedBytes(128, 4));
        // prefill v2 (32-key tiles), class 64: q 128 rows + 2 x 32 rows of 72 halves, two stages of 2 x 32 x 64 + 2 x 32 x 4
        assertEquals((128 + 64) * 72 * 2 + 2 * (2 * 32 * 64 + 2 * 32 * 4), Int8KvKernels.prefillSharedBytes(2, 64));
        // the default variants need no more than the 16-bit kernels: the same occupancy
        assertTrue(Int8KvKernels.decodeSharedBytes(128, 2) <= AttentionKernels.decodeSharedBytes(128));
        assertTrue(Int8KvKernels.prefillSharedBytes(2, 128) <= AttentionKernels.prefillSharedBytes(2, 128));
    }
}
