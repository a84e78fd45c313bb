package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.reference.Errors;
import io.llmcluster.worker.reference.ReferenceRecord;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The CUDA backend against what transformers computed (FP32) for the same weights and prompts. */
@RequiresCuda
class CudaBackendReferenceTest {
    /** FP16 activations and weights (FP32 residual, accumulation and logits): the bound. */
    static final double FP16_TOLERANCE = 2e-2;
    /** BF16 keeps 8 mantissa bits against FP16's 11: the bound is 4x looser. */
    static final double BF16_TOLERANCE = 8e-2;

    static CudaBackendOptions options(CudaDtype dt) {
        return CudaBackendOptions.defaults().withDtype(dt).withKvCacheBytes(8L << 20).withMaxBatchTokens(256).withMaxSequences(16);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-bf16", "tiny-qwen2", "tiny-mistral"})
    void shouldMatchTransformersLogitsAtEveryPositionInFp16(String model) throws Exception {
        assertLogits(model, CudaDtype.F16, FP16_TOLERANCE);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-bf16", "tiny-qwen2", "tiny-mistral"})
    void shouldStayWithinTheBf16BoundOfTransformersLogits(String model) throws Exception {
        assertLogits(model, CudaDtype.BF16, BF16_TOLERANCE);
    }

    private static void assertLogits(String model, CudaDtype dt, double bound) throws Exception {
        assertLogits(model, options(dt), bound, "");
    }

    private static void assertLogits(String model, CudaBackendOptions o, double bound, String label) throws Exception {
        CudaDtype dt = o.dtype();
        ReferenceRecord ref = ReferenceRecord.load(model);
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir(model));
             CudaBackend backend = new CudaBackend(dir, o)) {
            for (ReferenceRecord.Prompt p : ref.prompts()) {
                double worst = worstRowError(backend, p);
                System.out.printf("[model] %-16s %s%s logits worst row rel err %.2e (bound %.0e), %d tokens%n", model, dt, label,
                        worst, bound, p.inputIds().length);
                assertTrue(worst <= bound, model + " " + dt + " logits rel err " + worst + " for: " + p.text());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-bf16", "tiny-qwen2", "tiny-mistral"})
    void shouldContinueGreedilyExactlyLikeTransformersInFp16BothThroughLogitsAndTheGpuArgmax(String model) throws Exception {
        ReferenceRecord ref = ReferenceRecord.load(model);
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir(model));
             CudaBackend backend = new CudaBackend(dir, options(CudaDtype.F16))) {
            for (ReferenceRecord.Prompt p : ref.prompts()) {
                assertArrayEquals(p.greedyIds(), greedy(backend, p.inputIds(), p.greedyIds().length, false), model + ": " + p.text());
                assertArrayEquals(p.greedyIds(), greedy(backend, p.inputIds(), p.greedyIds().length, true),
                        model + " (GPU argmax): " + p.text());
            }
        }
    }

    /** Every projection (prefill and decode: the GEMV path off) through the project's own tensor-core GEMM. */
    static CudaBackendOptions mmaOptions() {
        return options(CudaDtype.F16).withGemm(GemmChoice.MMA).withDecodeGemv(false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-bf16", "tiny-qwen2", "tiny-mistral"})
    void shouldContinueGreedilyExactlyLikeTransformersWithTheOwnTensorCoreGemmAndTheGpuSampler(String model)
            throws Exception {
        assertLogits(model, mmaOptions(), FP16_TOLERANCE, " (own mma GEMM)");
        ReferenceRecord ref = ReferenceRecord.load(model);
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir(model));
             CudaBackend backend = new CudaBackend(dir, mmaOptions())) {
            assertTrue(backend.describe().contains("mma.sync"), backend.describe());
            for (ReferenceRecord.Prompt p : ref.prompts()) {
                assertArrayEquals(p.greedyIds(), greedy(backend, p.inputIds(), p.greedyIds().length, false), model + ": " + p.text());
                assertArrayEquals(p.greedyIds(), greedySampled(backend, p.inputIds(), p.greedyIds().length, 0f, 0),
                        model + " (GPU sampler, temperature 0): " + p.text());
                assertArrayEquals(p.greedyIds(), greedySampled(backend, p.inputIds(), p.greedyIds().length, 1.3f, 1),
                        model + " (GPU sampler, top-k 1): " + p.text());
            }
        }
    }

    /** Prefill, then decode steps sampled on the GPU with the given temperature and top-k (greedy settings). */
    static int[] greedySampled(CudaBackend backend, int[] prompt, int count, float temperature, int topK) {
        int[] tokens = Arrays.copyOf(prompt, prompt.length + count);
        int[] table = identityTable(backend);
        int[] next = new int[1];
        MemorySegment params = java.lang.foreign.Arena.ofAuto().allocate(4L * CudaKernels.SAMPLE_PARAM_INTS, 64);
        ForwardBatch batch = new ForwardBatch(backend.maxBatchTokens(), 1);
        batch.addSequence(tokens, 0, prompt.length, 0, table, ForwardBatch.Logits.LAST);
        int length = prompt.length;
        for (int i = 0; i < count; i++) {
            SamplingRow.write(params, 0, temperature, topK, 1f, 0f, 1234, i);
            backend.forwardSampled(batch, params, next);
            tokens[length++] = next[0];
            batch.clear();
            batch.addSequence(tokens, length - 1, 1, length - 1, table, ForwardBatch.Logits.LAST);
        }
        return Arrays.copyOfRange(tokens, prompt.length, length);
    }

    @Test
    void shouldGiveTheSameLogitsInOneBatchAsAlone() throws Exception {
        ReferenceRecord ref = ReferenceRecord.load("tiny-qwen2");
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir("tiny-qwen2"));
             CudaBackend backend = new CudaBackend(dir, options(CudaDtype.F16))) {
            ForwardBatch batch = new ForwardBatch(backend.maxBatchTokens(), 8);
            int blocksPerSeq = backend.numKvBlocks() / ref.prompts().size();
            for (int s = 0; s < ref.prompts().size(); s++) {
                int[] ids = ref.prompts().get(s).inputIds();
                int[] table = new int[blocksPerSeq]; // backwards through each sequence's share of the pool
                for (int i = 0; i < table.length; i++) {
                    table[i] = (s + 1) * blocksPerSeq - 1 - i;
                }
                batch.addSequence(ids, 0, ids.length, 0, table, ForwardBatch.Logits.ALL);
            }
            MemorySegment logits = backend.forward(batch);
            int row = 0;
            for (ReferenceRecord.Prompt p : ref.prompts()) {
                for (float[] expected : p.logits()) {
                    double err = Errors.relativeError(logits, (long) row++ * backend.vocabSize(), expected);
                    assertTrue(err <= FP16_TOLERANCE, "batched row " + row + " rel err " + err);
                }
            }
        }
    }

    /**
     * Long decodes through the split-K kernel (32-token chunks: up to 8 splits) with a prefix chunked into
     * prefill steps, step by step against the FP32 CPU backend fed the same tokens.
     */
    @Test
    void shouldDecodeLikeTheCpuBackendAcrossManySplits() throws Exception {
        Random r = new Random(System.nanoTime());
        try (ModelDirectory dir = ModelDirectory.open(ReferenceRecord.modelDir("tiny-llama"));
             CudaBackend gpu = new CudaBackend(dir, options(CudaDtype.F16).withDecodeChunkTokens(32));
             CpuBackend cpu = new CpuBackend(dir, CpuBackendOptions.defaults().withThreads(2).withKvCacheBytes(8L << 20)
                     .withMaxBatchTokens(256))) {
            int[] tokens = new int[250];
            for (int i = 0; i < 200; i++) {
                tokens[i] = r.nextInt(507);
            }
            int[] table = new int[16];
            for (int i = 0; i < table.length; i++) {
                table[i] = 3 * i + 1; // holes between the blocks
            }
            ForwardBatch b = new ForwardBatch(256, 1);
            int length = 0;
            double worst = 0;
            while (length < 249) {
                int n = length < 200 ? Math.min(77, 200 - length) : 1; // prefill chunks of 77, then decodes
                b.clear();
                b.addSequence(tokens, length, n, length, table, ForwardBatch.Logits.LAST);
                MemorySegment g = gpu.forward(b);
                MemorySegment c = cpu.forward(b);
                float[] expected = c.asSlice(0, 4L * cpu.vocabSize()).toArray(ValueLayout.JAVA_FLOAT);
                double err = Errors.relativeError(g, 0, expected);
                worst = Math.max(worst, err);
                assertTrue(err <= FP16_TOLERANCE, "step at length " + length + " rel err " + err);
                length += n;
                if (length >= 200) {
                    tokens[length] = Errors.argmax(c, 0, cpu.vocabSize());
                }
            }
            System.out.printf("[model] tiny-llama F16 vs CPU, 49 decodes over 200..249 positions, worst rel err %.2e%n", worst);
        }
    }

    static double worstRowError(ModelBackend backend, ReferenceRecord.Prompt p) {
        ForwardBatch batch = new ForwardBatch(backend.maxBatchTokens(), 1);
        batch.addSequence(p.inputIds(), 0, p.inputIds().length, 0, identityTable(backend), ForwardBatch.Logits.ALL);
        MemorySegment logits = backend.forward(batch);
        double worst = 0;
        for (int r = 0; r < p.logits().length; r++) {
            worst = Math.max(worst, Errors.relativeError(logits, (long) r * backend.vocabSize(), p.logits()[r]));
        }
        return worst;
    }

    /** Prefill, then one decode step per token, greedy: argmax of the returned logits or on the GPU. */
    static int[] greedy(CudaBackend backend, int[] prompt, int count, boolean gpuArgmax) {
        int[] tokens = Arrays.copyOf(prompt, prompt.length + count);
        int[] table = identityTable(backend);
        int[] next = new int[1];
        ForwardBatch batch = new ForwardBatch(backend.maxBatchTokens(), 1);
        batch.addSequence(tokens, 0, prompt.length, 0, table, ForwardBatch.Logits.LAST);
        int length = prompt.length;
        for (int i = 0; i < count; i++) {
            if (gpuArgmax) {
                backend.forwardGreedy(batch, next);
                tokens[length] = next[0];
            } else {
                tokens[length] = Errors.argmax(backend.forward(batch), 0, backend.vocabSize());
            }
            length++;
            batch.clear();
            batch.addSequence(tokens, length - 1, 1, length - 1, table, ForwardBatch.Logits.LAST);
        }
        return Arrays.copyOfRange(tokens, prompt.length, length);
    }

    static int[] identityTable(ModelBackend backend) {
        int[] table = new int[backend.numKvBlocks()];
        Arrays.setAll(table, i -> i);
        return table;
    }
}
