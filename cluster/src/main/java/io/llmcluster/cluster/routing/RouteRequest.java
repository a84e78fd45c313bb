package io.llmcluster.cluster.routing;

import java.util.Objects;

/**
 * What the router needs of a request: its prompt's chained block hashes ({@code BlockHasher.hashFullBlocks},
 * full blocks only, computed once by the gateway), the prompt length and the most tokens it may generate.
 *
 * @param blockHashes     {@code blockHashes[0..numBlocks)} is the prompt's chain; the array may be a reused buffer
 * @param numBlocks       full blocks of the prompt
 * @param blockSizeTokens tokens per block of that chain (the gateway's hasher's)
 * @param promptTokens    prompt length in tokens
 * @param maxTokens       the most tokens the request may generate ({@code max_tokens})
 */
public record RouteRequest(long[] blockHashes, int numBlocks, int blockSizeTokens, int promptTokens, int maxTokens) {
  public RouteRequest {
    Objects.requireNonNull(blockHashes, "blockHashes");
    if (numBlocks < 0 || numBlocks > blockHashes.length) {
      throw new IllegalArgumentException("numBlocks " + numBlocks + " outside [0, " + blockHashes.length + "]");
    }
    if (blockSizeTokens <= 0 || promptTokens <= 0 || maxTokens < 0) {
      throw new IllegalArgumentException("blockSizeTokens and promptTokens must be positive, maxTokens not negative");
    }
    if ((long) numBlocks * blockSizeTokens > promptTokens) {
      throw new IllegalArgumentException(numBlocks + " blocks of " + blockSizeTokens + " are longer than the prompt ("
          + promptTokens + " tokens)");
    }
  }

  /** A request over a whole chain array. */
  public static RouteRequest of(long[] chain, int blockSizeTokens, int promptTokens, int maxTokens) {
    return new RouteRequest(chain, chain.length, blockSizeTokens, promptTokens, maxTokens);
  }
}
