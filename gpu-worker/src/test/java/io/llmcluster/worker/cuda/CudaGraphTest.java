package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Decode steps replayed from captured CUDA graphs (padded to a batch bucket, fixed-stride block tables) give
 * exactly the logits of the same steps launched one kernel at a time (same kernels, same split plan; padding
 * rows touch only the padding block), across batch buckets and split classes; also with every context run as one
 * split (the large-batch plan, forced here from batch 1), whose logits must then match the split plan's within
 * rounding (same attention, another summation order); and with 3 decode tokens per attention CTA
 * (decode_attention_items.cu; bucket 8: CTAs of 3, 3 and 2 tokens); and with the warp-per-task kernel
 * (decode_attention_warp.cu, variant 0) at one split and with the split plan (its partials + the reduce).
 */
@RequiresCuda
class CudaGraphTest {
    @ParameterizedTest
    // items per CTA -1: the default pick (one here); warp variant -1: the automatic choice (not the warp kernel here)
    @CsvSource({"2147483647, -1, -1", "1, -1, -1", "1, 3, -1", "2147483647, 3, -1", "1, -1, 0", "2147483647, -1, 0"})
    void shouldGiveTheEagerLogitsWhenDecodeStepsReplayCapturedGraphs(int singleSplitMinBatch, int itemsPerCta, int warpVariant) {
        CudaBackendOptions base = CudaBackendOptions.defaults().withKvCacheBytes(64L << 20).withMaxBatchTokens(256)
                .withDecodeChunkTokens(32);
        try (ModelDirectory model = ModelDirectory.open(ReferenceRecord.modelDir("tiny-qwen2"));
             CudaBackend eager = new CudaBackend(model, base.withCudaGraphs(false));
             CudaBackend graphs = new CudaBackend(model, base);
             CudaBackend split = new CudaBackend(model, base.withCudaGraphs(false))) {
            eager.setSingleSplitMinBatch(singleSplitMinBatch);
            graphs.setSingleSplitMinBatch(singleSplitMinBatch);
            eager.setDecodeItemsPerCta(itemsPerCta);
            graphs.setDecodeItemsPerCta(itemsPerCta);
            eager.setDecodeWarpVariant(warpVariant);
            graphs.setDecodeWarpVariant(warpVariant);
            split.setDecodeWarpVariant(warpVariant); // the split plan on the same attention kernel: another summation order only
            int vocab = model.config().vocabSize();
            Random r = new Random(5);
            int seqs = 5; // bucket 8: three padding rows
            int[][] tables = new int[seqs][16];
            int[][] tokens = new int[seqs][256];
            int[] start = new int[seqs];
            for (int s = 0; s < seqs; s++) {
                for (int i = 0; i < 16; i++) {
                    tables[s][i] = (s * 16 + i) * 7 % (seqs * 16); // shuffled, disjoint
                }
                for (int i = 0; i < 256; i++) {
                    tokens[s][i] = r.nextInt(vocab - 16);
                }
                start[s] = 3 + 9 * s;
            }
            ForwardBatch fb = new ForwardBatch(256, 64);
            for (CudaBackend be : new CudaBackend[] {eager, graphs, split}) {
                fb.clear();
                for (int s = 0; s < seqs; s++) {
                    fb.addSequence(tokens[s], 0, start[s], 0, tables[s], ForwardBatch.Logits.LAST);
                }
                be.forward(fb);
            }
            double worst = 0;
            double worstVsSplit = 0;
            for (int step = 0; step < 110; step++) { // contexts up to ~150: split classes 1, 2, 4, 8
                int active = step < 60 ? seqs : 2; // bucket 8, then bucket 2
                float[][] out = new float[3][];
                for (int b = 0; b < 3; b++) {
                    fb.clear();
                    for (int s = 0; s < active; s++) {
                        int pos = start[s] + step;
                        fb.addSequence(tokens[s], pos, 1, pos, tables[s], ForwardBatch.Logits.LAST);
                    }
                    MemorySegment logits = (b == 0 ? eager : b == 1 ? graphs : split).forward(fb);
                    out[b] = logits.asSlice(0, 4L * active * vocab).toArray(JAVA_FLOAT);
                }
                for (int s = 0; s < active; s++) {
                    double e = Dev.relErr(out[1], s * vocab, out[0], s * vocab, vocab);
                    assertTrue(e == 0,  "step " + step + " sequence " + s + ": graph logits differ by " + e);
                    worst = Math.max(worst, e);
                    double v = Dev.relErr(out[0], s * vocab, out[2], s * vocab, vocab);
                    assertTrue(v <= 2e-3, "step " + step + " sequence " + s + ": differs from the split plan by " + v);
                    worstVsSplit = Math.max(worstVsSplit, v);
                }
            }
            assertTrue(graphs.graphsCaptured() >= 4, "captured " + graphs.graphsCaptured() + " graphs");
            System.out.printf("[cuda] graphs vs eager (single split from batch %d): %d graphs captured, worst logits rel err"
                    + " %.2e; vs the default split plan %.2e%n", singleSplitMinBatch, graphs.graphsCaptured(), worst, worstVsSplit);
        }
    }
}
