package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.FL;
import static io.llmcluster.worker.cpu.Simd.FLOAT;
import static io.llmcluster.worker.cpu.Simd.LE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Vector API kernels of the forward pass over FP32 segments (offsets in floats, any alignment). Each has a
 * scalar twin with the same signature in {@link ScalarKernels}, the test oracle. None allocates.
 */
public final class CpuKernels {
    private CpuKernels() {
    }

    /**
     * Hugging Face Llama RMSNorm: {@code out = weight * (x * rsqrt(mean(x^2) + eps))}, in FP32 like transformers
     * (the mean of squares is accumulated in FP32 vectors). out may alias x.
     */
    public static void rmsNorm(MemorySegment x, long xOff, MemorySegment weight, long wOff, MemorySegment out,
            long outOff, int n, float eps) {
        float inv = rsqrtMeanSquare(x, xOff, n, eps);
        long xb = xOff * 4;
        long wb = wOff * 4;
        long ob = outOff * 4;
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += FL) {
            long e = i * 4L;
            FloatVector v = FloatVector.fromMemorySegment(F, x, xb + e, LE).mul(inv);
            v.mul(FloatVector.fromMemorySegment(F, weight, wb + e, LE)).intoMemorySegment(out, ob + e, LE);
        }
        for (; i < n; i++) {
            long e = i * 4L;
            out.set(FLOAT, ob + e, weight.get(FLOAT, wb + e) * (x.get(FLOAT, xb + e) * inv));
        }
    }

    /** {@code 1 / sqrt(sum(x^2) / n + eps)}, the sum in FP32. */
    static float rsqrtMeanSquare(MemorySegment x, long xOff, int n, float eps) {
        long xb = xOff * 4;
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = FloatVector.zero(F);
        int bound2 = n - n % (2 * FL);
        int i = 0;
        for (; i < bound2; i += 2 * FL) {
            FloatVector a = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE);
            FloatVector b = FloatVector.fromMemorySegment(F, x, xb + (i + FL) * 4L, LE);
            s0 = a.fma(a, s0);
            s1 = b.fma(b, s1);
        }
        if (i + FL <= n) {
            FloatVector a = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE);
            s0 = a.fma(a, s0);
            i += FL;
        }
        float ss = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float v = x.get(FLOAT, xb + i * 4L);
            ss += v * v;
        }
        float mean = ss / n;
        return (float) (1.0 / Math.sqrt(mean + eps));
    }

    /** {@code dst += src}. */
    public static void add(MemorySegment dst, long dstOff, MemorySegment src, long srcOff, int n) {
        long db = dstOff * 4;
        long sb = srcOff * 4;
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += FL) {
            long e = i * 4L;
            FloatVector d = FloatVector.fromMemorySegment(F, dst, db + e, LE);
            d.add(FloatVector.fromMemorySegment(F, src, sb + e, LE)).intoMemorySegment(dst, db + e, LE);
        }
        for (; i < n; i++) {
            long e = i * 4L;
            dst.set(FLOAT, db + e, dst.get(FLOAT, db + e) + src.get(FLOAT, sb + e));
        }
    }

    /** SwiGLU: {@code out = silu(gate) * up = gate / (1 + exp(-gate)) * up}. out may alias gate or up. */
    public static void siluMul(MemorySegment gate, long gOff, MemorySegment up, long uOff, MemorySegment out,
            long outOff, int n) {
        long gb = gOff * 4;
        long ub = uOff * 4;
        long ob = outOff * 4;
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += FL) {
            long e = i * 4L;
            FloatVector g = FloatVector.fromMemorySegment(F, gate, gb + e, LE);
            FloatVector u = FloatVector.fromMemorySegment(F, up, ub + e, LE);
            FloatVector denominator = g.neg().lanewise(VectorOperators.EXP).add(1f);
            g.div(denominator).mul(u).intoMemorySegment(out, ob + e, LE);
        }
        for (; i < n; i++) {
            long e = i * 4L;
            float g = gate.get(FLOAT, gb + e);
            out.set(FLOAT, ob + e, g / (1f + (float) Math.exp(-g)) * up.get(FLOAT, ub + e));
        }
    }

    /** {@code sum a[i] * b[i]}, accumulated in FP32. */
    public static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        long ab = aOff * 4;
        long bb = bOff * 4;
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = FloatVector.zero(F);
        int bound2 = n - n % (2 * FL);
        int i = 0;
        for (; i < bound2; i += 2 * FL) {
            long e = i * 4L;
            long e1 = e + FL * 4L;
            FloatVector b0 = FloatVector.fromMemorySegment(F, b, bb + e, LE);
            FloatVector b1 = FloatVector.fromMemorySegment(F, b, bb + e1, LE);
            s0 = FloatVector.fromMemorySegment(F, a, ab + e, LE).fma(b0, s0);
            s1 = FloatVector.fromMemorySegment(F, a, ab + e1, LE).fma(b1, s1);
        }
        if (i + FL <= n) {
            long e = i * 4L;
            FloatVector b0 = FloatVector.fromMemorySegment(F, b, bb + e, LE);
            s0 = FloatVector.fromMemorySegment(F, a, ab + e, LE).fma(b0, s0);
            i += FL;
        }
        float s = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += a.get(FLOAT, ab + i * 4L) * b.get(FLOAT, bb + i * 4L);
        }
        return s;
    }

    /** {@code y += alpha * x}. */
    public static void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, int n) {
        long xb = xOff * 4;
        long yb = yOff * 4;
        FloatVector a = FloatVector.broadcast(F, alpha);
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += FL) {
            long e = i * 4L;
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xb + e, LE);
            xv.fma(a, FloatVector.fromMemorySegment(F, y, yb + e, LE)).intoMemorySegment(y, yb + e, LE);
        }
        for (; i < n; i++) {
            long e = i * 4L;
            y.set(FLOAT, yb + e, Math.fma(alpha, x.get(FLOAT, xb + e), y.get(FLOAT, yb + e)));
        }
    }

    /** {@code x *= alpha}. */
    public static void scale(MemorySegment x, long xOff, int n, float alpha) {
        long xb = xOff * 4;
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += FL) {
            long e = i * 4L;
            FloatVector.fromMemorySegment(F, x, xb + e, LE).mul(alpha).intoMemorySegment(x, xb + e, LE);
        }
        for (; i < n; i++) {
            long e = i * 4L;
            x.set(FLOAT, xb + e, x.get(FLOAT, xb + e) * alpha);
        }
    }

    /** {@code x[0..n) = value}. */
    public static void fill(MemorySegment x, long xOff, int n, float value) {
        long xb = xOff * 4;
        FloatVector v = FloatVector.broadcast(F, value);
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += FL) {
            v.intoMemorySegment(x, xb + i * 4L, LE);
        }
        for (; i < n; i++) {
            x.set(FLOAT, xb + i * 4L, value);
        }
    }
}
