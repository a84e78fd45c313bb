package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;

import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUfunction;

/**
 * One kernel with its parameter block built once: each parameter lives in its own one-element Java array
 * that {@link #launch} hands to cuLaunchKernel, so setting arguments and launching allocate nothing on the
 * hot path. The signature is a string of kinds, one per parameter: {@code p} device pointer (a long
 * address), {@code i} int, {@code f} float.
 */
final class KernelCall {
    private final String name;
    private final CUfunction function;
    private final long[][] longs;
    private final int[][] ints;
    private final float[][] floats;
    private final Pointer params;

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
    }

    CUfunction function() {
        return function;
    }

    KernelCall p(int index, long address) {
        longs[index][0] = address;
        return this;
    }

    KernelCall i(int index, int value) {
        ints[index][0] = value;
        return this;
    }

    KernelCall f(int index, float value) {
        floats[index][0] = value;
        return this;
    }

    void launch(CudaContext ctx, int gridX, int gridY, int gridZ, int block, int sharedBytes) {
        if (gridX <= 0 || gridY <= 0 || gridZ <= 0) {
            return; // nothing to do
        }
        Cuda.check(cuLaunchKernel(function, gridX, gridY, gridZ, block, 1, 1, sharedBytes, ctx.stream(), params, null),
                "cuLaunchKernel(" + name + ", grid " + gridX + "x" + gridY + "x" + gridZ + ", block " + block + ", smem "
                        + sharedBytes + ")");
    }
}
