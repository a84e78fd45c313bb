package io.llmcluster.worker.backend;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The INT8 KV cache rule in plain Java: the twin of {@code rope_kv_write_i8_*} (kernels/src/main/cuda/rope_kv_int8.cu)
 * and of the attention kernels' dequantization. Per (token, kv head) row of {@code headDim} values:
 * {@code scale = max|x| / 127}, {@code q = rint(x / scale)} clamped to ±127 (scale 0 and all bytes 0 for an all-zero
 * row), stored as plain signed bytes; {@code x ≈ q * scale}. K rows are quantized after RoPE, V rows after the bias;
 * both computed with one IEEE rounding per operation (the kernel uses the {@code __f*_rn} intrinsics, no FMA), so
 * the bytes and scales match the GPU's exactly. The CPU backend's INT8 cache ({@code cpu.PagedAttentionInt8}) uses the
 * same rule on its FP32 rows.
 */
public final class Int8Kv {
    private static final int Q_MAX = 127;

    private Int8Kv() {}

    /** Quantizes {@code x[off..off+n)} into {@code out[outOff..]}; returns the scale. */
    public static float quantize(float[] x, int off, int n, byte[] out, int outOff) {
        float maxAbs = 0;
        for (int i = 0; i < n; i++) {
            float a = Math.abs(x[off + i]);
            if (a > maxAbs) {
                maxAbs = a;
            }
        }
        float scale = maxAbs / Q_MAX;
        for (int i = 0; i < n; i++) {
            int q = scale > 0 ? (int) Math.rint(x[off + i] / scale) : 0;
            out[outOff + i] = (byte) Math.clamp(q, -Q_MAX, Q_MAX);
        }
        return scale;
    }

    /**
     * {@link #quantize(float[], int, int, byte[], int)} on FP32 values in {@code x} (float index {@code off}), bytes into
     * {@code out} at byte offset {@code outOff}; returns the scale. Allocates nothing.
     */
    public static float quantize(MemorySegment x, long off, int n, MemorySegment out, long outOff) {
        float maxAbs = 0;
        for (int i = 0; i < n; i++) {
            float a = Math.abs(x.getAtIndex(ValueLayout.JAVA_FLOAT, off + i));
            if (a > maxAbs) {
                maxAbs = a;
            }
        }
        float scale = maxAbs / Q_MAX;
        for (int i = 0; i < n; i++) {
            int q = scale > 0 ? (int) Math.rint(x.getAtIndex(ValueLayout.JAVA_FLOAT, off + i) / scale) : 0;
            out.set(ValueLayout.JAVA_BYTE, outOff + i, (byte) Math.clamp(q, -Q_MAX, Q_MAX));
        }
        return scale;
    }

    /** The value a byte and its row's scale stand for (FP32, as the kernels compute it before rounding to T). */
    public static float dequantize(byte q, float scale) {
        return q * scale;
    }

    /**
     * One kv head's K row after RoPE (rotate_half), as the kernel computes it: {@code x[xOff..]} holds the head's
     * {@code headDim} QKV outputs, {@code bias[bOff..]} (bias may be null) the matching bias; {@code cos}/{@code sin} the
     * position's {@code headDim / 2} table entries from {@code tOff}. Writes {@code headDim} floats to {@code out}.
     */
    public static void ropeK(float[] x, int xOff, float[] bias, int bOff, int headDim, float[] cos, float[] sin, int tOff,
            float[] out) {
        int half = headDim / 2;
        for (int i = 0; i < half; i++) {
            float x0 = x[xOff + i];
            float x1 = x[xOff + i + half];
            if (bias != null) {
                x0 = x0 + bias[bOff + i];
                x1 = x1 + bias[bOff + i + half];
            }
            out[i] = x0 * cos[tOff + i] - x1 * sin[tOff + i];
            out[i + half] = x1 * cos[tOff + i] + x0 * sin[tOff + i];
        }
    }
}
