package io.llmcluster.worker.tools;

/**
 * The benchmark prompt as token ids, the same in every engine's harness (deploy/bench/jlama repeats the
 * formula): the BOS token of the bench tokenizer, then ids spread over the ordinary vocabulary by a
 * multiplicative hash, so no special token appears.
 */
public final class BenchPrompt {
    private BenchPrompt() {}

    public static int[] tokens(int count, int vocabSize) {
        int[] ids = new int[count];
        ids[0] = Math.min(RandomLlamaSpec.BOS_TOKEN_ID, vocabSize - 1);
        int ordinary = Math.min(vocabSize, RandomLlamaSpec.BOS_TOKEN_ID) - 100;
        for (int i = 1; i < count; i++) {
            ids[i] = 100 + (int) ((i * 2654435761L) % ordinary);
        }
        return ids;
    }
}
