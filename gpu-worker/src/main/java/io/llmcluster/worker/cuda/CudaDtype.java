package io.llmcluster.worker.cuda;

import java.util.Locale;

/**
 * The activation and weight dtype of a CUDA run. Kernels exist per dtype with the suffix {@link #suffix()};
 * cuBLAS knows it as {@link #cudaDataType()}.
 */
public enum CudaDtype {
    F16("f16", 2, 2),
    BF16("bf16", 14, 2);

    /** cudaDataType_t CUDA_R_32F. */
    static final int CUDA_R_32F = 0;

    private final String suffix;
    private final int cudaDataType;
    private final int bytes;

    CudaDtype(String suffix, int cudaDataType, int bytes) {
        this.suffix = suffix;
        this.cudaDataType = cudaDataType;
        this.bytes = bytes;
    }

    public String suffix() {
        return suffix;
    }

    int cudaDataType() {
        return cudaDataType;
    }

    public int bytes() {
        return bytes;
    }

    /** Parses "fp16"/"f16"/"float16"/"half" and "bf16"/"bfloat16". */
    public static CudaDtype parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "fp16", "f16", "float16", "half" -> F16;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("unknown CUDA dtype '" + s + "' (use fp16 or bf16)");
        };
    }

    /** The 16-bit encoding of {@code v} in this dtype, rounded to nearest even. */
    public short encode(float v) {
        return this == F16 ? Float.floatToFloat16(v) : toBf16(v);
    }

    public float decode(short bits) {
        return this == F16 ? Float.float16ToFloat(bits) : Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }
}
