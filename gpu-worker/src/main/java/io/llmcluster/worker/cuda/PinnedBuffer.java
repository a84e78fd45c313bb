package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

import java.lang.foreign.MemorySegment;
import jcuda.Pointer;

/**
 * Page-locked host memory, allocated once, seen from Java as a {@link MemorySegment}: the per-step inputs go
 * to the device and the logits come back through it with asynchronous copies on the backend's stream.
 */
final class PinnedBuffer implements AutoCloseable {
    private final HostPointer pointer = new HostPointer();
    private final MemorySegment segment;

    private static final class HostPointer extends Pointer {
        long address() {
            return getNativePointer();
        }
    }

    PinnedBuffer(long bytes) {
        Cuda.check(cuMemAllocHost(pointer, bytes), "cuMemAllocHost(" + bytes + " bytes)");
        segment = MemorySegment.ofAddress(pointer.address()).reinterpret(bytes);
    }

    MemorySegment segment() {
        return segment;
    }

    /** Queues a copy of {@code bytes} from this buffer's start to device address {@code dst}. */
    void copyToDevice(CudaContext ctx, DeviceArena arena, long dst, long bytes) {
        Cuda.check(cuMemcpyHtoDAsync(arena.pointer(dst), pointer, bytes, ctx.stream()), "cuMemcpyHtoDAsync(" + bytes + ")");
    }

    /** Queues a copy of {@code bytes} from device address {@code src} to this buffer's start. */
    void copyFromDevice(CudaContext ctx, DeviceArena arena, long src, long bytes) {
        Cuda.check(cuMemcpyDtoHAsync(pointer, arena.pointer(src), bytes, ctx.stream()), "cuMemcpyDtoHAsync(" + bytes + ")");
    }

    @Override
    public void close() {
        cuMemFreeHost(pointer);
    }
}
