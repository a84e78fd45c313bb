package io.llmcluster.worker.model;

/** Llama 3.x's frequency-dependent RoPE scaling ({@code rope_type: llama3}) as config.json states it. */
public record Llama3RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
    public Llama3RopeScaling {
        if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || originalMaxPositions <= 0) {
            throw new ModelLoadException("invalid llama3 rope scaling: factor=" + factor + " low_freq_factor="
                    + lowFreqFactor + " high_freq_factor=" + highFreqFactor
                    + " original_max_position_embeddings=" + originalMaxPositions);
        }
    }
}
