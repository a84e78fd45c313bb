package io.llmcluster.worker.engine;

import io.llmcluster.batcher.FinishReason;

/**
 * What one request produced in one step: the sampled token (or -1 when the chunk only releases held-back
 * text at the end), the text it completed, optional logprobs, and the finish reason on the last chunk.
 *
 * @param logprob          log-probability of {@code tokenId} under the model's raw distribution (NaN if
 *                         logprobs were not requested)
 * @param topTokenIds      the most likely tokens at this step, most likely first (empty unless requested)
 * @param topLogprobs      their log-probabilities
 * @param finishReason     null while the request goes on
 * @param promptTokens     the prompt's length (usage)
 * @param completionTokens tokens generated so far, this one included (usage)
 */
public record TokenChunk(long requestId, int tokenId, String text, float logprob, int[] topTokenIds,
                         float[] topLogprobs, FinishReason finishReason, int promptTokens, int completionTokens) {
    public boolean isLast() {
        return finishReason != null;
    }
}
