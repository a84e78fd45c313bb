package io.llmcluster.worker.cuda;

import jcuda.driver.CUevent;

/**
 * Device ms per call of a launch sequence queued behind a spin kernel: the host queues every call while the spin
 * runs, so the calls run back to back on the GPU and the host's ~9 µs per launch does not count (short kernels such
 * as decode attention at 1k context). Used by GpuBench and the attention timing harnesses.
 */
final class QueuedTimer {
    private QueuedTimer() {}

    /**
     * Spins {@code spinNs} ns (0: no spin, for calls long enough that their launch cost does not matter), then times
     * {@code reps} calls of {@code work} between two events.
     */
    static double msPerCall(CudaContext ctx, CudaKernels k, long spinNs, Runnable work, int reps) {
        CUevent a = ctx.newEvent();
        CUevent z = ctx.newEvent();
        if (spinNs > 0) {
            k.spin(spinNs);
        }
        ctx.record(a);
        for (int i = 0; i < reps; i++) {
            work.run();
        }
        ctx.record(z);
        double ms = ctx.elapsedMs(a, z) / reps;
        ctx.destroy(a);
        ctx.destroy(z);
        return ms;
    }

    /** The median of five {@link #msPerCall} samples: one sample can catch a clock change or another process. */
    static double medianMsPerCall(CudaContext ctx, CudaKernels k, long spinNs, Runnable work, int reps) {
        double[] ms = new double[5];
        for (int i = 0; i < ms.length; i++) {
            ms[i] = msPerCall(ctx, k, spinNs, work, reps);
        }
        java.util.Arrays.sort(ms);
        return ms[2];
    }
}
