package io.llmcluster.worker.cpu;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector species, layouts and constants shared by the CPU kernels.
 *
 * <p>{@link #F} is the preferred float species (8 lanes with AVX2, 16 with AVX-512); the short and byte species
 * have the same lane count, so one narrow load widens to exactly one float vector. All loads are little-endian and
 * accept any byte offset (weights from memory-mapped safetensors files are unaligned). The widening loads are
 * written out in each kernel rather than called here: see {@link MatrixKernels} for why.
 */
final class Simd {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int FL = F.length();
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** FL bytes, except with 128-bit float vectors (NEON, SSE) where the smallest byte vector holds 2 * FL. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    /** Bytes an INT8 load of B reads past the FL it widens (0, or FL with 128-bit float vectors). */
    static final int I8_OVERREAD = B.length() - FL;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;

    /** A float's sign bit, as an int. */
    static final int SIGN_BIT = 0x8000_0000;

    /*
     * FP16 widening, written out in F16Matrix's kernels (a helper taking or returning vectors is unsafe on hot
     * paths, see MatrixKernels). Exact for every finite half; weights never hold inf/NaN. The magnitude bits
     * shifted into a float's place plus F16_REBIAS give w, exact for normal halves; for a subnormal half
     * (exponent 0, mantissa M) w reads 2^-15 + M*2^-25, whose true value is 2w - 2^-14 = M*2^-24 (exact).
     * Since 2w - 2^-14 >= w exactly when w >= 2^-14, the magnitude is min(w, 2w - 2^-14), taken on the bit
     * patterns (both are non-negative floats), then the sign is ORed in. No step sees a subnormal float: a
     * subnormal operand costs a microcode assist on x86, which made the shorter bits * 2^112 formulation
     * several times slower on real weights (about 0.2% of trained FP16 weights are subnormal). The sequence has
     * no masks or blends, to keep the kernels within C2's inlining budget.
     */
    /** Rebiases a half's exponent (bias 15), shifted into a float's place, to a float's (bias 127). */
    static final int F16_REBIAS = (127 - 15) << 23;
    /** The smallest normal half, 2^-14. */
    static final float F16_MIN_NORMAL = 0x1.0p-14f;

    private Simd() {
    }

    /**
     * The sum of the FL lanes stored at {@code lanes[off ..]} (by {@code intoArray}) in a fixed pairwise order:
     * scalar code, so it gives the same bits in every JIT tier (unlike {@code reduceLanes(ADD)}, whose float
     * order is unspecified and differs between C2's code and the interpreter's fallback), and it adds nothing to
     * the vector kernel that stored the lanes. Clobbers them.
     */
    static float laneSum(float[] lanes, int off) {
        for (int width = FL / 2; width >= 1; width /= 2) {
            for (int i = off; i < off + width; i++) {
                lanes[i] += lanes[i + width];
            }
        }
        return lanes[off];
    }

    static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }
}
