package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleGetGlobal;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.llmcluster.kernels.KernelImage;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;

/**
 * One GPU as the engine thread uses it: the device's primary context, one stream on which every kernel, copy
 * and GEMM of a step is queued, and the module loaded from the project's fatbin ({@link KernelImage}).
 *
 * <p>A CUDA context is current per thread. The thread that runs the engine's steps owns the context while it
 * does: {@link #makeCurrent()} (cheap when nothing changed) binds it to the calling thread, and the backend
 * calls it at the top of every step. The fatbin holds SASS for sm_80 and sm_90a and compute_90 PTX, which the
 * driver JIT-compiles for newer GPUs; a GPU older than that gets a clear error.
 */
public final class CudaContext implements AutoCloseable {
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final StreamHandle stream = new StreamHandle();
    private final CUmodule module = new CUmodule();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final String name;
    private final int ccMajor;
    private final int ccMinor;
    private Thread boundThread;
    private boolean moduleLoaded;
    private boolean streamCreated;
    private boolean retained;
    private DependentLaunch dependentLaunch;

    /** A CUfunction whose raw handle Java can hand to cuLaunchKernelEx ({@link DependentLaunch}). */
    static final class FunctionHandle extends CUfunction {
        long handle() {
            return getNativePointer();
        }
    }

    /** A CUstream whose raw handle Java can hand to cuBLAS. */
    static final class StreamHandle extends CUstream {
        long handle() {
            return getNativePointer();
        }
    }

