package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;

/**
 * The backend's one device allocation: weights, activations, the KV block pool and scratch are carved out of
 * it by a bump pointer, each piece aligned to 256 bytes, at start-up; nothing is allocated or freed while
 * serving, so it cannot fragment. A counting arena ({@link #counting()}) runs the same carving without memory,
 * which is how the backend learns the size of everything but the KV pool before allocating.
 */
public final class DeviceArena implements AutoCloseable {
    public static final long ALIGNMENT = 256;

    private final DeviceAddress base;
    private final long baseAddress;
    private final long capacity;
    private long used;

    private DeviceArena(DeviceAddress base, long capacity) {
        this.base = base;
        this.baseAddress = base == null ? ALIGNMENT : base.address();
        this.capacity = capacity;
    }

    /** Allocates {@code bytes} of device memory in the current context. */
    public static DeviceArena allocate(long bytes) {
        DeviceAddress p = new DeviceAddress();
        Cuda.check(cuMemAlloc(p, bytes), "cuMemAlloc(" + bytes + " bytes) for the device arena");
        if (p.address() % ALIGNMENT != 0) {
            cuMemFree(p);
            throw new CudaException("cuMemAlloc returned an address not aligned to " + ALIGNMENT);
        }
        return new DeviceArena(p, bytes);
    }

    /** An arena that only counts: addresses are fake, {@link #used()} is what a real one would need. */
    public static DeviceArena counting() {
        return new DeviceArena(null, Long.MAX_VALUE);
    }

    /** The device address of {@code bytes} fresh bytes, 256-byte aligned. */
    public long take(long bytes, String what) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative size for " + what);
        }
        long start = align(used);
        if (start + bytes > capacity) {
            throw new CudaException("device arena exhausted taking " + bytes + " bytes for " + what + " (" + used
                    + " of " + capacity + " used): the start-up plan is wrong");
        }
        used = start + bytes;
        return baseAddress + start;
    }

    static long align(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    /** A driver pointer to {@code address} inside this arena (for copies and memsets). */
    DeviceAddress pointer(long address) {
        if (base == null) {
            throw new IllegalStateException("a counting arena has no memory");
        }
        if (address < baseAddress || address > baseAddress + capacity) {
            throw new IllegalArgumentException("address 0x" + Long.toHexString(address) + " is outside the arena");
        }
        return new DeviceAddress(base, address - baseAddress);
    }

    public long used() {
        return align(used);
    }

    public long capacity() {
        return capacity;
    }

    @Override
    public void close() {
        if (base != null) {
            cuMemFree(base);
        }
    }
}
