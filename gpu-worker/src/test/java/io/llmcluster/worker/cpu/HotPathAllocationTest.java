package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.TestData.random;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The hot paths allocate nothing once C2 has compiled them: repeated windows of calls until one allocates zero
 * bytes on the calling thread (a one-thread pool keeps all the work there). The interpreter and C1 box vectors,
 * so the first windows may allocate; a path that still allocates after a generous warm-up (30 s) fails.
 */
@Timeout(300)
class HotPathAllocationTest {
    private static final int CALLS_PER_WINDOW = 1000;
    /** C2 compiles in the background and may queue behind other tests' methods on a busy machine. */
    private static final long WARM_UP_LIMIT_NS = 30_000_000_000L;

    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
                .getCurrentThreadAllocatedBytes();
    }

    /**
     * Bytes per call allocated by the last window, rounded down: 0 once the path allocates nothing per call
     * (measuring itself allocates a few hundred bytes per window, well under one byte per call).
     */
    private static long lastWindowBytes(Runnable call) {
        long bytes = -1;
        long deadline = System.nanoTime() + WARM_UP_LIMIT_NS;
        while (bytes != 0 && System.nanoTime() - deadline < 0) {
            long before = allocatedBytes();
            for (int i = 0; i < CALLS_PER_WINDOW; i++) {
                call.run();
            }
            bytes = (allocatedBytes() - before) / CALLS_PER_WINDOW;
        }
        return bytes;
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void linearDecodeAndPrefillShouldNotAllocate(DType dtype) {
        try (Arena arena = Arena.ofShared(); CpuThreadPool pool = new CpuThreadPool(1)) {
            int rows = 10;
            int cols = 40;
            WeightMatrix w = WeightMatrixTest.randomMatrix(arena, dtype, rows, cols, 1);
            MemorySegment bias = random(arena, new SplittableRandom(2), 0, rows, -1, 1);
            MemorySegment x = random(arena, new SplittableRandom(3), 0, 6L * cols, -1, 1);
            MemorySegment out = arena.allocate(6L * rows * 4);
            Linear linear = new Linear(w, bias, pool);
            assertEquals(0, lastWindowBytes(() -> linear.forward(x, 0, 1, out, 0)), dtype + " decode");
            assertEquals(0, lastWindowBytes(() -> linear.forward(x, 0, 6, out, 0)), dtype + " prefill");
        }
    }

    @Test
    void attentionRopeAndElementwiseKernelsShouldNotAllocate() {
        try (Arena arena = Arena.ofConfined()) {
            int headDim = 32;
            MemorySegment cache = random(arena, new SplittableRandom(4), 0, 8L * 16 * 2 * headDim, -1, 1);
            MemorySegment q = random(arena, new SplittableRandom(5), 0, 4L * headDim, -1, 1);
            MemorySegment out = arena.allocate(4L * headDim * 4);
            float[] scores = new float[2 * 20];
            int[] table = {5, 2};
            RopeTable rope = new RopeTable(headDim, 64, 10000, null);
            assertEquals(0, lastWindowBytes(() -> PagedAttention.attendGroup(q, 0, 1, 2, cache, cache, table, 16,
                    20, 2, headDim, 0.2f, out, 0, scores)), "attendGroup");
            KvCacheArena kv8 = new KvCacheArena(1, 8, 16, 2, headDim, true, arena);
            MemorySegment kv = random(arena, new SplittableRandom(6), 0, 2L * headDim, -1, 1);
            assertEquals(0, lastWindowBytes(() -> PagedAttentionInt8.writeKv(kv8.keys(0), kv8.values(0), kv8.keyScales(0),
                    kv8.valueScales(0), 37, kv, 0, kv, 0, 2, headDim)), "INT8 writeKv");
            assertEquals(0, lastWindowBytes(() -> PagedAttentionInt8.attendGroup(q, 0, 1, 2, kv8.keys(0), kv8.values(0),
                    kv8.keyScales(0), kv8.valueScales(0), table, 16, 20, 2, headDim, 0.2f, out, 0, scores)), "INT8 attendGroup");
            assertEquals(0, lastWindowBytes(() -> rope.apply(q, 0, 4, headDim, 9)), "rope");
            assertEquals(0, lastWindowBytes(() -> CpuKernels.rmsNorm(q, 0, q, 1, out, 0, 100, 1e-5f)), "rmsNorm");
            assertEquals(0, lastWindowBytes(() -> CpuKernels.siluMul(q, 0, q, 1, out, 0, 100)), "siluMul");
            assertEquals(0, lastWindowBytes(() -> CpuKernels.axpy(0.5f, q, 0, out, 0, 100)), "axpy");
        }
    }
}
