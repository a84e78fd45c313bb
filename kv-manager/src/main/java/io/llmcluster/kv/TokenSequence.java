package io.llmcluster.kv;

/**
 * A request's token ids so far (prompt, then generated tokens), read by index. The scheduler's request object
 * implements it over its own growable buffer, so the KV manager reads tokens without copying; the sequence
 * grows by one token per decode step and its prefix never changes.
 */
public interface TokenSequence {
  /** How many tokens the sequence holds now. */
  int numTokens();

  /** The token id at {@code index}, {@code 0 <= index < numTokens()}. */
  int tokenAt(int index);

  /** A fixed sequence over {@code tokens} (not copied: the caller must not change the array). */
  static TokenSequence of(int... tokens) {
    return new TokenSequence() {
      @Override
      public int numTokens() {
        return tokens.length;
      }

      @Override
      public int tokenAt(int index) {
        return tokens[index];
      }
    };
  }
}
