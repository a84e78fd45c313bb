package io.llmcluster.kv;

import java.util.Arrays;
import org.agrona.collections.IntArrayList;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.collections.LongArrayList;
import org.agrona.collections.LongHashSet;

/**
 * A fixed set of fixed-size KV blocks (ids {@code 0 .. numBlocks-1}, all created at construction) with reference
 * counts, a prefix cache from block hash to block, and the free blocks in eviction order.
 *
 * <p>Free queue (LRU): {@link #allocate} takes blocks from the head. {@link #release} walks a block table
 * backwards; a block whose count drops to zero goes to the tail if it holds a cached hash (still reusable by a
 * prefix hit, evicted last; walking backwards makes a chain's tail go before its head) and to the head if it
 * holds none (nothing worth keeping, so it is reused first). Taking a block that still holds a hash evicts that
 * hash from the prefix cache. {@link #touch} revives a cached free block for a prefix hit.
 *
 * <p>Invariants: free + used = total; a block is in the free queue iff its count is zero; the cache maps each
 * hash to exactly one block and that block records the hash; one hash per block. Every change to the set of
 * cached hashes is emitted, in order, to {@link #events()}: {@code BlockStored} when hashes are registered,
 * {@code BlockRemoved} when they are evicted, {@code AllCleared} on {@link #reset()}, numbered by the pool's
 * {@link #epoch()} and a sequence number from 1.
 *
 * <p>Single-threaded, no locks. The per-step calls allocate nothing except the event records themselves, made
 * only when the cached set changes.
 */
public final class BlockPool {
  /** Tokens per block unless configured otherwise. */
  public static final int DEFAULT_BLOCK_SIZE_TOKENS = 16;
  /** The most blocks {@link #blocksFor} returns: far above any device, well inside array limits. */
  public static final int MAX_BLOCKS = 1 << 24;
  /** What {@link #cachedBlock} returns for a hash that is not cached. */
  public static final int NO_BLOCK = -1;

  private final int numBlocks;
  private final int blockSizeTokens;
  private final long epoch;
  private final int[] refCounts;
  private final long[] blockHashes;
  private final boolean[] hashed;
  private final FreeBlockQueue freeQueue;
  private final Long2LongHashMap blockByHash;
  private final KvEventQueue events;
  private final LongArrayList evictedScratch = new LongArrayList(); // grows to the largest batch, then reused
  private final LongArrayList storedScratch = new LongArrayList();
  private long lastSeq;
  private int numEvictable;

  /** A pool of {@code numBlocks} blocks of {@code blockSizeTokens} tokens whose events carry {@code epoch}. */
  public BlockPool(int numBlocks, int blockSizeTokens, long epoch, int eventQueueCapacity) {
    if (numBlocks <= 0 || numBlocks > MAX_BLOCKS) {
      throw new IllegalArgumentException("numBlocks must be in 1.." + MAX_BLOCKS + ": " + numBlocks);
    }
    if (blockSizeTokens <= 0) {
      throw new IllegalArgumentException("blockSizeTokens must be positive: " + blockSizeTokens);
    }
    this.numBlocks = numBlocks;
    this.blockSizeTokens = blockSizeTokens;
    this.epoch = epoch;
    this.refCounts = new int[numBlocks];
    this.blockHashes = new long[numBlocks];
    this.hashed = new boolean[numBlocks];
    this.freeQueue = new FreeBlockQueue(numBlocks);
    this.blockByHash = new Long2LongHashMap(2 * numBlocks, 0.65f, NO_BLOCK); // never resizes
    this.events = new KvEventQueue(eventQueueCapacity);
  }

  public BlockPool(int numBlocks, int blockSizeTokens, long epoch) {
    this(numBlocks, blockSizeTokens, epoch, KvEventQueue.DEFAULT_CAPACITY);
  }

  /**
   * How many blocks of {@code bytesPerBlock} fit in {@code fraction} of {@code freeBytes} (measured after the
   * warm-up pass), rounded down and capped at {@link #MAX_BLOCKS}.
   */
  public static int blocksFor(long freeBytes, double fraction, long bytesPerBlock) {
    if (freeBytes < 0 || bytesPerBlock <= 0 || !(fraction > 0 && fraction <= 1)) {
      throw new IllegalArgumentException("need freeBytes >= 0, 0 < fraction <= 1, bytesPerBlock > 0: "
          + freeBytes + ", " + fraction + ", " + bytesPerBlock);
    }
    long usableBytes = (long) Math.floor(freeBytes * fraction);
    return (int) Math.min(MAX_BLOCKS, usableBytes / bytesPerBlock);
  }

  /** Bytes of one block: K and V for every layer, KV head, head dimension and token of the block. */
  public static long bytesPerBlock(
      int numLayers, int numKvHeads, int headDim, int blockSizeTokens, int bytesPerElement) {
    return 2L * numLayers * numKvHeads * headDim * blockSizeTokens * bytesPerElement;
  }

  /**
   * Takes {@code count} blocks from the head of the free queue with a count of one each, appends their ids to
   * {@code out} and evicts the hashes they held. Returns false and changes nothing when fewer are free.
   */
  public boolean allocate(int count, IntArrayList out) {
    if (count < 0) {
      throw new IllegalArgumentException("count must not be negative: " + count);
    }
    if (count > freeQueue.size()) {
      return false;
    }
    evictedScratch.clear();
    for (int i = 0; i < count; i++) {
      int blockId = freeQueue.popHead();
      if (hashed[blockId]) {
        numEvictable--;
        evictedScratch.addLong(blockHashes[blockId]);
        unregister(blockId);
      }
      refCounts[blockId] = 1;
      out.addInt(blockId);
    }
    if (!evictedScratch.isEmpty()) {
      events.offer(new KvEvent.BlockRemoved(epoch, ++lastSeq, evictedScratch.toLongArray()));
    }
    return true;
  }

