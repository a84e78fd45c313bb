package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/** Test scratch on the GPU: a fresh arena, uploads and downloads in FP32, the run dtype or int32, NaN poison. */
final class Dev implements AutoCloseable {
    /** 0x7FC07FC0 is a NaN as FP32 and as two FP16 or BF16 halves. */
    static final int NAN_WORDS = 0x7FC07FC0;

    final CudaContext ctx;
    final DeviceArena arena;
    final CudaDtype dt;
    private final Arena host = Arena.ofShared();

    Dev(CudaContext ctx, CudaDtype dt, long bytes) {
        this.ctx = ctx;
        this.dt = dt;
        ctx.makeCurrent();
        this.arena = DeviceArena.allocate(bytes);
    }

    /** Rounds {@code v} in place to the dtype (what the device will see) and uploads it. */
    long halfs(float[] v) {
        MemorySegment s = host.allocate(2L * v.length + 2, 64);
        for (int i = 0; i < v.length; i++) {
            short b = dt.encode(v[i]);
            v[i] = dt.decode(b);
            s.setAtIndex(JAVA_SHORT, i, b);
        }
        long a = arena.take(2L * v.length, "test halfs");
        ctx.copyToDevice(s.asSlice(0, 2L * v.length), arena, a);
        return a;
    }

    long floats(float[] v) {
        long a = arena.take(4L * v.length, "test floats");
        ctx.copyToDevice(host.allocateFrom(JAVA_FLOAT, v), arena, a);
        return a;
    }

    long ints(int[] v) {
        long a = arena.take(4L * v.length, "test ints");
        ctx.copyToDevice(host.allocateFrom(JAVA_INT, v), arena, a);
        return a;
    }

    long bytes(byte[] v) {
        long a = arena.take(Math.max(1, v.length), "test bytes");
        MemorySegment s = host.allocate(Math.max(1, v.length), 64);
        MemorySegment.copy(v, 0, s, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, v.length);
        ctx.copyToDevice(s.asSlice(0, v.length), arena, a);
        return a;
    }

    byte[] readBytes(long address, int n) {
        MemorySegment s = host.allocate(Math.max(1, n), 64);
        ctx.copyToHost(arena, address, s.asSlice(0, n));
        return s.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    /** {@code bytes} of device memory filled with NaN words. */
    long poisoned(long bytes) {
        long a = arena.take(bytes, "test output");
        ctx.fill32(arena, a, NAN_WORDS, (bytes + 3) / 4);
        return a;
    }

    float[] readHalfs(long address, int n) {
        MemorySegment s = host.allocate(2L * n, 64);
        ctx.copyToHost(arena, address, s);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = dt.decode(s.getAtIndex(JAVA_SHORT, i));
        }
        return out;
    }

    float[] readFloats(long address, int n) {
        MemorySegment s = host.allocate(4L * n, 64);
        ctx.copyToHost(arena, address, s);
        return s.toArray(JAVA_FLOAT);
    }

    int[] readInts(long address, int n) {
        MemorySegment s = host.allocate(4L * n, 64);
        ctx.copyToHost(arena, address, s);
        return s.toArray(JAVA_INT);
    }

    MemorySegment segment(float[] v) {
        return host.allocateFrom(JAVA_FLOAT, v);
    }

    MemorySegment zeros(long floats) {
        return host.allocate(4 * Math.max(1, floats), 64);
    }

    static float[] random(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * scale;
        }
        return v;
    }

    /** ||a - e||₂ / ||e||₂ over {@code n} elements from the given offsets; NaN anywhere makes it NaN. */
    static double relErr(float[] a, int aOff, float[] e, int eOff, int n) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < n; i++) {
            double d = (double) a[aOff + i] - e[eOff + i];
            diff += d * d;
            norm += (double) e[eOff + i] * e[eOff + i];
        }
        return Math.sqrt(diff / Math.max(norm, 1e-30));
    }

    /** Relative error allowed for an output rounded to the dtype once plus accumulation-order effects. */
    static double bound(CudaDtype dt) {
        return dt == CudaDtype.F16 ? 3e-3 : 2e-2;
    }

    @Override
    public void close() {
        ctx.makeCurrent();
        ctx.synchronize();
        arena.close();
        host.close();
    }
}
