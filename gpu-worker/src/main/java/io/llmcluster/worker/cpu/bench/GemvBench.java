package io.llmcluster.worker.cpu.bench;

import io.llmcluster.worker.cpu.CpuThreadPool;
import io.llmcluster.worker.cpu.DType;
import io.llmcluster.worker.cpu.Int8Matrix;
import io.llmcluster.worker.cpu.Linear;
import io.llmcluster.worker.cpu.RangeTask;
import io.llmcluster.worker.cpu.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Microbenchmark of the matmul kernels (not a test): a 2048x8192 and an 8192x2048 matrix in F32, BF16, F16 and
 * INT8 through {@link Linear#forward} on the full pool, with 1 token (decode) and 16 tokens (a prefill tile).
 *
 * <p>Two weight regimes: <b>hot</b> repeats one matrix (16 to 64 MB, which may partly stay in the last-level
 * caches) and <b>stream</b> cycles through copies of it totalling at least 256 MiB, so the weights come from DRAM
 * as in a real forward pass. Each case runs in rounds; every round also measures the memory bandwidth right
 * there: a parallel {@code MemorySegment.copy} of 1 GiB (counted on the read side, 1 GiB / time) and a parallel
 * read-only vector sum of 1 GiB (one contiguous 1 MiB stream per thread at a time: the best case, which a gemv
 * reading 4 rows at once does not reach). Medians over the rounds are printed, so a noisy shared machine moves
 * the reference and the kernel together. Columns s/copy and s/read compare the streamed weight bandwidth.
 *
 * <p>Run after {@code bin/test -pl gpu-worker -am}: {@code java --add-modules jdk.incubator.vector -cp
 * gpu-worker/target/classes io.llmcluster.worker.cpu.bench.GemvBench [threads] [rounds] [filter]}, where filter
 * selects cases by substring of "ROWSxCOLS DTYPE", e.g. "BF16". It needs about 3.5 GiB of memory.
 */
public final class GemvBench {
    private static final long GIB = 1L << 30;
    private static final long STREAM_BYTES = 256L << 20;
    private static final long ROUND_PART_NS = 60_000_000;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private final CpuThreadPool pool;
    private final int rounds;
    private final MemorySegment copySrc;
    private final MemorySegment copyDst;
    private final float[] sums;
    private final RangeTask copyTask;
    private final RangeTask readTask;

    private GemvBench(CpuThreadPool pool, Arena arena, int rounds) {
        this.pool = pool;
        this.rounds = rounds;
        this.copySrc = arena.allocate(GIB, 4096);
        this.copyDst = arena.allocate(GIB, 4096);
        copySrc.fill((byte) 1);
        copyDst.fill((byte) 2);
        this.sums = new float[pool.threads() * 16];
        long chunk = GIB / 1024;
        this.copyTask = (w, start, end) -> MemorySegment.copy(copySrc, start * chunk, copyDst, start * chunk,
                (end - start) * chunk);
        this.readTask = (w, start, end) -> sums[w * 16] += sum(copySrc, start * chunk, end * chunk);
    }

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        String only = args.length > 2 ? args[2] : "";
        System.out.printf("GemvBench: %d threads, float species %s, %d rounds per case (medians)%n", threads, F,
                rounds);
        try (CpuThreadPool pool = new CpuThreadPool(threads); Arena arena = Arena.ofShared()) {
            GemvBench bench = new GemvBench(pool, arena, rounds);
            System.out.printf("%-10s %-5s %3s | %8s %7s %7s | %8s %7s %7s | %6s %6s | %6s %6s%n", "shape", "dtype",
                    "tok", "hot us", "GB/s", "GFLOP/s", "strm us", "GB/s", "GFLOP/s", "copy", "read", "s/copy",
                    "s/read");
            for (int[] shape : new int[][] {{2048, 8192}, {8192, 2048}}) {
                for (DType dtype : DType.values()) {
                    if ((shape[0] + "x" + shape[1] + " " + dtype).contains(only)) {
                        bench.benchCase(shape[0], shape[1], dtype);
                    }
                }
            }
        }
    }

    private void benchCase(int rows, int cols, DType dtype) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment f32 = randomF32(arena, (long) rows * cols, 42);
            WeightMatrix first = matrix(arena, f32, dtype, rows, cols);
            int copies = (int) Math.max(2, STREAM_BYTES / first.bytes());
            Linear[] linears = new Linear[copies];
            for (int k = 0; k < copies; k++) {
                linears[k] = new Linear(k == 0 ? first : duplicate(arena, first), null, pool);
            }
            MemorySegment x = randomF32(arena, 16L * cols, 7);
            MemorySegment out = arena.allocate(16L * rows * Float.BYTES, 64);
            for (int tokens : new int[] {1, 16}) {
                double[] hotNs = new double[rounds];
                double[] streamNs = new double[rounds];
                double[] copyGbs = new double[rounds];
                double[] readGbs = new double[rounds];
                nsPerCall(linears, 1, x, tokens, out);
                nsPerCall(linears, copies, x, tokens, out);
                for (int r = 0; r < rounds; r++) {
                    copyGbs[r] = GIB / (double) timeNs(copyTask);
                    readGbs[r] = GIB / (double) timeNs(readTask);
                    hotNs[r] = nsPerCall(linears, 1, x, tokens, out);
                    streamNs[r] = nsPerCall(linears, copies, x, tokens, out);
                }
                print(rows, cols, dtype, tokens, first.bytes(), median(hotNs), median(streamNs), median(copyGbs),
                        median(readGbs));
            }
        }
    }

    private static void print(int rows, int cols, DType dtype, int tokens, long bytes, double hotNs,
            double streamNs, double copyGbs, double readGbs) {
        double flops = 2.0 * rows * cols * tokens;
        double streamGbs = bytes / streamNs;
        System.out.printf("%-10s %-5s %3d | %8.1f %7.1f %7.1f | %8.1f %7.1f %7.1f | %6.1f %6.1f | %5.0f%% %5.0f%%%n",
                rows + "x" + cols, dtype, tokens, hotNs / 1e3, bytes / hotNs, flops / hotNs, streamNs / 1e3,
                streamGbs, flops / streamNs, copyGbs, readGbs, 100 * streamGbs / copyGbs, 100 * streamGbs / readGbs);
    }

    /** Mean ns per forward over about ROUND_PART_NS, cycling through the first {@code count} linears. */
    private static double nsPerCall(Linear[] linears, int count, MemorySegment x, int tokens, MemorySegment out) {
        long t0 = System.nanoTime();
        long calls = 0;
        long elapsed;
        do {
            linears[(int) (calls % count)].forward(x, 0, tokens, out, 0);
            calls++;
            elapsed = System.nanoTime() - t0;
        } while (elapsed < ROUND_PART_NS || calls < 3);
        return elapsed / (double) calls;
    }

    private long timeNs(RangeTask task) {
        long t0 = System.nanoTime();
        pool.parallelFor(1024, 1, task);
        return System.nanoTime() - t0;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static float sum(MemorySegment s, long from, long to) {
        FloatVector a = FloatVector.zero(F);
        FloatVector b = FloatVector.zero(F);
        long step = F.vectorByteSize();
        for (long o = from; o < to; o += 2 * step) {
            a = a.add(FloatVector.fromMemorySegment(F, s, o, ByteOrder.LITTLE_ENDIAN));
            b = b.add(FloatVector.fromMemorySegment(F, s, o + step, ByteOrder.LITTLE_ENDIAN));
        }
        return a.add(b).reduceLanes(VectorOperators.ADD);
    }

    private WeightMatrix matrix(Arena arena, MemorySegment f32, DType dtype, int rows, int cols) {
        return switch (dtype) {
            case F32 -> WeightMatrix.wrap(f32, DType.F32, rows, cols);
            case BF16 -> WeightMatrix.wrap(toBf16(arena, f32), DType.BF16, rows, cols);
            case F16 -> WeightMatrix.wrap(toF16(arena, f32), DType.F16, rows, cols);
            case INT8 -> Int8Matrix.quantize(WeightMatrix.wrap(f32, DType.F32, rows, cols), arena, pool);
        };
    }

    private static WeightMatrix duplicate(Arena arena, WeightMatrix m) {
        if (m instanceof Int8Matrix q) {
            return Int8Matrix.of(copy(arena, q.data()), copy(arena, q.scales()), m.rows(), m.cols());
        }
        MemorySegment data = switch (m) {
            case io.llmcluster.worker.cpu.F32Matrix f -> f.data();
            case io.llmcluster.worker.cpu.F16Matrix f -> f.data();
            case io.llmcluster.worker.cpu.Bf16Matrix f -> f.data();
            case Int8Matrix q -> q.data();
        };
        return WeightMatrix.wrap(copy(arena, data), m.dtype(), m.rows(), m.cols());
    }

    private static MemorySegment copy(Arena arena, MemorySegment s) {
        MemorySegment c = arena.allocate(s.byteSize(), 64);
        MemorySegment.copy(s, 0, c, 0, s.byteSize());
        return c;
    }

    private static MemorySegment randomF32(Arena arena, long n, long seed) {
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(FLOAT, i, (float) (random.nextDouble(-1, 1) * 0.05));
        }
        return s;
    }

    private static MemorySegment toBf16(Arena arena, MemorySegment f32) {
        long n = f32.byteSize() / Float.BYTES;
        MemorySegment s = arena.allocate(n * 2, 64);
        for (long i = 0; i < n; i++) {
            int bits = Float.floatToRawIntBits(f32.getAtIndex(FLOAT, i));
            s.setAtIndex(SHORT, i, (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16));
        }
        return s;
    }

    private static MemorySegment toF16(Arena arena, MemorySegment f32) {
        long n = f32.byteSize() / Float.BYTES;
        MemorySegment s = arena.allocate(n * 2, 64);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(SHORT, i, Float.floatToFloat16(f32.getAtIndex(FLOAT, i)));
        }
        return s;
    }
}
