package io.llmcluster.worker.model;

/**
 * The shape of a Llama-family model as config.json describes it, normalised across the old published form
 * ({@code rope_theta}, {@code rope_scaling}, {@code torch_dtype}) and transformers 5's form
 * ({@code rope_parameters}, {@code dtype}).
 *
 * @param ropeScaling null when RoPE is unscaled
 * @param qkvBias q/k/v projections carry a bias (Qwen2 always; Llama with {@code attention_bias})
 * @param outputBias o_proj carries a bias (Llama with {@code attention_bias})
 * @param maxContextTokens positions the model attends over: max_position_embeddings, capped by a sliding
 *     window when one is set (full attention over a context no longer than the window is exact)
 */
public record ModelConfig(
        Architecture architecture,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        double rmsNormEps,
        double ropeTheta,
        Llama3RopeScaling ropeScaling,
        int maxContextTokens,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        String weightDtype,
        int bosTokenId,
        int[] eosTokenIds) {

    public ModelConfig {
        require(vocabSize > 0, "vocab_size must be positive");
        require(hiddenSize > 0 && intermediateSize > 0 && numLayers > 0, "sizes must be positive");
        require(numHeads > 0 && numKvHeads > 0, "head counts must be positive");
        require(numHeads % numKvHeads == 0, "num_attention_heads (" + numHeads
                + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
        require(headDim > 0 && headDim % 2 == 0, "head_dim must be positive and even, got " + headDim);
        require(maxContextTokens > 0, "max_position_embeddings must be positive");
        require(rmsNormEps > 0, "rms_norm_eps must be positive");
        require(ropeTheta > 0, "rope_theta must be positive");
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new ModelLoadException("config.json: " + message);
        }
    }

    public int qDim() {
        return numHeads * headDim;
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    /** Query heads that share one key/value head. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }
}
