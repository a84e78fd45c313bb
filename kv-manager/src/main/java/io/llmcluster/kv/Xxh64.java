package io.llmcluster.kv;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * XXH64 (xxHash, 64-bit, Yann Collet), the stable non-cryptographic hash behind {@link BlockHasher}.
 *
 * <p>Two entry points over the same algorithm: {@link #hash(byte[], long)} for arbitrary bytes (the root of a
 * hash chain) and {@link #hashBlock} for the byte stream {@code LE64(parent) || LE32(token_0) || ... ||
 * LE32(token_{n-1})}, read straight from a {@link TokenSequence} so that hashing a block allocates nothing.
 * Both agree bit for bit with the reference C implementation (libxxhash {@code XXH64}); the tests pin its
 * outputs. The result depends only on the input bytes and the seed: stable across JVMs and platforms.
 */
final class Xxh64 {
  private static final long P1 = 0x9E3779B185EBCA87L;
  private static final long P2 = 0xC2B2AE3D27D4EB4FL;
  private static final long P3 = 0x165667B19E3779F9L;
  private static final long P4 = 0x85EBCA77C2B2AE63L;
  private static final long P5 = 0x27D4EB2F165667C5L;
  private static final int STRIPE_BYTES = 32;
  private static final VarHandle LE_LONG =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle LE_INT =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

  private Xxh64() {}

  /** XXH64 of all of {@code bytes} with {@code seed}. */
  static long hash(byte[] bytes, long seed) {
    int length = bytes.length;
    int pos = 0;
    long h;
    if (length >= STRIPE_BYTES) {
      long v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
      for (; pos + STRIPE_BYTES <= length; pos += STRIPE_BYTES) {
        v1 = round(v1, longAt(bytes, pos));
        v2 = round(v2, longAt(bytes, pos + 8));
        v3 = round(v3, longAt(bytes, pos + 16));
        v4 = round(v4, longAt(bytes, pos + 24));
      }
      h = mergeLanes(v1, v2, v3, v4);
    } else {
      h = seed + P5;
    }
    h += length;
    for (; pos + 8 <= length; pos += 8) {
      h = finishLong(h, longAt(bytes, pos));
    }
    if (pos + 4 <= length) {
      h = finishInt(h, (int) LE_INT.get(bytes, pos));
      pos += 4;
    }
    for (; pos < length; pos++) {
      h = finishByte(h, bytes[pos]);
    }
    return avalanche(h);
  }

  /**
   * XXH64 with {@code seed} of {@code LE64(parent)} followed by the {@code count} token ids starting at
   * {@code start}, each as a little-endian 32-bit int: {@code 8 + 4 * count} bytes, never materialized.
   */
  static long hashBlock(long parent, TokenSequence tokens, int start, int count, long seed) {
    int numWords = 1 + count / 2; // 8-byte words: the parent, then pairs of tokens
    int numStripes = numWords / 4; // the odd 4-byte tail can never complete a 32-byte stripe
    int word = 0;
    long h;
    if (numStripes > 0) {
      long v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
      for (int s = 0; s < numStripes; s++, word += 4) {
        v1 = round(v1, blockWord(parent, tokens, start, word));
        v2 = round(v2, blockWord(parent, tokens, start, word + 1));
        v3 = round(v3, blockWord(parent, tokens, start, word + 2));
        v4 = round(v4, blockWord(parent, tokens, start, word + 3));
      }
      h = mergeLanes(v1, v2, v3, v4);
    } else {
      h = seed + P5;
    }
    h += 8L + 4L * count;
    for (; word < numWords; word++) {
      h = finishLong(h, blockWord(parent, tokens, start, word));
    }
    if ((count & 1) != 0) {
      h = finishInt(h, tokens.tokenAt(start + count - 1));
    }
    return avalanche(h);
  }

  /** Word {@code i} of the block stream: the parent hash, then tokens (2i-2, 2i-1) with the first in the low half. */
  private static long blockWord(long parent, TokenSequence tokens, int start, int i) {
    if (i == 0) {
      return parent;
    }
    int t = start + 2 * (i - 1);
    return (tokens.tokenAt(t) & 0xFFFF_FFFFL) | ((long) tokens.tokenAt(t + 1) << 32);
  }

  private static long longAt(byte[] bytes, int pos) {
    return (long) LE_LONG.get(bytes, pos);
  }

  private static long round(long acc, long input) {
    acc += input * P2;
    acc = Long.rotateLeft(acc, 31);
    return acc * P1;
  }

  private static long mergeLanes(long v1, long v2, long v3, long v4) {
    long h = Long.rotateLeft(v1, 1) + Long.rotateLeft(v2, 7) + Long.rotateLeft(v3, 12) + Long.rotateLeft(v4, 18);
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    return mergeRound(h, v4);
  }

  private static long mergeRound(long acc, long lane) {
    acc ^= round(0, lane);
    return acc * P1 + P4;
  }

  private static long finishLong(long h, long word) {
    h ^= round(0, word);
    return Long.rotateLeft(h, 27) * P1 + P4;
  }

  private static long finishInt(long h, int value) {
    h ^= (value & 0xFFFF_FFFFL) * P1;
    return Long.rotateLeft(h, 23) * P2 + P3;
  }

  private static long finishByte(long h, byte value) {
    h ^= (value & 0xFFL) * P5;
    return Long.rotateLeft(h, 11) * P1;
  }

  private static long avalanche(long h) {
    h ^= h >>> 33;
    h *= P2;
    h ^= h >>> 29;
    h *= P3;
    return h ^ (h >>> 32);
  }
}
