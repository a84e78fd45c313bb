package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.regex.Pattern;

/**
 * Programmatic dependent launch (PDL, sm_90): a kernel launched with the programmatic stream serialization attribute
 * may start while the kernel before it on the stream still runs; it waits in {@code griddepcontrol.wait} (common.cuh
 * {@code pdl_wait}) before it reads that kernel's output. The projection kernels load their first weights before that
 * wait, so a decode step's ~300 kernel boundaries stop costing a drain and a ramp each.
 *
 * <p>JCuda does not bind {@code cuLaunchKernelEx}: it is called here through FFM on libcuda (as {@link Cublas} does
 * for cuBLAS). A launch uses the attribute only when all of these hold: the GPU is sm_90 or newer, the switch is on,
 * the caller opened a step ({@link #beginStep}), the kernel is one whose every path calls {@code pdl_wait}
 * ({@link #awareKernel}), and the operation queued just before it was one of the project's kernels (a cuBLAS call
 * or a copy in between ends the chain, {@link #foreignWorkQueued}). Inside a stream capture the attribute becomes a
 * programmatic edge of the graph.
 */
final class DependentLaunch {
    /** CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION. */
    private static final int ATTR_PROGRAMMATIC_STREAM_SERIALIZATION = 6;
    /** sizeof(CUlaunchAttribute): int id, 4 bytes padding, a 64-byte value union. */
    private static final long ATTRIBUTE_BYTES = 72;
    /** sizeof(CUlaunchConfig): 7 unsigned ints, padding, stream, attribute pointer, count (+ padding). */
    private static final long CONFIG_BYTES = 56;

    /**
     * The kernels whose every thread calls pdl_wait() before it reads or writes anything another kernel touches. Exact
     * names only: a new kernel is launched the ordinary way until it is added here.
     */
    private static final Pattern AWARE = Pattern.compile("(gemv|gemv1)(_w8)?(_swiglu)?_(f16|bf16)_r[1248]|gemv1p(_swiglu)?_(f16|bf16)_r[1248]"
            + "|(skinny|skinny_w8)_(f16|bf16)_r[1248]_n[1248]"
            + "|(rmsnorm|residual_rmsnorm|gather_residual_rmsnorm|rope_kv_write|silu_mul|embedding_gather)_(f16|bf16)");
    // decode_attention_mma and decode_attention_reduce wait too, but launched as dependents they cost 0.39 ms a step
    // at 32k context (6.52 vs 6.13 ms batch-1 ITL, H200, docs/benchmarks.md) against 0.09 ms gained at 1k: they stay
    // ordinary launches.

    private static MethodHandle launchEx;
    private static boolean looked;

    private final Arena arena = Arena.ofAuto(); // lives as long as the context
    private final MemorySegment config;
    private final boolean supported;
    private boolean enabled = true;
    private boolean inStep;
    private boolean afterOwnKernel;
    private long launches;

    /** For a context whose device has compute capability {@code ccMajor} and whose stream is {@code stream} (raw). */
    DependentLaunch(int ccMajor, long stream) {
        supported = ccMajor >= 9 && binding() != null;
        config = arena.allocate(CONFIG_BYTES, 8);
        MemorySegment attr = arena.allocate(ATTRIBUTE_BYTES, 8);
        attr.set(JAVA_INT, 0, ATTR_PROGRAMMATIC_STREAM_SERIALIZATION);
        attr.set(JAVA_INT, 8, 1); // programmaticStreamSerializationAllowed
        config.set(ADDRESS, 32, MemorySegment.ofAddress(stream));
        config.set(ADDRESS, 40, attr);
        config.set(JAVA_INT, 48, 1);
    }

    private static synchronized MethodHandle binding() {
        if (!looked) {
            looked = true;
            try {
                SymbolLookup cuda = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
                launchEx = cuda.find("cuLaunchKernelEx").map(s -> Linker.nativeLinker().downcallHandle(s,
                        FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS))).orElse(null);
            } catch (IllegalArgumentException | IllegalStateException | UnsatisfiedLinkError e) {
                launchEx = null;
            }
        }
        return launchEx;
    }

    /** Whether kernel {@code name} may be launched with the attribute (it waits before touching shared data). */
    static boolean awareKernel(String name) {
        return AWARE.matcher(name).matches();
    }

    /** Whether this GPU and driver can do it at all. */
    boolean supported() {
        return supported;
    }

    /** Whether launches use it (supported and switched on). */
    boolean active() {
        return supported && enabled;
    }

    /** Benchmark and test switch (default on where supported). */
    void setEnabled(boolean on) {
        enabled = on;
    }

    /** Kernels launched with the attribute so far. */
    long launches() {
        return launches;
    }

    /** A forward step starts: the first kernel follows copies, so it launches the ordinary way. */
    void beginStep() {
        inStep = true;
        afterOwnKernel = false;
    }

    void endStep() {
        inStep = false;
        afterOwnKernel = false;
    }

    /** Something other than the project's kernels was queued (cuBLAS, a copy): the next kernel launches in order. */
    void foreignWorkQueued() {
        afterOwnKernel = false;
    }

    /** Whether the next launch of an aware kernel gets the attribute; records that a kernel of ours was queued. */
    boolean nextIsDependent(boolean aware) {
        boolean dependent = aware && inStep && afterOwnKernel && supported && enabled;
        afterOwnKernel = inStep;
        return dependent;
    }

    /** cuLaunchKernelEx with the attribute; {@code params} is the kernel's void*[] of argument pointers. */
    int launch(MemorySegment function, int gridX, int gridY, int gridZ, int block, int sharedBytes, MemorySegment params) {
        config.set(JAVA_INT, 0, gridX);
        config.set(JAVA_INT, 4, gridY);
        config.set(JAVA_INT, 8, gridZ);
        config.set(JAVA_INT, 12, block);
        config.set(JAVA_INT, 16, 1);
        config.set(JAVA_INT, 20, 1);
        config.set(JAVA_INT, 24, sharedBytes);
        launches++;
        try {
            return (int) launchEx.invokeExact(config, function, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new CudaException("cuLaunchKernelEx failed: " + t);
        }
    }
}
