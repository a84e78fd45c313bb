package io.llmcluster.worker.cpu;

/** Element types of weight matrices, with their size and safetensors spelling. */
public enum DType {
    F32(4, "F32"),
    F16(2, "F16"),
    BF16(2, "BF16"),
    /** Signed 8-bit integers; a weight-only quantized matrix (see {@link Int8Matrix}). */
    INT8(1, "I8");

    private final int bytesPerElement;
    private final String safetensorsName;

    DType(int bytesPerElement, String safetensorsName) {
        this.bytesPerElement = bytesPerElement;
        this.safetensorsName = safetensorsName;
    }

    /** Bytes per element: 4, 2, 2, 1. */
    public int bytesPerElement() {
        return bytesPerElement;
    }

    /** The {@code dtype} string of a safetensors header entry ("F32", "F16", "BF16", "I8"). */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The DType of a safetensors {@code dtype} string; IllegalArgumentException for other types. */
    public static DType fromSafetensors(String name) {
        for (DType t : values()) {
            if (t.safetensorsName.equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unsupported safetensors dtype: " + name);
    }
}
