package io.llmcluster.bench.jlama;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import java.io.File;
import java.util.Optional;
import java.util.UUID;

/**
 * Batch-1 CPU throughput of Jlama (jlama-core, Panama vector operations) on a model directory, measured the way
 * io.llmcluster.worker.tools.CpuDecodeBench measures llmcluster: the same prompt ids, one prefill
 * ({@code batchForward}, then the LM head and argmax of its last token), then greedy decode steps
 * ({@code forward} + {@code sample} at temperature 0, as {@code AbstractModel.generate} runs them), after a
 * warm-up, best of several runs. Prints {@code key=value} lines.
 *
 * <p>Loaded with F32 working memory and no model quantization, so the BF16 weights stay BF16 as mapped.
 * Jlama then sets its "quantized memory type" to BF16 for a BF16 model: activations are rounded to BF16
 * before each projection and the matmul runs BF16 x BF16 with FP32 accumulation. The embedding table (the
 * tied LM head) is widened to F32 at load.
 *
 * <pre>JlamaBench MODEL_DIR [promptTokens=128] [decodeTokens=64] [runs=3]</pre>
 */
public final class JlamaBench {
    /** The bench tokenizer's BOS id; prompt ids follow io.llmcluster.worker.tools.BenchPrompt. */
    private static final int BOS_TOKEN_ID = 31995;

    private JlamaBench() {}

    public static void main(String[] args) {
        File dir = new File(args[0]);
        int promptTokens = args.length > 1 ? Integer.parseInt(args[1]) : 128;
        int decodeTokens = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int runs = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        AbstractModel model = ModelSupport.loadModel(dir, DType.F32, DType.F32);
        System.out.println("engine=jlama working_dtype=" + model.getWorkingDType() + " model_dtype="
                + model.getWeights().getModelDType());
        KvBufferCache kvCache = new KvBufferCache(model);
        int[] prompt = promptTokens(promptTokens, model.getConfig().vocabularySize);
        run(model, kvCache, prompt, decodeTokens); // warm-up
        double bestPrefill = 0;
        double bestDecode = 0;
        for (int r = 0; r < runs; r++) {
            double[] run = run(model, kvCache, prompt, decodeTokens);
            System.out.printf("run=%d prefill_tok_s=%.3f decode_tok_s=%.3f first_token=%d last_token=%d%n", r, run[0],
                    run[1], (int) run[2], (int) run[3]);
            bestPrefill = Math.max(bestPrefill, run[0]);
            bestDecode = Math.max(bestDecode, run[1]);
        }
        System.out.printf("jlama_prefill_tok_s=%.3f%njlama_decode_tok_s=%.3f%n", bestPrefill, bestDecode);
        kvCache.close();
        model.close();
        System.exit(0); // Jlama's executors are not daemons
    }

    /** {prefill tok/s, decode tok/s, first token, last token} of one fresh sequence. */
    private static double[] run(AbstractModel model, KvBufferCache kvCache, int[] prompt, int decodeTokens) {
        int vocab = model.getConfig().vocabularySize;
        try (KvBufferCache.KvBuffer kv = kvCache.getKvBuffer(UUID.randomUUID());
             AbstractTensor logits = model.makeDenseTensor(vocab)) {
            long t0 = System.nanoTime();
            AbstractTensor last = model.batchForward(prompt, 0, kv);
            int next = model.sample(last.slice(last.shape().first() - 1), 0f, 0f, logits);
            last.close();
            int first = next;
            long t1 = System.nanoTime();
            for (int i = 0; i < decodeTokens; i++) {
                AbstractTensor out = model.forward(next, prompt.length + i, kv, Optional.empty());
                next = model.sample(out, 0f, 0f, logits);
                out.close();
                kv.incrementContextPosition();
            }
            long t2 = System.nanoTime();
            return new double[] {prompt.length / ((t1 - t0) / 1e9), decodeTokens / ((t2 - t1) / 1e9), first, next};
        }
    }

    /** Same ids as io.llmcluster.worker.tools.BenchPrompt.tokens. */
    static int[] promptTokens(int count, int vocabSize) {
        int[] ids = new int[count];
        ids[0] = Math.min(BOS_TOKEN_ID, vocabSize - 1);
        int ordinary = Math.min(vocabSize, BOS_TOKEN_ID) - 100;
        for (int i = 1; i < count; i++) {
            ids[i] = 100 + (int) ((i * 2654435761L) % ordinary);
        }
        return ids;
    }
}
