package io.llmcluster.worker.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Checks of CUDA driver results: every driver call of this package goes through {@link #check}, which turns a
 * non-zero result into a {@link CudaException} naming the call and the error (JCuda's own exceptions stay off,
 * so the message is ours).
 */
final class Cuda {
    private Cuda() {
    }

    /** Throws unless {@code result} is CUDA_SUCCESS; {@code call} names what was attempted. */
    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(call + " failed: " + errorName(result));
        }
    }

    static String errorName(int result) {
        String[] name = new String[1];
        String[] text = new String[1];
        try {
            JCudaDriver.cuGetErrorName(result, name);
            JCudaDriver.cuGetErrorString(result, text);
        } catch (Throwable ignored) {
            // the native library itself may be what failed; fall back to JCuda's table
        }
        String n = name[0] != null ? name[0] : CUresult.stringFor(result);
        return text[0] != null ? n + " (" + text[0] + ")" : n;
    }
}
