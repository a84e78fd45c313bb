package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.agrona.collections.LongArrayList;
import org.junit.jupiter.api.Test;

/**
 * The block hash scheme, pinned. The expected values come from an independent implementation of the scheme
 * in the class comment (Python over libxxhash's {@code XXH64}); a change here is a change of scheme and must
 * bump {@link BlockHasher#SCHEME_VERSION}.
 */
class BlockHasherTest {
  private static final HashExtra LLAMA = HashExtra.base("llama-3.2-1b", "bf16");

  private static long[] chain(BlockHasher hasher, int... tokens) {
    LongArrayList out = new LongArrayList();
    hasher.hashChain(TokenSequence.of(tokens), tokens.length / hasher.blockSizeTokens(), out);
    return out.toLongArray();
  }

  @Test
  void shouldBeSchemeVersionOne() {
    assertEquals(1, BlockHasher.SCHEME_VERSION);
  }

  @Test
  void shouldProducePinnedRootAndChainForBlockSizeFour() {
    BlockHasher hasher = new BlockHasher(LLAMA, 4);
    assertEquals(0x155CE23463B14D4CL, hasher.rootHash());
    assertArrayEquals(new long[] {0x2E1C7171118D1780L, 0x0F7D831ECFFD6B46L}, chain(hasher, 1, 2, 3, 4, 5, 6, 7, 8));
  }

  @Test
  void shouldProducePinnedRootAndChainForDefaultBlockSize() {
    BlockHasher hasher = new BlockHasher(LLAMA, BlockPool.DEFAULT_BLOCK_SIZE_TOKENS);
    int[] tokens = new int[32];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = i;
    }
    assertEquals(0x4D39CD78E51E6A2EL, hasher.rootHash());
    assertArrayEquals(new long[] {0x4DD07EBEAB255DA9L, 0x756A93A4FA74D032L}, chain(hasher, tokens));
  }

  @Test
  void shouldProducePinnedHashesForOddBlockSizesNegativeTokensAndNonAsciiModelIds() {
    BlockHasher five = new BlockHasher(LLAMA, 5);
    assertEquals(0xD1432EF34EE0C9C2L, five.rootHash());
    assertArrayEquals(new long[] {0x0704FCF0D13A2AC4L}, chain(five, 128000, -1, 7, Integer.MAX_VALUE, 42));
    BlockHasher seven = new BlockHasher(LLAMA, 7);
    assertEquals(0xE127370B78A2DD20L, seven.rootHash());
    assertArrayEquals(new long[] {0xDA9DEC6EC448ED58L}, chain(seven, 9, 8, 7, 6, 5, 4, 3));
    BlockHasher meteo = new BlockHasher(HashExtra.base("m\u00e9t\u00e9o", "fp8_e4m3"), 3);
    assertEquals(0x156264DAFF2E3DD1L, meteo.rootHash());
    assertArrayEquals(new long[] {0x06762773B9732064L}, chain(meteo, 1, 2, 3));
  }

  @Test
  void shouldGiveAnAdapterItsOwnPinnedChain() {
    BlockHasher lora = new BlockHasher(new HashExtra("llama-3.2-1b", "sql-lora", "bf16"), 4);
    assertEquals(0xE7A6DD14256308A1L, lora.rootHash());
    assertArrayEquals(new long[] {0x73F521D8F7010A3EL, 0xC3A20C3E7EE5F729L}, chain(lora, 1, 2, 3, 4, 5, 6, 7, 8));
  }

  @Test
  void shouldGiveDifferentChainsForEachDifferentExtraField() {
    int[] tokens = {1, 2, 3, 4};
    long base = chain(new BlockHasher(LLAMA, 4), tokens)[0];
    assertNotEquals(base, chain(new BlockHasher(HashExtra.base("llama-3.2-3b", "bf16"), 4), tokens)[0]);
    assertNotEquals(base, chain(new BlockHasher(new HashExtra("llama-3.2-1b", "a", "bf16"), 4), tokens)[0]);
    assertNotEquals(base, chain(new BlockHasher(HashExtra.base("llama-3.2-1b", "fp8_e4m3"), 4), tokens)[0]);
  }

  @Test
  void shouldNotConfuseFieldBoundariesOfTheExtra() {
    BlockHasher ab = new BlockHasher(new HashExtra("a", "b", "c"), 4);
    BlockHasher a_bc = new BlockHasher(new HashExtra("ab", "", "c"), 4);
    assertNotEquals(ab.rootHash(), a_bc.rootHash());
  }

  @Test
  void shouldHashSameTokensAfterDifferentParentsDifferently() {
    BlockHasher hasher = new BlockHasher(LLAMA, 4);
    long[] first = chain(hasher, 1, 2, 3, 4, 9, 9, 9, 9);
    long[] second = chain(hasher, 5, 6, 7, 8, 9, 9, 9, 9);
    assertNotEquals(first[1], second[1]);
    assertEquals(first[1], hasher.hashBlock(first[0], TokenSequence.of(9, 9, 9, 9), 0));
  }

  @Test
  void shouldChainEachBlockOnThePreviousHashFromTheRoot() {
    BlockHasher hasher = new BlockHasher(LLAMA, 4);
    TokenSequence tokens = TokenSequence.of(1, 2, 3, 4, 5, 6, 7, 8);
    long h0 = hasher.hashBlock(hasher.rootHash(), tokens, 0);
    assertArrayEquals(new long[] {h0, hasher.hashBlock(h0, tokens, 1)}, chain(hasher, 1, 2, 3, 4, 5, 6, 7, 8));
  }

  @Test
  void shouldRefuseToHashABlockThatIsNotFull() {
    BlockHasher hasher = new BlockHasher(LLAMA, 4);
    assertThrows(IllegalArgumentException.class,
        () -> hasher.hashBlock(hasher.rootHash(), TokenSequence.of(1, 2, 3, 4, 5), 1));
  }
}
