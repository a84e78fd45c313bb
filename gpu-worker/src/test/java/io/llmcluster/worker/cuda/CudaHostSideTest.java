package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.ForwardBatch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** The parts of the CUDA backend that run on the host, tested without a GPU (these run in CI). */
class CudaHostSideTest {
    @Test
    void shouldCarveTheArenaIn256ByteAlignedPiecesAndCountWhatARealOneNeeds() {
        DeviceArena a = DeviceArena.counting();
        long x = a.take(10, "x");
        long y = a.take(300, "y");
        long z = a.take(0, "z");
        assertEquals(0, x % 256);
        assertEquals(x + 256, y);
        assertEquals(y + 512, z);
        assertEquals(768, a.used());
        assertThrows(IllegalArgumentException.class, () -> a.take(-1, "negative"));
    }

    @Test
    void shouldSpreadTheRopeKvWriteOfOneTokenOverOneCtaPer256WorkItems() {
        // Llama 3 8B: (32 + 8) heads x 64 pairs + 8 x 128 v elements = 3584 items
        assertEquals(14, CudaKernels.ropeCtasPerToken(32, 8, 128));
        assertEquals(1, CudaKernels.ropeCtasPerToken(4, 1, 16)); // 56 items
        assertEquals(4, CudaKernels.ropeCtasPerToken(8, 2, 128)); // 896 items
        assertEquals(32, CudaKernels.ropeCtasPerToken(128, 128, 256)); // capped
    }

    @Test
    void shouldRoundToNearestEvenInBothDtypes() {
        assertEquals(1f, CudaDtype.F16.decode(CudaDtype.F16.encode(1f)));
        assertEquals(65504f, CudaDtype.F16.decode(CudaDtype.F16.encode(65504f)));
        // bf16 keeps 8 mantissa bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7, ties to even (1)
        assertEquals(1f, CudaDtype.BF16.decode(CudaDtype.BF16.encode(1f + 1f / 256)));
        assertEquals(1f + 1f / 64, CudaDtype.BF16.decode(CudaDtype.BF16.encode(1f + 3f / 256)));
        assertEquals(-2.5f, CudaDtype.BF16.decode(CudaDtype.BF16.encode(-2.5f)));
        assertTrue(Float.isNaN(CudaDtype.BF16.decode(CudaDtype.BF16.encode(Float.NaN))));
        assertEquals(CudaDtype.BF16, CudaDtype.parse("bfloat16"));
        assertThrows(IllegalArgumentException.class, () -> CudaDtype.parse("fp8"));
    }

    @Test
    void shouldPackTilesDecodesAndBlockTablesWithThisStepsStride() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(4 * StepInputs.capacityInts(64, 4, 256, 16));
            StepInputs in = new StepInputs(64, 4, 256, 16, 100, 512, 4, true, host);
            ForwardBatch b = new ForwardBatch(64, 4);
            b.addSequence(new int[10], 0, 10, 30, new int[] {7, 8, 9, -1}, ForwardBatch.Logits.LAST); // prefill at 30..39
            b.addSequence(new int[] {5}, 0, 1, 16, new int[] {3, 4}, ForwardBatch.Logits.LAST); // decode at 16
            in.pack(b);
            assertEquals(11, in.numTokens);
            assertEquals(3, in.tableStride); // position 39 needs 3 blocks
            assertEquals(3, in.numTiles); // 10 tokens in tiles of 4
            assertEquals(1, in.numDecodes);
            assertEquals(17, in.maxDecodeContext);
            assertArrayEquals(new int[] {0, 4, 0, 0, 4, 4, 0, 0, 8, 2, 0, 0}, ints(host, in.tiles, 12));
            assertArrayEquals(new int[] {10, 1}, ints(host, in.decodes, 2));
            assertArrayEquals(new int[] {7, 8, 9, 3, 4}, new int[] {ints(host, in.blockTables, 3)[0],
                    ints(host, in.blockTables, 3)[1], ints(host, in.blockTables, 3)[2], ints(host, in.blockTables + 3, 2)[0],
                    ints(host, in.blockTables + 3, 2)[1]});
            assertArrayEquals(new int[] {9, 10}, ints(host, in.logitRows, 2));
            assertEquals(in.blockTables + 2 * 3, in.usedInts);
        }
    }

    @Test
    void shouldRejectABadBlockTableEntryOrPositionBeforeAnyKernelRuns() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(4 * StepInputs.capacityInts(64, 4, 256, 16));
            StepInputs in = new StepInputs(64, 4, 256, 16, 100, 512, 4, true, host);
            ForwardBatch b = new ForwardBatch(64, 4);
            b.addSequence(new int[3], 0, 3, 0, new int[] {100}, ForwardBatch.Logits.LAST);
            assertThrows(IllegalArgumentException.class, () -> in.pack(b));
            b.clear();
            b.addSequence(new int[3], 0, 3, 15, new int[] {1}, ForwardBatch.Logits.LAST); // needs 2 blocks
            assertThrows(IllegalArgumentException.class, () -> in.pack(b));
            b.clear();
            b.addSequence(new int[] {512}, 0, 1, 0, new int[] {1}, ForwardBatch.Logits.LAST); // id outside the vocab
            assertThrows(IllegalArgumentException.class, () -> in.pack(b));
            b.clear();
            b.addSequence(new int[] {1}, 0, 1, 256, new int[17], ForwardBatch.Logits.LAST); // beyond the context
            assertThrows(IllegalArgumentException.class, () -> in.pack(b));
            b.clear();
            b.addSequence(new int[] {7}, 0, 1, 5, new int[] {1}, ForwardBatch.Logits.LAST);
            b.addSequence(new int[] {-1}, 0, 1, 5, new int[] {2}, ForwardBatch.Logits.LAST); // a decode outside the vocab
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> in.packDecodes(b, 2, 1, 99));
            assertEquals("token id -1 is outside the vocabulary [0, 512)", e.getMessage());
        }
    }

    @Test
    void shouldSkipOrRunTheGpuTestsWithAReason() {
        CudaAvailability a = CudaAvailability.probe();
        assertTrue(a.reason() != null && !a.reason().isBlank());
        System.out.println("[cuda] available=" + a.available() + ": " + a.reason() + (a.device() != null ? " " + a.device() : ""));
    }

    private static int[] ints(MemorySegment s, int from, int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = s.getAtIndex(JAVA_INT, from + i);
        }
        return out;
    }
}
