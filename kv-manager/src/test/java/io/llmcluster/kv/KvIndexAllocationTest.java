package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.management.ManagementFactory;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A warm longest-prefix lookup allocates nothing (the fewest bytes of five runs: JIT timing under load). */
class KvIndexAllocationTest {
  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  @Test
  void shouldAllocateNothingPerLookupOnceWarm() {
    KvIndex index = new KvIndex();
    long[] chain = new long[256];
    for (int b = 0; b < chain.length; b++) {
      chain[b] = 1000 + b;
    }
    for (int w = 0; w < 70; w++) { // two bitset words
      index.apply("w" + w, List.of(new KvEvent.BlockStored(1, 1, 0, java.util.Arrays.copyOf(chain, w * 3), 16)));
    }
    PrefixMatch match = new PrefixMatch(index);
    Runnable lookups = () -> {
      for (int i = 0; i < 2000; i++) {
        index.longestPrefix(chain, chain.length - (i & 7), match);
      }
    };
    lookups.run();
    long fewest = Long.MAX_VALUE;
    for (int run = 0; run < 5; run++) {
      long before = THREADS.getCurrentThreadAllocatedBytes();
      lookups.run();
      fewest = Math.min(fewest, THREADS.getCurrentThreadAllocatedBytes() - before);
    }
    assertEquals(0, fewest);
    assertEquals(69 * 3, match.blocks("w69")); // the last lookup walked 249 blocks
  }
}
