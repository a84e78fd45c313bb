package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUfunction;

/**
 * One kernel with its parameter block built once: each parameter lives in its own one-element Java array
 * that {@link #launch} hands to cuLaunchKernel, so setting arguments and launching allocate nothing on the
 * hot path. The signature is a string of kinds, one per parameter: {@code p} device pointer (a long
 * address), {@code i} int, {@code f} float. The arguments are also kept in native memory (an 8-byte slot each and
 * the void*[] pointing at them) for {@link DependentLaunch}, which launches through FFM.
 */
final class KernelCall {
    private final String name;
    private final CUfunction function;
    private final long[][] longs;
    private final int[][] ints;
    private final float[][] floats;
    private final Pointer params;
    private final boolean dependentAware;
    private final MemorySegment nativeFunction;
    private final MemorySegment slots;
    private final MemorySegment nativeParams;

    KernelCall(CudaContext ctx, String name, String signature) {
        this.name = name;
        this.function = ctx.function(name);
        int n = signature.length();
        longs = new long[n][];
        ints = new int[n][];
        floats = new float[n][];
        NativePointerObject[] ps = new NativePointerObject[n];
        for (int i = 0; i < n; i++) {
            switch (signature.charAt(i)) {
                case 'p' -> ps[i] = Pointer.to(longs[i] = new long[1]);
                case 'i' -> ps[i] = Pointer.to(ints[i] = new int[1]);
                case 'f' -> ps[i] = Pointer.to(floats[i] = new float[1]);
                default -> throw new IllegalArgumentException("bad kind in " + signature);
            }
        }
        params = Pointer.to(ps);
        dependentAware = DependentLaunch.awareKernel(name);
        nativeFunction = MemorySegment.ofAddress(((CudaContext.FunctionHandle) function).handle());
        Arena arena = Arena.ofAuto();
        slots = arena.allocate(8L * Math.max(1, n), 8);
        nativeParams = arena.allocate(ADDRESS, Math.max(1, n));
        for (int i = 0; i < n; i++) {
            nativeParams.setAtIndex(ADDRESS, i, slots.asSlice(8L * i, 8));
        }
    }

    CUfunction function() {
        return function;
    }

    KernelCall p(int index, long address) {
        longs[index][0] = address;
        slots.set(JAVA_LONG, 8L * index, address);
        return this;
    }

    KernelCall i(int index, int value) {
        ints[index][0] = value;
        slots.set(JAVA_INT, 8L * index, value);
        return this;
    }

    KernelCall f(int index, float value) {
        floats[index][0] = value;
        slots.set(JAVA_FLOAT, 8L * index, value);
        return this;
    }

    void launch(CudaContext ctx, int gridX, int gridY, int gridZ, int block, int sharedBytes) {
        if (gridX <= 0 || gridY <= 0 || gridZ <= 0) {
            return; // nothing to do
        }
        DependentLaunch d = ctx.dependentLaunch();
        int r = d.nextIsDependent(dependentAware)
                ? d.launch(nativeFunction, gridX, gridY, gridZ, block, sharedBytes, nativeParams)
                : cuLaunchKernel(function, gridX, gridY, gridZ, block, 1, 1, sharedBytes, ctx.stream(), params, null);
        Cuda.check(r, "cuLaunchKernel(" + name + ", grid " + gridX + "x" + gridY + "x" + gridZ + ", block " + block + ", smem "
                        + sharedBytes + ")");
    }
}
