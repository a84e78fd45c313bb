package io.llmcluster.worker.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A {@link CUdeviceptr} whose raw address Java can read (for kernel parameters and for cuBLAS through FFM),
 * either from {@code cuMemAlloc} or as an offset into another allocation.
 */
final class DeviceAddress extends CUdeviceptr {
    DeviceAddress() {
    }

    DeviceAddress(CUdeviceptr base, long byteOffset) {
        super(base, byteOffset);
    }

    /** The device virtual address. */
    long address() {
        return getNativePointer() + getByteOffset();
    }
}
