package io.llmcluster.worker.model;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One tensor of a safetensors file: its dtype, shape and bytes, a slice of the memory-mapped file (never
 * copied onto the heap).
 */
public record TensorView(String name, TensorDType dtype, long[] shape, MemorySegment data, String file) {
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Throws a clear error unless the shape equals {@code expected}. */
    public TensorView requireShape(long... expected) {
        if (!Arrays.equals(shape, expected)) {
            throw new ModelLoadException("tensor '" + name + "' in " + file + " has shape " + Arrays.toString(shape)
                    + ", expected " + Arrays.toString(expected) + " from config.json");
        }
        return this;
    }

    public TensorView requireWeightDtype() {
        if (!dtype.isLoadableWeight()) {
            throw new ModelLoadException("tensor '" + name + "' in " + file + " has unsupported dtype " + dtype
                    + " (supported: F32, F16, BF16)");
        }
        return this;
    }
}
