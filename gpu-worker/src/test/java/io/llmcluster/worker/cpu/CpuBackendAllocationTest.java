package io.llmcluster.worker.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.model.EmbeddedModels;
import io.llmcluster.worker.model.ModelDirectory;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/** Convention 7 for the model itself: a decode step allocates nothing on the Java heap once warm. */
class CpuBackendAllocationTest {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    @Test
    void shouldNotAllocateOnTheHeapInADecodeStep() {
        try (ModelDirectory model = ModelDirectory.open(EmbeddedModels.extract(EmbeddedModels.DEFAULT_MODEL));
             CpuBackend backend = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(4 << 20))) {
            int[] tokens = new int[200];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = (i * 37) % 500;
            }
            int[] table = new int[backend.numKvBlocks()];
            java.util.Arrays.setAll(table, i -> i);
            ForwardBatch batch = new ForwardBatch(backend.maxBatchTokens(), 1);
            // C2 compiles the many small kernels one by one while the tiny model runs; until it is done some
            // vector code runs boxed. A warm batch of decode steps allocates nothing: the least of the batches.
            // The bound is time, not a count of batches: on a loaded 2-core machine the compiler threads get
            // little CPU, and 100 batches (a few seconds) were seen to end before the last kernel was compiled.
            long least = Long.MAX_VALUE;
            long deadline = System.nanoTime() + 90_000_000_000L;
            for (int run = 0; least > 0 && (run < 100 || System.nanoTime() < deadline); run++) {
                long before = THREADS.getCurrentThreadAllocatedBytes();
                for (int pos = 0; pos < 150; pos++) {
                    batch.clear();
                    batch.addSequence(tokens, pos, 1, pos, table, ForwardBatch.Logits.LAST);
                    backend.forward(batch);
                }
                least = Math.min(least, THREADS.getCurrentThreadAllocatedBytes() - before);
            }
            assertEquals(0, least, "bytes allocated by 150 decode steps");
        }
    }
}
