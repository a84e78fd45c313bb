package io.llmcluster.worker.tools;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelConfig;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.model.TensorDType;
import io.llmcluster.worker.model.TensorView;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MakeRandomModelTest {
    private static final Path TOKENIZER = Path.of("../deploy/bench/tokenizer-32k");
    /** The benchmark's layout and vocabulary at a size a test can afford. */
    private static final RandomLlamaSpec SMALL = new RandomLlamaSpec(64, 160, 4, 4, 2, 32000, 256, 2, 7);

    @TempDir
    Path tmp;

    @Test
    void shouldWriteADirectoryTheCpuBackendRuns() throws Exception {
        Path dir = tmp.resolve("m");
        assertTrue(MakeRandomModel.make(dir, TOKENIZER, SMALL));
        try (ModelDirectory model = ModelDirectory.open(dir);
             CpuBackend backend = new CpuBackend(model, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(4L << 20))) {
            ModelConfig c = model.config();
            assertEquals(SMALL.numLayers(), c.numLayers());
            assertEquals(SMALL.kvDim(), c.kvDim());
            assertTrue(c.tieWordEmbeddings());
            assertEquals(32.0, c.ropeScaling().factor());
            assertEquals(SMALL.parameters(), model.checkpoint().tensors().values().stream()
                    .mapToLong(t -> t.data().byteSize() / 2).sum());
            int[] ids = model.tokenizer().encode("def main(): pass");
            ForwardBatch batch = new ForwardBatch(backend.maxBatchTokens(), 1);
            int[] table = new int[backend.numKvBlocks()];
            Arrays.setAll(table, i -> i);
            batch.addSequence(ids, 0, ids.length, 0, table, ForwardBatch.Logits.LAST);
            MemorySegment logits = backend.forward(batch);
            for (int i = 0; i < c.vocabSize(); i++) {
                assertTrue(Float.isFinite(logits.getAtIndex(ValueLayout.JAVA_FLOAT, i)), "logit " + i);
            }
        }
    }

    @Test
    void shouldDrawWeightsAroundTheirTargetStatistics() throws Exception {
        Path dir = tmp.resolve("m");
        MakeRandomModel.make(dir, TOKENIZER, SMALL);
        try (ModelDirectory model = ModelDirectory.open(dir)) {
            double[] proj = moments(model.checkpoint().require("model.layers.1.mlp.up_proj.weight"));
            assertEquals(0, proj[0], 0.002);
            assertEquals(RandomLlamaSpec.WEIGHT_STD, proj[1], 0.002);
            double[] norm = moments(model.checkpoint().require("model.layers.3.input_layernorm.weight"));
            assertEquals(1, norm[0], 0.01);
            assertEquals(RandomLlamaSpec.NORM_STD, norm[1], 0.006);
        }
    }

    @Test
    void shouldWriteTheSameBytesForTheSameSpecAndSkipACompleteDirectory() throws Exception {
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        MakeRandomModel.make(a, TOKENIZER, SMALL);
        MakeRandomModel.make(b, TOKENIZER, SMALL);
        for (int s = 0; s < SMALL.shards(); s++) {
            String f = SMALL.shardFileName(s);
            assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
        }
        long modified = Files.getLastModifiedTime(a.resolve(SMALL.shardFileName(0))).toMillis();
        assertFalse(MakeRandomModel.make(a, TOKENIZER, SMALL));
        assertEquals(modified, Files.getLastModifiedTime(a.resolve(SMALL.shardFileName(0))).toMillis());
    }

    @Test
    void shouldRefuseToReplaceADirectoryItDidNotMake() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("mine"));
        Files.writeString(dir.resolve("notes.txt"), "keep me");
        assertThrows(IOException.class, () -> MakeRandomModel.make(dir, TOKENIZER, SMALL));
        assertTrue(Files.exists(dir.resolve("notes.txt")));
    }

    @Test
    void shouldRoundToNearestEvenBf16() {
        assertEquals((short) 0x3F80, MakeRandomModel.toBf16(1.0f));
        assertEquals((short) 0x3F80, MakeRandomModel.toBf16(Float.intBitsToFloat(0x3F808000))); // tie, even stays
        assertEquals((short) 0x3F82, MakeRandomModel.toBf16(Float.intBitsToFloat(0x3F818000))); // tie, odd rounds up
        assertEquals((short) 0x3F81, MakeRandomModel.toBf16(Float.intBitsToFloat(0x3F808001)));
    }

    @Test
    void shouldCountTheLlama32OneBShape() {
        RandomLlamaSpec spec = RandomLlamaSpec.llama32OneB();
        assertEquals(1_038_682_112L, spec.parameters());
        assertEquals(2 * (spec.parameters() - 16L * 2 * 2048 - 2048), spec.weightBytesPerToken());
    }

    /** Mean and standard deviation of a BF16 tensor. */
    private static double[] moments(TensorView t) {
        assertEquals(TensorDType.BF16, t.dtype());
        long n = t.data().byteSize() / 2;
        double sum = 0;
        double sq = 0;
        for (long i = 0; i < n; i++) {
            float v = Float.intBitsToFloat(t.data().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) << 16);
            sum += v;
            sq += v * v;
        }
        double mean = sum / n;
        return new double[] {mean, Math.sqrt(sq / n - mean * mean)};
    }
}
