package io.llmcluster.worker.cpu;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.model.ModelConfig;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Whole models on the CPU with an INT8 KV cache against the same backend with its FP32 cache, fed the same tokens
 * (prompts prefilled in two chunks, so the second reads the cached INT8 prefix, then greedy decode steps of the FP32
 * run): every logits row within the project's INT8 bound, and the pool sized exactly by the INT8 block bytes.
 */
class CpuKvInt8Test {
    /** The INT8 weight-only test's bound (relative L2 of a logits row); these tiny models quantize 16-value rows. */
    private static final double BOUND = 0.12;

    @Test
    void shouldStayWithinTheInt8BoundOfTheFp32Cache() {
        for (String name : new String[] {"tiny-llama", "tiny-qwen2"}) {
            compare(name);
        }
    }

    private static void compare(String name) {
        CpuBackendOptions base = CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(1 << 20).withMaxBatchTokens(128);
        try (ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir(name));
             CpuBackend fp32 = new CpuBackend(model, base);
             CpuBackend int8 = new CpuBackend(model, base.withKvCacheDtype(KvCacheDtype.INT8))) {
            ModelConfig c = model.config();
            assertEquals((1 << 20) / (2L * c.numLayers() * 16 * c.kvDim() * 4), fp32.numKvBlocks());
            assertEquals((1 << 20) / (2L * c.numLayers() * 16 * c.numKvHeads() * (c.headDim() + 4)), int8.numKvBlocks());
            assertEquals(KvCacheDtype.INT8, int8.kvCacheDtype());
            int vocab = c.vocabSize();
            Random r = new Random(name.hashCode());
            int[] prompt = {19, 35};
            int[][] tokens = new int[2][128];
            int[][] tables = {{5, 2, 7, 0, 9, 11, 3, 1}, {4, 6, 8, 10, 12, 13, 14, 15}};
            for (int s = 0; s < 2; s++) {
                for (int i = 0; i < prompt[s]; i++) {
                    tokens[s][i] = r.nextInt(vocab - 16);
                }
            }
            ForwardBatch fb = new ForwardBatch(128, 8);
            double worst = 0;
            for (int step = -2; step < 24; step++) {
                fb.clear();
                for (int s = 0; s < 2; s++) {
                    int split = prompt[s] / 2;
                    if (step == -2) {
                        fb.addSequence(tokens[s], 0, split, 0, tables[s], ForwardBatch.Logits.LAST);
                    } else if (step == -1) {
                        fb.addSequence(tokens[s], split, prompt[s] - split, split, tables[s], ForwardBatch.Logits.LAST);
                    } else {
                        int p = prompt[s] + step;
                        fb.addSequence(tokens[s], p, 1, p, tables[s], ForwardBatch.Logits.LAST);
                    }
                }
                float[] a = fp32.forward(fb).asSlice(0, 8L * vocab).toArray(JAVA_FLOAT);
                float[] b = int8.forward(fb).asSlice(0, 8L * vocab).toArray(JAVA_FLOAT);
                if (step == -2) {
                    continue;
                }
                for (int s = 0; s < 2; s++) {
                    double diff = 0;
                    double norm = 0;
                    int best = 0;
                    for (int i = 0; i < vocab; i++) {
                        double d = (double) b[s * vocab + i] - a[s * vocab + i];
                        diff += d * d;
                        norm += (double) a[s * vocab + i] * a[s * vocab + i];
                        best = a[s * vocab + i] > a[s * vocab + best] ? i : best;
                    }
                    double e = Math.sqrt(diff / norm);
                    assertTrue(e <= BOUND, name + " step " + step + " seq " + s + ": INT8-KV logits rel err " + e);
                    worst = Math.max(worst, e);
                    tokens[s][prompt[s] + step + 1] = best;
                }
            }
            System.out.printf("[cpu] %s INT8 KV vs FP32 KV: %d vs %d blocks, logits worst rel err %.3f (bound %.2f)%n",
                    name, int8.numKvBlocks(), fp32.numKvBlocks(), worst, BOUND);
        }
    }
}