  /** Takes one more reference on {@code blockId} (a prefix hit), reviving it from the free queue if needed. */
  public void touch(int blockId) {
    if (refCounts[blockId] == 0) {
      freeQueue.remove(blockId);
      if (hashed[blockId]) {
        numEvictable--;
      }
    }
    refCounts[blockId]++;
  }

  /** Drops one reference on each block of {@code blockIds}, last to first; see the class comment for order. */
  public void release(IntArrayList blockIds) {
    for (int i = blockIds.size() - 1; i >= 0; i--) {
      releaseOne(blockIds.getInt(i));
    }
  }

  private void releaseOne(int blockId) {
    if (refCounts[blockId] <= 0) {
      throw new IllegalStateException("block " + blockId + " released more often than taken");
    }
    if (--refCounts[blockId] > 0) {
      return;
    }
    if (hashed[blockId]) {
      freeQueue.pushTail(blockId);
      numEvictable++;
    } else {
      freeQueue.pushHead(blockId);
    }
  }

  /**
   * Registers {@code blockHashes[i]} for block {@code blockIds[i]}, for {@code i} in {@code [from, to)}: the
   * newly full blocks of one request, whose chain starts at {@code rootHash}. A hash another block already
   * caches is skipped (the block stays unhashed). Emits one {@code BlockStored} per run of registered blocks.
   * Returns how many were registered.
   */
  public int cacheBlocks(IntArrayList blockIds, LongArrayList blockHashes, int from, int to, long rootHash) {
    storedScratch.clear();
    long runParent = rootHash;
    int registered = 0;
    for (int i = from; i < to; i++) {
      long hash = blockHashes.getLong(i);
      if (!register(blockIds.getInt(i), hash)) {
        emitStored(runParent);
        continue;
      }
      if (storedScratch.isEmpty()) {
        runParent = i == 0 ? rootHash : blockHashes.getLong(i - 1);
      }
      storedScratch.addLong(hash);
      registered++;
    }
    emitStored(runParent);
    return registered;
  }

  private boolean register(int blockId, long hash) {
    if (refCounts[blockId] <= 0) {
      throw new IllegalStateException("block " + blockId + " must be in use to be cached");
    }
    if (hashed[blockId]) {
      if (blockHashes[blockId] != hash) {
        throw new IllegalStateException("block " + blockId + " already holds another hash");
      }
      return false;
    }
    if (blockByHash.get(hash) != NO_BLOCK) {
      return false;
    }
    blockByHash.put(hash, blockId);
    blockHashes[blockId] = hash;
    hashed[blockId] = true;
    return true;
  }

  private void unregister(int blockId) {
    blockByHash.remove(blockHashes[blockId]);
    hashed[blockId] = false;
    blockHashes[blockId] = 0;
  }

  private void emitStored(long parentHash) {
    if (!storedScratch.isEmpty()) {
      events.offer(new KvEvent.BlockStored(
          epoch, ++lastSeq, parentHash, storedScratch.toLongArray(), blockSizeTokens));
      storedScratch.clear();
    }
  }

  /** Forgets every cached hash and puts all blocks back in id order; no block may be in use. */
  public void reset() {
    if (numUsedBlocks() > 0) {
      throw new IllegalStateException(numUsedBlocks() + " blocks are still in use; free their requests first");
    }
    Arrays.fill(refCounts, 0);
    Arrays.fill(hashed, false);
    Arrays.fill(blockHashes, 0);
    blockByHash.clear();
    freeQueue.fillInOrder();
    numEvictable = 0;
    events.offer(new KvEvent.AllCleared(epoch, ++lastSeq));
  }

  /** The block caching {@code blockHash}, or {@link #NO_BLOCK}. */
  public int cachedBlock(long blockHash) {
    return (int) blockByHash.get(blockHash);
  }

  public int refCount(int blockId) {
    return refCounts[blockId];
  }

  /** Whether {@code blockId} holds a cached hash. */
  public boolean isCached(int blockId) {
    return hashed[blockId];
  }

  /** The hash {@code blockId} caches; only meaningful when {@link #isCached}. */
  public long blockHash(int blockId) {
    return blockHashes[blockId];
  }

  public int numBlocks() {
    return numBlocks;
  }

  public int blockSizeTokens() {
    return blockSizeTokens;
  }

  public int numFreeBlocks() {
    return freeQueue.size();
  }

  public int numUsedBlocks() {
    return numBlocks - freeQueue.size();
  }

  /** Free blocks that still hold a cached hash: evictable, yet reusable by a prefix hit. */
  public int numEvictableBlocks() {
    return numEvictable;
  }

  /** Blocks holding a cached hash, in use or free. */
  public int numCachedBlocks() {
    return blockByHash.size();
  }

  /** Whether {@code blockId} is in the free queue. */
  public boolean isFree(int blockId) {
    return freeQueue.contains(blockId);
  }

  /** The free block ids from next-taken to last-taken (a copy; for tests and diagnostics). */
  public int[] freeBlocksInEvictionOrder() {
    return freeQueue.toArray();
  }

  /** A copy of the set of cached hashes (a snapshot for a directory that lost events; not per step). */
  public LongHashSet cachedHashes() {
    LongHashSet copy = new LongHashSet(Math.max(8, 2 * blockByHash.size()));
    blockByHash.forEachLong((hash, blockId) -> copy.add(hash));
    return copy;
  }

  public long epoch() {
    return epoch;
  }

  /** The sequence number of the last event emitted, 0 before the first. */
  public long lastSeq() {
    return lastSeq;
  }

  /** The pool's outgoing events, for the publisher to drain. */
  public KvEventQueue events() {
    return events;
  }
}
