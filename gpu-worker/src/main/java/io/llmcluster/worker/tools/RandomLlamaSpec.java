package io.llmcluster.worker.tools;

import java.util.ArrayList;
import java.util.List;

/**
 * The shape of a random-weight Llama that {@link MakeRandomModel} writes. {@link #llama32OneB()} is the
 * benchmark model: Llama 3.2 1B's shape (hidden 2048, MLP 8192, 16 layers, 32 query heads over 8 KV heads,
 * llama3 RoPE scaling, tied embeddings) with a 32k vocabulary, 1.04 B parameters.
 *
 * @param vocabSize must match the tokenizer the directory gets
 * @param shards safetensors files the layers are spread over (each stays under 2 GiB for the 1B shape)
 */
public record RandomLlamaSpec(int hiddenSize, int intermediateSize, int numLayers, int numHeads, int numKvHeads,
                              int vocabSize, int maxPositions, int shards, long seed) {
    /** Standard deviation of the projection and embedding weights (uniform, so bounded at std * sqrt 3). */
    public static final double WEIGHT_STD = 0.02;
    /** Norm weights are 1 plus uniform noise of this standard deviation. */
    public static final double NORM_STD = 0.02;
    public static final int BOS_TOKEN_ID = 31995;
    public static final int END_OF_TEXT_TOKEN_ID = 31996;
    public static final int EOT_TOKEN_ID = 31999;

    public RandomLlamaSpec {
        if (hiddenSize % numHeads != 0 || numHeads % numKvHeads != 0 || shards < 1 || shards > numLayers) {
            throw new IllegalArgumentException("inconsistent random Llama shape: " + this);
        }
    }

    public static RandomLlamaSpec llama32OneB() {
        return new RandomLlamaSpec(2048, 8192, 16, 32, 8, 32000, 4096, 2, 20260101L);
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    public int kvDim() {
        return numKvHeads * headDim();
    }

    /** One tensor of the checkpoint: its name and shape, and whether it is an RMSNorm weight. */
    public record Tensor(String name, long[] shape, boolean norm) {
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** The tensors of shard {@code s} (0-based) in file order: embeddings first, final norm last. */
    public List<Tensor> shardTensors(int s) {
        List<Tensor> out = new ArrayList<>();
        if (s == 0) {
            out.add(new Tensor("model.embed_tokens.weight", new long[] {vocabSize, hiddenSize}, false));
        }
        int from = s * numLayers / shards;
        int to = (s + 1) * numLayers / shards;
        for (int l = from; l < to; l++) {
            String p = "model.layers." + l + ".";
            out.add(new Tensor(p + "input_layernorm.weight", new long[] {hiddenSize}, true));
            out.add(new Tensor(p + "self_attn.q_proj.weight", new long[] {hiddenSize, hiddenSize}, false));
            out.add(new Tensor(p + "self_attn.k_proj.weight", new long[] {kvDim(), hiddenSize}, false));
            out.add(new Tensor(p + "self_attn.v_proj.weight", new long[] {kvDim(), hiddenSize}, false));
            out.add(new Tensor(p + "self_attn.o_proj.weight", new long[] {hiddenSize, hiddenSize}, false));
            out.add(new Tensor(p + "post_attention_layernorm.weight", new long[] {hiddenSize}, true));
            out.add(new Tensor(p + "mlp.gate_proj.weight", new long[] {intermediateSize, hiddenSize}, false));
            out.add(new Tensor(p + "mlp.up_proj.weight", new long[] {intermediateSize, hiddenSize}, false));
            out.add(new Tensor(p + "mlp.down_proj.weight", new long[] {hiddenSize, intermediateSize}, false));
        }
        if (s == shards - 1) {
            out.add(new Tensor("model.norm.weight", new long[] {hiddenSize}, true));
        }
        return out;
    }

    public String shardFileName(int s) {
        return shards == 1 ? "model.safetensors"
                : String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
    }

    /** Every parameter (embeddings counted once: they are tied to the LM head). */
    public long parameters() {
        long n = 0;
        for (int s = 0; s < shards; s++) {
            for (Tensor t : shardTensors(s)) {
                n += t.elements();
            }
        }
        return n;
    }

    /** Weight bytes one decode step reads: every projection of every layer plus the (tied) LM head, BF16. */
    public long weightBytesPerToken() {
        long h = hiddenSize;
        long perLayer = h * h * 2 + 2L * kvDim() * h + 3L * intermediateSize * h;
        return 2 * (numLayers * perLayer + (long) vocabSize * h);
    }
}
