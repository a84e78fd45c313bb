package io.llmcluster.http;

/**
 * One prompt, tokenized.
 *
 * @param text the prompt as text (echoed back with {@code echo}); for a token-id prompt, its decoding
 */
public record PromptInput(int[] tokenIds, String text) {}