    private CudaContext(int ordinal) {
        Cuda.check(cuInit(0), "cuInit");
        int[] count = new int[1];
        Cuda.check(cuDeviceGetCount(count), "cuDeviceGetCount");
        if (ordinal < 0 || ordinal >= count[0]) {
            throw new CudaException("CUDA device " + ordinal + " does not exist (" + count[0] + " device(s) found)");
        }
        Cuda.check(cuDeviceGet(device, ordinal), "cuDeviceGet(" + ordinal + ")");
        byte[] buf = new byte[256];
        Cuda.check(cuDeviceGetName(buf, buf.length, device), "cuDeviceGetName");
        int len = 0;
        while (len < buf.length && buf[len] != 0) {
            len++;
        }
        this.name = new String(buf, 0, len, StandardCharsets.UTF_8);
        this.ccMajor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        this.ccMinor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        Cuda.check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        retained = true;
        makeCurrent();
        // A blocking stream: it waits for the synchronous copies (legacy default stream) that uploads use.
        Cuda.check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT), "cuStreamCreate");
        streamCreated = true;
        dependentLaunch = new DependentLaunch(ccMajor, stream.handle());
        loadModule();
    }

    /** Opens device {@code ordinal} and loads the kernels; binds the context to the calling thread. */
    public static CudaContext open(int ordinal) {
        CudaAvailability a = CudaAvailability.probe();
        if (!a.available()) {
            throw new CudaException("CUDA is not usable: " + a.reason());
        }
        return new CudaContext(ordinal);
    }

    private int attribute(int attribute) {
        int[] v = new int[1];
        Cuda.check(cuDeviceGetAttribute(v, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
        return v[0];
    }

    private void loadModule() {
        byte[] fatbin = KernelImage.fatbin().orElseThrow(() -> new CudaException(
                "the kernel image " + KernelImage.RESOURCE + " is missing: this build ran without nvcc"));
        int r = cuModuleLoadData(module, fatbin);
        if (r == CUresult.CUDA_ERROR_NO_BINARY_FOR_GPU || r == CUresult.CUDA_ERROR_INVALID_PTX
                || r == CUresult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION) {
            throw new CudaException("no kernel image fits " + name + " (compute capability " + ccMajor + "." + ccMinor
                    + "): the fatbin holds sm_80 and sm_90a code and compute_90 PTX (JIT-compiled only for newer GPUs, "
                    + "by a driver at least as new as CUDA 13.0): " + Cuda.errorName(r));
        }
        Cuda.check(r, "cuModuleLoadData(" + KernelImage.RESOURCE + ")");
        moduleLoaded = true;
    }

    /** Makes this context current on the calling thread; a no-op when it already is. */
    public void makeCurrent() {
        Thread t = Thread.currentThread();
        if (t != boundThread) {
            Cuda.check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            boundThread = t;
        }
    }

    /** The kernel {@code name} of the module (looked up once). */
    CUfunction function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            CUfunction f = new FunctionHandle();
            Cuda.check(cuModuleGetFunction(f, module, k), "cuModuleGetFunction(" + k + ")");
            return f;
        });
    }

    /**
     * Sets an {@code extern "C" __device__} int of the kernel module (a knob the kernels read at run time, so captured
     * graphs see the new value too), after the work queued so far.
     */
    void setModuleInt(String name, int value) {
        CUdeviceptr p = new CUdeviceptr();
        long[] size = new long[1];
        Cuda.check(cuModuleGetGlobal(p, size, module, name), "cuModuleGetGlobal(" + name + ")");
        if (size[0] != Integer.BYTES) {
            throw new CudaException("module global " + name + " has " + size[0] + " bytes, not 4");
        }
        synchronize();
        Cuda.check(cuMemcpyHtoD(p, Pointer.to(new int[] {value}), Integer.BYTES), "cuMemcpyHtoD(" + name + ")");
    }

    /** Programmatic dependent launches on this context's stream (sm_90). */
    DependentLaunch dependentLaunch() {
        return dependentLaunch;
    }

    StreamHandle stream() {
        return stream;
    }

    public String deviceName() {
        return name;
    }

    /**
     * The NVIDIA driver's version ("580.159.04", from /proc/driver/nvidia/version), or "cuda" + the driver API
     * version (e.g. "cuda13000") where that file is missing: the autotuner keys its cache by it.
     */
    public String driverVersion() {
        try {
            String text = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/driver/nvidia/version"));
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("NVRM version:.*?\\s(\\d+\\.\\d+(?:\\.\\d+)?)\\s").matcher(text);
            if (m.find()) {
                return m.group(1);
            }
        } catch (java.io.IOException | RuntimeException ignored) {
            // not Linux, or no NVIDIA kernel module file: fall back to the driver API's number
        }
        int[] v = new int[1];
        Cuda.check(jcuda.driver.JCudaDriver.cuDriverGetVersion(v), "cuDriverGetVersion");
        return "cuda" + v[0];
    }

    public String computeCapability() {
        return ccMajor + "." + ccMinor;
    }

    /** {free, total} device memory in bytes, as the driver sees it now. */
    public long[] memoryInfo() {
        long[] free = new long[1];
        long[] total = new long[1];
        Cuda.check(cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[] {free[0], total[0]};
    }

    /** Waits until everything queued on the stream has run; a kernel fault surfaces here. */
    public void synchronize() {
        Cuda.check(cuStreamSynchronize(stream), "cuStreamSynchronize (a kernel or copy of this step failed)");
    }

    /** Copies {@code src} (native memory) to device address {@code dst}, synchronously, in chunks of 1 GiB. */
    public void copyToDevice(MemorySegment src, DeviceArena arena, long dst) {
        long chunk = 1L << 30;
        for (long off = 0; off < src.byteSize(); off += chunk) {
            long n = Math.min(chunk, src.byteSize() - off);
            Cuda.check(cuMemcpyHtoD(arena.pointer(dst + off), Pointer.to(src.asSlice(off, n).asByteBuffer()), n),
                    "cuMemcpyHtoD(" + n + " bytes)");
        }
    }

    /** Copies {@code dst.byteSize()} bytes from device address {@code src} to native memory, synchronously. */
    public void copyToHost(DeviceArena arena, long src, MemorySegment dst) {
        synchronize();
        long chunk = 1L << 30;
        for (long off = 0; off < dst.byteSize(); off += chunk) {
            long n = Math.min(chunk, dst.byteSize() - off);
            Cuda.check(cuMemcpyDtoH(Pointer.to(dst.asSlice(off, n).asByteBuffer()), arena.pointer(src + off), n),
                    "cuMemcpyDtoH(" + n + " bytes)");
        }
    }

    /** Fills {@code count} 32-bit words at {@code address} with {@code value} (tests poison outputs with it). */
    public void fill32(DeviceArena arena, long address, int value, long count) {
        Cuda.check(jcuda.driver.JCudaDriver.cuMemsetD32(arena.pointer(address), value, count), "cuMemsetD32");
    }

    /** An event pair's elapsed time: record {@link #newEvent()}s around work with {@link #record}. */
    public CUevent newEvent() {
        CUevent e = new CUevent();
        Cuda.check(cuEventCreate(e, 0), "cuEventCreate");
        return e;
    }

    public void record(CUevent e) {
        Cuda.check(cuEventRecord(e, stream), "cuEventRecord");
    }

    public float elapsedMs(CUevent start, CUevent end) {
        Cuda.check(cuEventSynchronize(end), "cuEventSynchronize");
        float[] ms = new float[1];
        Cuda.check(cuEventElapsedTime(ms, start, end), "cuEventElapsedTime");
        return ms[0];
    }

    public void destroy(CUevent e) {
        Cuda.check(cuEventDestroy(e), "cuEventDestroy");
    }

    /**
     * Starts recording the work queued on the stream into a graph instead of running it (thread-local mode:
     * another thread's CUDA calls are not affected). End with {@link #endCapture()} or {@link #abortCapture()}.
     */
    void beginCapture() {
        Cuda.check(cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                "cuStreamBeginCapture");
    }

    /** Ends the capture and instantiates what was recorded; replay it with {@link #launch(CUgraphExec)}. */
    CUgraphExec endCapture() {
        CUgraph graph = new CUgraph();
        Cuda.check(cuStreamEndCapture(stream, graph), "cuStreamEndCapture (an operation in the step cannot be captured)");
        try {
            CUgraphExec exec = new CUgraphExec();
            Cuda.check(cuGraphInstantiate(exec, graph, 0), "cuGraphInstantiate");
            return exec;
        } finally {
            cuGraphDestroy(graph);
        }
    }

    /** Ends a capture that failed half-way, dropping what was recorded, so the stream runs work again. */
    void abortCapture() {
        CUgraph graph = new CUgraph();
        if (cuStreamEndCapture(stream, graph) == CUresult.CUDA_SUCCESS) {
            cuGraphDestroy(graph);
        }
    }

    /** Queues one replay of {@code exec} on the stream. */
    void launch(CUgraphExec exec) {
        Cuda.check(cuGraphLaunch(exec, stream), "cuGraphLaunch");
    }

    void destroy(CUgraphExec exec) {
        cuGraphExecDestroy(exec);
    }

    @Override
    public void close() {
        if (retained) {
            cuCtxSetCurrent(context);
        }
        if (moduleLoaded) {
            cuModuleUnload(module);
            moduleLoaded = false;
        }
        if (streamCreated) {
            cuStreamDestroy(stream);
            streamCreated = false;
        }
        if (retained) {
            cuDevicePrimaryCtxRelease(device);
            retained = false;
        }
        boundThread = null;
    }

    @Override
    public String toString() {
        return name + " (sm_" + ccMajor + ccMinor + ")";
    }
}
