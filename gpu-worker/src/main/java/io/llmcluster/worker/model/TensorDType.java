package io.llmcluster.worker.model;

/** Element types a safetensors header may name; only F32, F16 and BF16 weights are loaded. */
public enum TensorDType {
    F32(4), F16(2), BF16(2), F64(8), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1), F8_E4M3(1), F8_E5M2(1);

    private final int bytes;

    TensorDType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    public boolean isLoadableWeight() {
        return this == F32 || this == F16 || this == BF16;
    }

    static TensorDType parse(String name, String file, String tensor) {
        try {
            return valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(file + ": tensor '" + tensor + "' has unknown dtype '" + name + "'");
        }
    }
}
