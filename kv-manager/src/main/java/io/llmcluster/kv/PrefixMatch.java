package io.llmcluster.kv;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The result of {@link KvIndex#longestPrefix}: for each worker of the index, how many leading blocks of the
 * looked-up chain it holds. Reusable: pass the same object to every lookup of one index (single-threaded);
 * valid until the index next changes.
 */
public final class PrefixMatch {
  final KvIndex index;
  private int[] blocksBySlot = new int[64];
  private int chainLength;

  /** An empty result for lookups in {@code index}. */
  public PrefixMatch(KvIndex index) {
    this.index = index;
  }

  void reset(int slots) {
    if (blocksBySlot.length < slots) {
      blocksBySlot = new int[slots];
    } else {
      java.util.Arrays.fill(blocksBySlot, 0, slots, 0);
    }
    chainLength = 0;
  }

  /** Sets {@code blocks} for every slot whose bit is set in {@code bits} of bitset word {@code word}. */
  void setBlocks(int word, long bits, int blocks) {
    if (bits != 0) {
      chainLength = Math.max(chainLength, blocks);
    }
    for (long b = bits; b != 0; b &= b - 1) {
      blocksBySlot[(word << 6) + Long.numberOfTrailingZeros(b)] = blocks;
    }
  }

  /** Leading blocks of the chain held by {@code workerId}; 0 for a worker the index does not know. */
  public int blocks(String workerId) {
    int slot = index.slotOf(workerId);
    return slot < 0 ? 0 : blocksBySlot[slot];
  }

  /** Leading blocks held by the worker in {@code slot} (see {@link KvIndex#slotOf}). */
  public int blocksAt(int slot) {
    return blocksBySlot[slot];
  }

  /** The most leading blocks any worker holds. */
  public int maxBlocks() {
    return chainLength;
  }

  /** Worker id to leading blocks, for every registered worker, in slot order (allocates: tests, admin). */
  public Map<String, Integer> toMap() {
    Map<String, Integer> out = new LinkedHashMap<>();
    for (String worker : index.workers()) {
      out.put(worker, blocks(worker));
    }
    return out;
  }

  @Override
  public String toString() {
    return "PrefixMatch" + toMap();
  }
}
