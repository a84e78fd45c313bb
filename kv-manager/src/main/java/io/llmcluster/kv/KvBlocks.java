package io.llmcluster.kv;

import org.agrona.collections.IntArrayList;

/**
 * A request's block table: the ids of the blocks that hold its KV, block {@code i} covering token positions
 * {@code [i * blockSizeTokens, (i + 1) * blockSizeTokens)}. A live read-only view owned by the
 * {@link KvCacheManager}: it grows as slots are allocated and is emptied when the request is freed.
 * {@link #NONE} (compare with {@code ==} or {@link #isNone()}) means "no room in the pool".
 */
public final class KvBlocks {
  /** The answer of {@link KvCacheManager#allocateSlots} when the pool lacks free blocks. */
  public static final KvBlocks NONE = new KvBlocks(0);

  private final IntArrayList blockIds;

  KvBlocks(int initialCapacity) {
    this.blockIds = new IntArrayList(Math.max(initialCapacity, 0), BlockPool.NO_BLOCK);
  }

  /** Whether this is {@link #NONE}. */
  public boolean isNone() {
    return this == NONE;
  }

  public int numBlocks() {
    return blockIds.size();
  }

  /** The id of the block at {@code index} in the table. */
  public int blockId(int index) {
    return blockIds.getInt(index);
  }

  /** Copies the ids into {@code dst} from {@code dstOffset} (e.g. a pinned block-table buffer); returns how many. */
  public int copyTo(int[] dst, int dstOffset) {
    int count = blockIds.size();
    for (int i = 0; i < count; i++) {
      dst[dstOffset + i] = blockIds.getInt(i);
    }
    return count;
  }

  /** The ids as a new array (for tests and diagnostics). */
  public int[] toArray() {
    return blockIds.toIntArray();
  }

  /** The mutable list, for the manager and the pool only. */
  IntArrayList ids() {
    return blockIds;
  }

  @Override
  public String toString() {
    return isNone() ? "KvBlocks.NONE" : "KvBlocks" + blockIds;
  }
}
