package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Decode steps with programmatic dependent launches (kernels starting while the one before still runs, waiting in
 * griddepcontrol.wait) and the SwiGLU fused into the gate|up kernel give exactly the logits of the same steps with
 * both off, replayed from CUDA graphs and launched eagerly: a kernel that read its predecessor's output too early
 * would show here. On sm_90 the launches must really have used the attribute.
 */
@RequiresCuda
class CudaDependentLaunchTest {
    @ParameterizedTest
    @CsvSource({
        "tiny-llama, none, OFF, 2",   // fixed rule: 16-bit GEMV (fused SwiGLU) at 1-2 tokens
        "tiny-qwen2, int8, OFF, 2",   // fixed rule: INT8 skinny GEMM (fused SwiGLU)
        "tiny-qwen2, none, ON, 5"})   // the autotuner's choices, bucket 8
    void shouldGiveTheLogitsOfOrderedLaunchesAndUnfusedSwiglu(String name, String quant, String autotune, int seqs) {
        CudaBackendOptions o = CudaBackendOptions.defaults().withKvCacheBytes(64L << 20).withMaxBatchTokens(256)
                .withDecodeChunkTokens(32).withAutotune(CudaBackendOptions.Autotune.valueOf(autotune))
                .withQuantization(quant.equals("int8") ? CudaQuantization.int8PerChannel() : CudaQuantization.NONE);
        try (ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir(name));
             CudaBackend be = new CudaBackend(model, o)) {
            DependentLaunch d = be.context().dependentLaunch();
            boolean hopper = Integer.parseInt(be.context().computeCapability().split("\\.")[0]) >= 9;
            assertTrue(d.supported() == hopper, "PDL supported " + d.supported() + " on sm_" + be.context().computeCapability());
            int vocab = model.config().vocabSize();
            Random r = new Random(11);
            int[][] tables = new int[seqs][16];
            int[][] tokens = new int[seqs][256];
            int[] start = new int[seqs];
            for (int s = 0; s < seqs; s++) {
                for (int i = 0; i < 16; i++) {
                    tables[s][i] = (s * 16 + i) * 7 % (seqs * 16);
                }
                for (int i = 0; i < 256; i++) {
                    tokens[s][i] = r.nextInt(vocab - 16);
                }
                start[s] = 4 + 11 * s;
            }
            ForwardBatch fb = new ForwardBatch(256, 64);
            for (int s = 0; s < seqs; s++) {
                fb.addSequence(tokens[s], 0, start[s], 0, tables[s], ForwardBatch.Logits.LAST);
            }
            be.forward(fb);
            long before = d.launches();
            long fusedBefore = be.projections().fusedSwigluLaunches();
            for (int step = 0; step < 40; step++) { // contexts to ~100: split classes 1, 2, 4
                boolean graphs = step % 2 == 0;
                be.setDecodePaths(graphs, true);
                float[][] out = new float[2][];
                for (int v = 0; v < 2; v++) { // the same step (same KV slot, same values) twice
                    be.setFusion(v == 1, v == 1);
                    fb.clear();
                    for (int s = 0; s < seqs; s++) {
                        int pos = start[s] + step;
                        fb.addSequence(tokens[s], pos, 1, pos, tables[s], ForwardBatch.Logits.LAST);
                    }
                    out[v] = be.forward(fb).asSlice(0, 4L * seqs * vocab).toArray(JAVA_FLOAT);
                }
                for (int s = 0; s < seqs; s++) {
                    double e = Dev.relErr(out[1], s * vocab, out[0], s * vocab, vocab);
                    assertTrue(e == 0, name + " " + quant + " step " + step + (graphs ? " (graphs)" : " (eager)") + " sequence "
                            + s + ": logits with PDL and fused SwiGLU differ by " + e);
                }
            }
            long used = d.launches() - before;
            assertTrue(!hopper || used > 0, "no kernel was launched as a programmatic dependent");
            long fused = be.projections().fusedSwigluLaunches() - fusedBefore;
            assertTrue(autotune.equals("ON") || fused > 0, "the fixed rule's GEMV / skinny kernel never fused the SwiGLU");
            System.out.printf("[cuda] %s %s autotune %s: PDL + fused SwiGLU = ordered + unfused over 40 steps (%d dependent "
                    + "launches, %d fused gate|up launches)%n", name, quant, autotune, used, fused);
        }
    }
}
