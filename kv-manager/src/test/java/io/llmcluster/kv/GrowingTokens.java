package io.llmcluster.kv;

import org.agrona.collections.IntArrayList;

/** A test token sequence that grows like a request's: a prompt, then one token per decode step. */
final class GrowingTokens implements TokenSequence {
  private final IntArrayList tokens = new IntArrayList();

  GrowingTokens(int... prompt) {
    for (int token : prompt) {
      tokens.addInt(token);
    }
  }

  /** Tokens {@code from, from+1, ..., to-1}. */
  static GrowingTokens range(int from, int to) {
    GrowingTokens sequence = new GrowingTokens();
    for (int t = from; t < to; t++) {
      sequence.append(t);
    }
    return sequence;
  }

  GrowingTokens append(int token) {
    tokens.addInt(token);
    return this;
  }

  /** The first {@code count} tokens, as a new array. */
  int[] prefix(int count) {
    int[] copy = new int[count];
    for (int i = 0; i < count; i++) {
      copy[i] = tokens.getInt(i);
    }
    return copy;
  }

  @Override
  public int numTokens() {
    return tokens.size();
  }

  @Override
  public int tokenAt(int index) {
    return tokens.getInt(index);
  }
}
