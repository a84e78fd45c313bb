package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** XXH64 against outputs of the reference C library (libxxhash 0.8.1, {@code XXH64(ptr, len, seed)}). */
class Xxh64Test {
  private static long ascii(String s, long seed) {
    return Xxh64.hash(s.getBytes(StandardCharsets.US_ASCII), seed);
  }

  @Test
  void shouldMatchReferenceLibraryOnShortAndLongInputs() {
    assertEquals(0xEF46DB3751D8E999L, ascii("", 0));
    assertEquals(0xD24EC4F1A98C6E5BL, ascii("a", 0));
    assertEquals(0x44BC2CF5AD770999L, ascii("abc", 0));
    assertEquals(0x066ED728FCEEB3BEL, ascii("message digest", 0));
    assertEquals(0xCFE1F278FA89835CL, ascii("abcdefghijklmnopqrstuvwxyz", 0));
    assertEquals(0x2ED0F59D6B43AC8BL, ascii("abc", 0x9E3779B97F4A7C15L));
  }

  @Test
  void shouldMatchReferenceLibraryOnHundredBytesCoveringStripesWordsIntsAndBytes() {
    byte[] bytes = new byte[100];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) i;
    }
    assertEquals(0x6AC1E58032166597L, Xxh64.hash(bytes, 0));
  }

  @Test
  void shouldHashBlockExactlyAsItsLittleEndianByteSerialization() {
    Random random = new Random(1);
    for (int count = 0; count <= 40; count++) {
      int[] tokens = new int[count + 3];
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] = random.nextInt();
      }
      long parent = random.nextLong();
      long seed = random.nextLong();
      ByteBuffer bytes = ByteBuffer.allocate(8 + 4 * count).order(ByteOrder.LITTLE_ENDIAN).putLong(parent);
      for (int i = 0; i < count; i++) {
        bytes.putInt(tokens[2 + i]);
      }
      assertEquals(Xxh64.hash(bytes.array(), seed),
          Xxh64.hashBlock(parent, TokenSequence.of(tokens), 2, count, seed), "count " + count);
    }
  }
}
