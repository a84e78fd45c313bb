package io.llmcluster.worker.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector species, layouts and the FP16/BF16/INT8 to FP32 widening loads shared by the CPU kernels.
 *
 * <p>{@link #F} is the preferred float species (8 lanes with AVX2, 16 with AVX-512); the short and byte species
 * have the same lane count, so one narrow load widens to exactly one float vector. All loads are little-endian and
 * accept any byte offset (weights from memory-mapped safetensors files are unaligned).
 */
final class Simd {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int FL = F.length();
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** FL bytes, except with 128-bit float vectors (NEON, SSE) where the smallest byte vector holds 2 * FL. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    /** Bytes that {@link #loadI8} reads past the FL it widens (0, or FL with 128-bit float vectors). */
    static final int I8_OVERREAD = B.length() - FL;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;

    /** Rebiases a half's exponent (bias 15), shifted into a float's place, to a float's (bias 127). */
    private static final int F16_REBIAS = (127 - 15) << 23;
    /** The smallest normal half, 2^-14. */
    private static final float F16_MIN_NORMAL = 0x1.0p-14f;

    /*
     * The rotations of sum()'s fixed reduction tree, by FL/2, FL/4, ... lanes. Each is its own constant (a shuffle
     * read from an array is not a compile-time constant, and C2 then cannot intrinsify the rearrange); unused ones
     * (beyond log2(FL); FL <= 64 as vectors are at most 2048 bits) rotate by 0 and are skipped by constant-folded branches.
     */
    private static final VectorShuffle<Float> ROTATE_1 = rotation(1);
    private static final VectorShuffle<Float> ROTATE_2 = rotation(2);
    private static final VectorShuffle<Float> ROTATE_3 = rotation(3);
    private static final VectorShuffle<Float> ROTATE_4 = rotation(4);
    private static final VectorShuffle<Float> ROTATE_5 = rotation(5);
    private static final VectorShuffle<Float> ROTATE_6 = rotation(6);

    private static VectorShuffle<Float> rotation(int k) {
        int by = FL >> k;
        return VectorShuffle.fromOp(F, i -> (i + by) % FL);
    }

    private Simd() {
    }

    /**
     * The sum of the lanes in a fixed pairwise order ({@code v + rotate(v, FL/2)}, then by FL/4, ...). Unlike
     * {@code reduceLanes(ADD)}, whose float order is unspecified and differs between C2's code and the
     * interpreter's fallback, this gives the same bits in every JIT tier, so a token's result does not depend on
     * when it runs, on its batch or on the thread count.
     */
    static float sum(FloatVector v) {
        if (FL >= 2) {
            v = v.add(v.rearrange(ROTATE_1));
        }
        if (FL >= 4) {
            v = v.add(v.rearrange(ROTATE_2));
        }
        if (FL >= 8) {
            v = v.add(v.rearrange(ROTATE_3));
        }
        if (FL >= 16) {
            v = v.add(v.rearrange(ROTATE_4));
        }
        if (FL >= 32) {
            v = v.add(v.rearrange(ROTATE_5));
        }
        if (FL >= 64) {
            v = v.add(v.rearrange(ROTATE_6));
        }
        return v.lane(0);
    }

    /**
     * The sum of the FL lanes stored at {@code lanes[off ..]} (by {@code intoArray}), in the same pairwise order
     * as {@link #sum}; scalar code, so it adds nothing to the vector kernel that stored the lanes. Clobbers them.
     */
    static float laneSum(float[] lanes, int off) {
        for (int width = FL / 2; width >= 1; width /= 2) {
            for (int i = off; i < off + width; i++) {
                lanes[i] += lanes[i + width];
            }
        }
        return lanes[off];
    }

    static FloatVector loadF32(MemorySegment seg, long byteOffset) {
        return FloatVector.fromMemorySegment(F, seg, byteOffset, LE);
    }

    /** FL bfloat16 values widened to float: the 16 bits become the high half of the float's bits. */
    static FloatVector loadBf16(MemorySegment seg, long byteOffset) {
        IntVector i = (IntVector) ShortVector.fromMemorySegment(S, seg, byteOffset, LE)
                .convertShape(VectorOperators.S2I, I, 0);
        return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * FL IEEE half floats widened to float, exact for every finite half; inf/NaN are not handled (weights never
     * hold them). The magnitude bits shifted into a float's place plus the exponent rebias {@code 112 << 23}
     * give {@code w}, exact for normal halves; for a subnormal half (exponent 0, mantissa M) {@code w} reads
     * {@code 2^-15 + M*2^-25}, whose true value is {@code 2w - 2^-14 = M*2^-24} (exact). Since
     * {@code 2w - 2^-14 >= w} exactly when {@code w >= 2^-14}, the magnitude is {@code min(w, 2w - 2^-14)},
     * taken on the bit patterns (both are non-negative floats). No step sees a subnormal float: a subnormal
     * operand costs a microcode assist on x86, which made the shorter {@code bits * 2^112} formulation several
     * times slower on real weights (about 0.2% of trained FP16 weights are subnormal). The sequence is also kept
     * short (no masks or blends) so that C2 can inline four of these in one kernel loop.
     */
    static FloatVector loadF16(MemorySegment seg, long byteOffset) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, byteOffset, LE)
                .convertShape(VectorOperators.S2I, I, 0);
        IntVector w = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13).add(F16_REBIAS);
        IntVector subnormal = w.reinterpretAsFloats().fma(2f, -F16_MIN_NORMAL).reinterpretAsInts();
        return w.min(subnormal).or(h.and(0x8000_0000)).reinterpretAsFloats();
    }

    /** FL signed bytes widened to float; reads {@link #I8_OVERREAD} bytes more. */
    static FloatVector loadI8(MemorySegment seg, long byteOffset) {
        return (FloatVector) ByteVector.fromMemorySegment(B, seg, byteOffset, LE)
                .convertShape(VectorOperators.B2F, F, 0);
    }

    static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }
}
