package io.llmcluster.worker.tools;

import io.llmcluster.worker.cpu.CpuThreadPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Memory bandwidth as the decode bound needs it, measured on off-heap buffers far larger than the caches,
 * on every thread of a {@link CpuThreadPool} (each thread its own contiguous part), best of several passes.
 * Both figures count <b>bytes read only</b>:
 * <ul>
 *   <li>{@link #copyReadBytesPerSecond}: {@code MemorySegment.copy} of the buffer into a second one; a copy
 *       also writes as many bytes as it reads (plus the write-allocate reads the hardware may add), which this
 *       figure does not count, so it is below what the memory system moves;</li>
 *   <li>{@link #streamReadBytesPerSecond}: a Vector API sum over the buffer, a pure read stream like a decode
 *       step's pass over the weights.</li>
 * </ul>
 */
public final class MemoryBandwidth {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final CpuThreadPool pool;
    private final long bytes;
    private final int passes;
    private final float[] sums;
    private volatile float sink;

    public MemoryBandwidth(CpuThreadPool pool, long bytes, int passes) {
        this.pool = pool;
        this.bytes = bytes & ~((long) F.vectorByteSize() * pool.threads() - 1);
        this.passes = passes;
        this.sums = new float[pool.threads()];
    }

    /** Bytes read per second by the fastest of {@code passes} parallel copies of the buffer. */
    public double copyReadBytesPerSecond() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = filled(arena);
            MemorySegment dst = arena.allocate(bytes, 4096);
            dst.fill((byte) 0);
            long part = bytes / pool.threads();
            return best(() -> pool.parallelFor(pool.threads(), 1, (w, start, end) -> {
                for (int i = start; i < end; i++) {
                    MemorySegment.copy(src, i * part, dst, i * part, part);
                }
            }));
        }
    }

    /** Bytes read per second by the fastest of {@code passes} parallel vector sums over the buffer. */
    public double streamReadBytesPerSecond() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = filled(arena);
            long part = bytes / pool.threads();
            double best = best(() -> pool.parallelFor(pool.threads(), 1, (w, start, end) -> {
                for (int i = start; i < end; i++) {
                    sums[i] = sum(src, i * part, part);
                }
            }));
            float total = 0;
            for (float s : sums) {
                total += s;
            }
            sink = total;
            return best;
        }
    }

    private MemorySegment filled(Arena arena) {
        MemorySegment seg = arena.allocate(bytes, 4096);
        seg.fill((byte) 1);
        return seg;
    }

    private double best(Runnable pass) {
        long bestNs = Long.MAX_VALUE;
        for (int p = 0; p < passes; p++) {
            long t0 = System.nanoTime();
            pass.run();
            bestNs = Math.min(bestNs, System.nanoTime() - t0);
        }
        return bytes / (bestNs / 1e9);
    }

    /** Four independent accumulators, so the loop is bound by loads, not by the add latency. */
    private static float sum(MemorySegment seg, long offset, long length) {
        FloatVector a = FloatVector.zero(F);
        FloatVector b = FloatVector.zero(F);
        FloatVector c = FloatVector.zero(F);
        FloatVector d = FloatVector.zero(F);
        long step = F.vectorByteSize();
        long end = offset + length;
        long i = offset;
        for (; i + 4 * step <= end; i += 4 * step) {
            a = a.add(FloatVector.fromMemorySegment(F, seg, i, ByteOrder.LITTLE_ENDIAN));
            b = b.add(FloatVector.fromMemorySegment(F, seg, i + step, ByteOrder.LITTLE_ENDIAN));
            c = c.add(FloatVector.fromMemorySegment(F, seg, i + 2 * step, ByteOrder.LITTLE_ENDIAN));
            d = d.add(FloatVector.fromMemorySegment(F, seg, i + 3 * step, ByteOrder.LITTLE_ENDIAN));
        }
        float s = a.add(b).add(c.add(d)).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        for (; i < end; i += 4) {
            s += seg.get(FLOAT, i);
        }
        return s;
    }
}
