package io.llmcluster.worker.cuda;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * What every GPU kernel test class shares: one CUDA context on device 0, opened before the class's tests and closed
 * after them, and the seed of this run's random data, which each failure message names so a failing case can be
 * replayed. {@link RequiresCuda} here is inherited (the subclasses state it too): on a machine without a GPU the class is
 * skipped before {@link #openContext} runs.
 */
@RequiresCuda
abstract class CudaDeviceTest {
    static final long SEED = System.nanoTime();
    static CudaContext ctx;

    @BeforeAll
    static void openContext() {
        ctx = CudaContext.open(0);
    }

    @AfterAll
    static void closeContext() {
        if (ctx != null) {
            ctx.close();
            ctx = null;
        }
    }

    /** The suffix every assertion message carries. */
    static String seed() {
        return " (seed " + SEED + ")";
    }
}
