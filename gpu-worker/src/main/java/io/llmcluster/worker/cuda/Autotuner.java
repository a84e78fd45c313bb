package io.llmcluster.worker.cuda;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUevent;

/**
 * Times the projection kernels on the GPU and fills {@link Projections}' choice table: for each of the model's
 * projection shapes and each token bucket of {@link AutotunePolicy#BUCKETS} up to maxBatchTokens, every candidate
 * ({@link AutotunePolicy#candidates}) runs on the real weights (layer 0, the LM head) with zeroed inputs, timed
 * with events over enough repetitions to cover about 300 µs of GPU time (queued behind a spin kernel, so host launch
 * cost is not measured), the better of two such timings; the fastest wins ({@link AutotunePolicy#choose}).
 * Choices are kept in the on-disk {@link AutotuneCache} of this GPU and driver and reused at the next start
 * (RETUNE measures again and rewrites them). Each decision is logged with every candidate's time.
 */
final class Autotuner {
    private static final double TARGET_US = 300;

    private final CudaContext ctx;
    private final Projections proj;
    private final PrintStream log;

    Autotuner(CudaContext ctx, Projections proj, PrintStream log) {
        this.ctx = ctx;
        this.proj = proj;
        this.log = log;
    }

    /** The cache file for this GPU and driver in {@code dir} (null: ~/.cache/llmcluster). */
    static Path cacheFile(Path dir, CudaContext ctx) {
        Path d = dir != null ? dir : Path.of(System.getProperty("user.home"), ".cache", "llmcluster");
        return d.resolve(AutotunePolicy.cacheFileName(ctx.deviceName(), ctx.driverVersion()));
    }

    /**
     * Tunes every shape of {@code byShape} (indexed by {@link DeviceMatrix#shape()}; each row holds every layer's
     * matrix of that shape, and repetitions rotate through them, so that weights smaller than the 50 MB L2 cache of
     * an H200 are read from HBM as in a real step) for buckets up to {@code maxTokens}; {@code inputs[shape]} and
     * {@code outputs[shape]} are device buffers large enough for the largest bucket. Returns the number of
     * (shape, bucket) choices set. {@code swigluOut[shape] != 0} marks the gate|up shape: its candidates are timed as the step
     * runs them ({@link Projections#swiglu}: the GEMV / skinny kernels with the SwiGLU in their epilogue, the library
     * GEMMs followed by silu_mul), activations into {@code swigluOut[shape]}; timed bare, cuBLAS won gate|up at M = 1
     * by 0.2 TB/s and then paid a silu_mul kernel and two unchained launches per layer.
     */
    int tune(DeviceMatrix[][] byShape, long[] inputs, long[] outputs, long[] swigluOut, int maxTokens, CudaDtype dtype,
            CudaQuantization quant, Path file, boolean retune) {
        AutotuneCache cache = retune ? new AutotuneCache(ctx.deviceName(), ctx.driverVersion())
                : AutotuneCache.load(file, ctx.deviceName(), ctx.driverVersion());
        if (cache.loadProblem() != null) {
            log.println("[autotune] " + cache.loadProblem());
        }
        int set = 0;
        int measured = 0;
        for (DeviceMatrix[] copies : byShape) {
            DeviceMatrix w = copies[0];
            for (int bi = 0; bi < AutotunePolicy.BUCKETS.length && AutotunePolicy.BUCKETS[bi] <= maxTokens; bi++) {
                int bucket = AutotunePolicy.BUCKETS[bi];
                String key = AutotunePolicy.key(dtype, quant, w.rows(), w.cols(), bucket);
                AutotunePolicy.Choice choice = cache.get(key);
                if (choice == null || !choice.kernel().serves(w.int8(), w.group(), bucket, w.cols())) {
                    choice = measure(copies, inputs[w.shape()], outputs[w.shape()], swigluOut[w.shape()], bucket, bi);
                    cache.put(key, choice);
                    measured++;
                    log.println("[autotune] " + key + ": " + choice.reason());
                }
                proj.choose(w, bi, choice.kernel());
                set++;
            }
        }
        if (measured > 0) {
            try {
                cache.save(file);
            } catch (IOException | RuntimeException e) {
                log.println("[autotune] could not write " + file + " (" + e + "); the choices hold for this run only");
            }
        }
        log.println("[autotune] " + set + " choices (" + measured + " measured now, " + (set - measured)
                + " from " + file + ")");
        return set;
    }

    private AutotunePolicy.Choice measure(DeviceMatrix[] w, long x, long y, long act, int tokens, int bucketIndex) {
        List<ProjectionKernel> candidates = AutotunePolicy.candidates(w[0].int8(), w[0].group(), tokens, w[0].cols());
        Map<ProjectionKernel, Double> us = new EnumMap<>(ProjectionKernel.class);
        int ltOffered = candidates.stream().anyMatch(ProjectionKernel::lt) ? proj.ltAlgorithms(w[0], bucketIndex) : 0;
        for (ProjectionKernel k : candidates) {
            if (k.lt() && k.ltRank() >= ltOffered) {
                continue; // the heuristic offered fewer algorithms (or there is no cuBLASLt)
            }
            double estimate = time(k, w, x, y, act, tokens, 3);
            int reps = (int) Math.max(5, Math.min(MAX_REPS, Math.ceil(TARGET_US / Math.max(estimate, 1e-3))));
            // the better of two timings: a one-off stall (clock ramp, another process) must not decide
            us.put(k, Math.min(time(k, w, x, y, act, tokens, reps), time(k, w, x, y, act, tokens, reps)));
        }
        return AutotunePolicy.choose(us);
    }

    private void run(ProjectionKernel kernel, DeviceMatrix w, long x, long y, long act, int tokens) {
        if (act != 0) {
            proj.swiglu(kernel, x, w, y, act, tokens);
        } else {
            proj.run(kernel, x, w, y, tokens, true);
        }
    }

    private static final int MAX_REPS = 100;
    /**
     * A launch costs the host ~10 µs (JCuda), longer than a small projection runs: timed back to back, the GPU would
     * wait for the host and every kernel would measure the launch. So a spin kernel runs first while the host queues
     * all repetitions; the events after it see the GPU time alone (as in a CUDA graph replay).
     */
    private static final long SPIN_NS_PER_REP = 25_000;

    /** Microseconds per run of {@code kernel} (one untimed run first; act != 0: with the SwiGLU), device time only. */
    private double time(ProjectionKernel kernel, DeviceMatrix[] w, long x, long y, long act, int tokens, int reps) {
        run(kernel, w[0], x, y, act, tokens);
        CUevent a = ctx.newEvent();
        CUevent z = ctx.newEvent();
        try {
            proj.spin(SPIN_NS_PER_REP * reps + 200_000);
            ctx.record(a);
            for (int i = 0; i < reps; i++) {
                run(kernel, w[(i + 1) % w.length], x, y, act, tokens);
            }
            ctx.record(z);
            return 1000.0 * ctx.elapsedMs(a, z) / reps;
        } finally {
            ctx.destroy(a);
            ctx.destroy(z);
        }
    }
}
