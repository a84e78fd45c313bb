package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.Simd.F;
import static io.llmcluster.worker.cpu.Simd.FL;
import static io.llmcluster.worker.cpu.Simd.FLOAT;
import static io.llmcluster.worker.cpu.Simd.LE;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import jdk.incubator.vector.FloatVector;

/**
 * Rotary position embedding with precomputed cos/sin for positions {@code [0, maxPositions)}, in the Hugging Face
 * {@code rotate_half} convention: dimension {@code i < d/2} pairs with {@code i + d/2} (not interleaved).
 *
 * <p>The tables follow transformers' FP32 arithmetic: {@code inv_freq[i] = 1 / theta^(float(2i) / d)} in float,
 * optionally rescaled by {@code _compute_llama3_parameters}, {@code angle = float(pos) * inv_freq} in float, then
 * cos and sin of that float. {@link #apply} computes {@code x*cos - x'*sin} and {@code x'*cos + x*sin} as separate
 * float multiplies and an add, like torch's {@code q * cos + rotate_half(q) * sin}.
 */
public final class RopeTable {

    /**
     * Llama 3 {@code rope_scaling} ({@code rope_type: "llama3"}): wavelengths longer than
     * {@code originalMaxPositions / lowFreqFactor} are divided by {@code factor}, those shorter than
     * {@code originalMaxPositions / highFreqFactor} kept, the band between smoothly interpolated.
     */
    public record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
        public Llama3Scaling {
            if (!(factor > 0) || !(highFreqFactor > lowFreqFactor) || originalMaxPositions <= 0) {
                throw new IllegalArgumentException("invalid llama3 rope scaling: " + factor + ", " + lowFreqFactor
                        + ", " + highFreqFactor + ", " + originalMaxPositions);
            }
        }
    }

    private final int headDim;
    private final int half;
    private final int maxPositions;
    /** [half] */
    private final float[] invFreq;
    /** [maxPositions][half] */
    private final float[] cos;
    /** [maxPositions][half] */
    private final float[] sin;

    public RopeTable(int headDim, int maxPositions, double theta, Llama3Scaling scalingOrNull) {
        if (headDim <= 0 || headDim % 2 != 0 || maxPositions <= 0) {
            throw new IllegalArgumentException("headDim must be even and positive, maxPositions positive: "
                    + headDim + ", " + maxPositions);
        }
        if ((long) maxPositions * (headDim / 2) > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("rope table too large: " + maxPositions + " x " + headDim / 2);
        }
        this.headDim = headDim;
        this.half = headDim / 2;
        this.maxPositions = maxPositions;
        this.invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            float inv = defaultInvFreq(i, headDim, theta);
            invFreq[i] = scalingOrNull == null ? inv : llama3InvFreq(inv, scalingOrNull);
        }
        this.cos = new float[maxPositions * half];
        this.sin = new float[maxPositions * half];
        for (int p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) p * invFreq[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
    }

    /** torch: {@code 1.0 / (base ** (arange(0, dim, 2).float() / dim))}, every step in float32. */
    static float defaultInvFreq(int i, int headDim, double theta) {
        float exponent = (float) (2 * i) / (float) headDim;
        float power = (float) Math.pow((float) theta, exponent);
        return 1f / power;
    }

    /** transformers {@code _compute_llama3_parameters} for one frequency, in float32 like the torch code. */
    static float llama3InvFreq(float inv, Llama3Scaling s) {
        float factor = (float) s.factor();
        float low = (float) s.lowFreqFactor();
        float high = (float) s.highFreqFactor();
        float old = (float) s.originalMaxPositions();
        float lowFreqWavelen = (float) (s.originalMaxPositions() / s.lowFreqFactor());
        float highFreqWavelen = (float) (s.originalMaxPositions() / s.highFreqFactor());
        // 2 * math.pi / inv_freq: a python scalar over a tensor is reciprocal(tensor) * scalar
        float wavelen = (1f / inv) * (float) (2 * Math.PI);
        float scaled = wavelen > lowFreqWavelen ? inv / factor : inv;
        float smooth = ((1f / wavelen) * old - low) / (float) (s.highFreqFactor() - s.lowFreqFactor());
        float smoothed = (1f - smooth) * scaled / factor + smooth * scaled;
        boolean medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
        return medium ? smoothed : scaled;
    }

    public int headDim() {
        return headDim;
    }

    public int maxPositions() {
        return maxPositions;
    }

    /** The (possibly scaled) inverse frequency of pair {@code i < headDim/2}. */
    public float invFreq(int i) {
        return invFreq[Objects.checkIndex(i, half)];
    }

    public float cos(int position, int i) {
        return cos[Objects.checkIndex(position, maxPositions) * half + Objects.checkIndex(i, half)];
    }

    public float sin(int position, int i) {
        return sin[Objects.checkIndex(position, maxPositions) * half + Objects.checkIndex(i, half)];
    }

    /** Rotates {@code numHeads} consecutive heads of {@code headDim} floats at {@code off} in place. */
    public void apply(MemorySegment x, long off, int numHeads, int headDim, int position) {
        if (headDim != this.headDim) {
            throw new IllegalArgumentException("table built for headDim " + this.headDim + ", not " + headDim);
        }
        Objects.checkIndex(position, maxPositions);
        Objects.checkFromIndexSize(off, (long) numHeads * headDim, x.byteSize() / Float.BYTES);
        int t = position * half;
        int bound = F.loopBound(half);
        long halfBytes = half * 4L;
        for (int h = 0; h < numHeads; h++) {
            long hb = (off + (long) h * headDim) * 4;
            int i = 0;
            for (; i < bound; i += FL) {
                long b0 = hb + i * 4L;
                FloatVector x0 = FloatVector.fromMemorySegment(F, x, b0, LE);
                FloatVector x1 = FloatVector.fromMemorySegment(F, x, b0 + halfBytes, LE);
                FloatVector c = FloatVector.fromArray(F, cos, t + i);
                FloatVector s = FloatVector.fromArray(F, sin, t + i);
                x0.mul(c).sub(x1.mul(s)).intoMemorySegment(x, b0, LE);
                x1.mul(c).add(x0.mul(s)).intoMemorySegment(x, b0 + halfBytes, LE);
            }
            for (; i < half; i++) {
                long b0 = hb + i * 4L;
                float x0 = x.get(FLOAT, b0);
                float x1 = x.get(FLOAT, b0 + halfBytes);
                float c = cos[t + i];
                float s = sin[t + i];
                x.set(FLOAT, b0, x0 * c - x1 * s);
                x.set(FLOAT, b0 + halfBytes, x1 * c + x0 * s);
            }
        }
    }
}
