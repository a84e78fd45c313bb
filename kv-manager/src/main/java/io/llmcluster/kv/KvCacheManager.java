package io.llmcluster.kv;

import java.util.Objects;
import org.agrona.collections.Long2ObjectHashMap;

/**
 * Per-request KV slots over a {@link BlockPool}, with prefix reuse by canonical chained block hashes
 * ({@link BlockHasher}). Plain single-threaded policy, called by the scheduler on the engine thread.
 *
 * <p>A request is described by counters, not phases: its {@link TokenSequence} (prompt, then one more token
 * per decode step) and {@code numComputedTokens}, the leading tokens whose KV is in its blocks. Per step:
 * <ol>
 *   <li>Admission (new, or re-added after preemption): {@code numComputed = computedPrefix(id, tokens)}
 *       takes references on the cached full blocks of the longest cached prefix. The last token is never
 *       taken from the cache, so the step still produces logits.</li>
 *   <li>Schedule: {@code allocateSlots(id, tokens, numComputed, numNew)} with {@code numNew} a prefill chunk
 *       or 1 for decode; it returns the block table, or {@link KvBlocks#NONE} when the pool lacks free
 *       blocks, having changed nothing: then preempt a running request ({@link #free}) and retry, or
 *       ({@link #free} it and) leave a new request waiting.</li>
 *   <li>After the forward pass: {@code numComputed += numNew}, then {@code cacheFullBlocks(id, tokens,
 *       numComputed)} registers the newly full blocks (and emits {@code BlockStored}); only then may other
 *       requests reuse them, as their KV is now written. {@code allocateSlots} does the same lazily.</li>
 *   <li>Finish, cancel or preemption: {@link #free}. Blocks with a hash stay cached and evictable; a
 *       preempted request later starts over at step 1, recovering whatever is still cached.</li>
 * </ol>
 * A full pool is a return value, never an exception; contract violations (counts that do not match the held
 * blocks) throw {@link IllegalArgumentException} or {@link IllegalStateException}. Per-step calls allocate
 * nothing beyond amortized growth of a request's own lists and the KV event records.
 */
public final class KvCacheManager {
  private final BlockPool pool;
  private final BlockHasher defaultHasher;
  private final int blockSizeTokens;
  private final Long2ObjectHashMap<RequestKv> requests = new Long2ObjectHashMap<>();
  private long prefixQueries;
  private long prefixQueryTokens;
  private long prefixHitTokens;

  /** A manager over {@code pool}; requests use {@code defaultHasher} unless admitted with another one. */
  public KvCacheManager(BlockPool pool, BlockHasher defaultHasher) {
    this.pool = Objects.requireNonNull(pool, "pool");
    this.defaultHasher = Objects.requireNonNull(defaultHasher, "defaultHasher");
    this.blockSizeTokens = pool.blockSizeTokens();
    checkHasher(defaultHasher);
  }

  /** How many leading tokens of {@code tokens} are cached now: a read-only peek (router, admission). */
  public int findCachedPrefix(TokenSequence tokens) {
    return findCachedPrefix(tokens, defaultHasher);
  }

  /** {@link #findCachedPrefix(TokenSequence)} for a request of another model/adapter. */
  public int findCachedPrefix(TokenSequence tokens, BlockHasher hasher) {
    checkHasher(hasher);
    int maxBlocks = maxCachedBlocks(tokens.numTokens());
    long parent = hasher.rootHash();
    int numBlocks = 0;
    while (numBlocks < maxBlocks) {
      long hash = hasher.hashBlock(parent, tokens, numBlocks);
      if (pool.cachedBlock(hash) == BlockPool.NO_BLOCK) {
        break;
      }
      parent = hash;
      numBlocks++;
    }
    return numBlocks * blockSizeTokens;
  }

  /**
   * Admits {@code requestId}: takes references on the cached blocks of the longest cached prefix of
   * {@code tokens} (full blocks only, at most {@code (numTokens - 1)} rounded down to a block) and makes them
   * the start of its block table. Returns the number of cached tokens, its initial {@code numComputedTokens}.
   * The request must not hold blocks already.
   */
  public int computedPrefix(long requestId, TokenSequence tokens) {
    return computedPrefix(requestId, tokens, defaultHasher);
  }

  /** {@link #computedPrefix(long, TokenSequence)} for a request of another model/adapter. */
  public int computedPrefix(long requestId, TokenSequence tokens, BlockHasher hasher) {
    checkHasher(hasher);
    if (requests.containsKey(requestId)) {
      throw new IllegalStateException("request " + requestId + " already holds blocks; free it first");
    }
    RequestKv request = new RequestKv(requestId, hasher);
    int maxBlocks = maxCachedBlocks(tokens.numTokens());
    for (int i = 0; i < maxBlocks; i++) {
      request.hashUpTo(tokens, i + 1);
      int blockId = pool.cachedBlock(request.blockHashes.getLong(i));
      if (blockId == BlockPool.NO_BLOCK) {
        break;
      }
      pool.touch(blockId);
      request.blocks.ids().addInt(blockId);
    }
    request.numCachedBlocks = request.blocks.numBlocks();
    requests.put(requestId, request);
    int hitTokens = request.numCachedBlocks * blockSizeTokens;
    recordQuery(tokens.numTokens(), hitTokens);
    return hitTokens;
  }

  /**
   * Makes room for {@code numNewTokens} after the {@code numComputedTokens} already computed, first
   * registering the full blocks among those computed. Returns the request's block table, or
   * {@link KvBlocks#NONE} (changing nothing) when the pool has too few free blocks. An unknown request
   * starts with no cached prefix.
   */
  public KvBlocks allocateSlots(
      long requestId, TokenSequence tokens, int numComputedTokens, int numNewTokens) {
    RequestKv request = requests.get(requestId);
    checkCounts(request, tokens, numComputedTokens, numNewTokens);
    int numNeeded = numBlocksToAllocate(request, numComputedTokens + numNewTokens);
    if (numNeeded > pool.numFreeBlocks()) {
      return KvBlocks.NONE;
    }
    if (request == null) {
      request = new RequestKv(requestId, defaultHasher);
      requests.put(requestId, request);
    }
    cacheComputedBlocks(request, tokens, numComputedTokens);
    if (numNeeded > 0) {
      pool.allocate(numNeeded, request.blocks.ids());
    }
    return request.blocks;
  }

  /** How many blocks {@link #allocateSlots} would take from the pool for these counts. */
  public int numBlocksToAllocate(long requestId, int numComputedTokens, int numNewTokens) {
    return numBlocksToAllocate(requests.get(requestId), numComputedTokens + numNewTokens);
  }

  /**
   * Registers the request's blocks that became full within its first {@code numComputedTokens} tokens (their
   * KV written), so other requests can reuse them. Returns how many blocks got a hash in the pool.
   */
  public int cacheFullBlocks(long requestId, TokenSequence tokens, int numComputedTokens) {
    RequestKv request = requests.get(requestId);
    if (request == null) {
      throw new IllegalStateException("request " + requestId + " holds no blocks");
    }
    checkCounts(request, tokens, numComputedTokens, 0);
    return cacheComputedBlocks(request, tokens, numComputedTokens);
  }

  /** Releases the request's blocks (finish, cancel, preemption); returns false if it held none. */
  public boolean free(long requestId) {
    RequestKv request = requests.remove(requestId);
    if (request == null) {
      return false;
    }
    pool.release(request.blocks.ids());
    request.blocks.ids().clear();
    return true;
  }

  /**
   * Frees every request and empties the prefix cache ({@code AllCleared}); all block tables handed out become
   * empty, so the caller treats every running request as preempted.
   */
  public void reset() {
    for (RequestKv request : requests.values()) {
      pool.release(request.blocks.ids());
      request.blocks.ids().clear();
    }
    requests.clear();
    pool.reset();
  }

  /** The request's block table, or {@link KvBlocks#NONE} if it holds no blocks. */
  public KvBlocks blocks(long requestId) {
    RequestKv request = requests.get(requestId);
    return request == null ? KvBlocks.NONE : request.blocks;
  }

  /** Whether {@code requestId} holds blocks (was admitted or allocated, and not freed since). */
  public boolean hasRequest(long requestId) {
    return requests.containsKey(requestId);
  }

  public int numRequests() {
    return requests.size();
  }

  public BlockPool pool() {
    return pool;
  }

  public int blockSizeTokens() {
    return blockSizeTokens;
  }

  /** Blocks needed to hold {@code numTokens} tokens. */
  public int blocksForTokens(int numTokens) {
    return (numTokens + blockSizeTokens - 1) / blockSizeTokens;
  }

  public KvCacheStats stats() {
    return new KvCacheStats(pool.numBlocks(), pool.numFreeBlocks(), pool.numUsedBlocks(),
        pool.numCachedBlocks(), pool.numEvictableBlocks(), requests.size(),
        prefixQueries, prefixQueryTokens, prefixHitTokens);
  }

  private int cacheComputedBlocks(RequestKv request, TokenSequence tokens, int numComputedTokens) {
    int numFull = numComputedTokens / blockSizeTokens;
    if (numFull <= request.numCachedBlocks) {
      return 0;
    }
    request.hashUpTo(tokens, numFull);
    int stored = pool.cacheBlocks(request.blocks.ids(), request.blockHashes, request.numCachedBlocks, numFull,
        request.hasher.rootHash());
    request.numCachedBlocks = numFull;
    return stored;
  }

  private int numBlocksToAllocate(RequestKv request, int numTokens) {
    int numHeld = request == null ? 0 : request.blocks.numBlocks();
    return Math.max(0, blocksForTokens(numTokens) - numHeld);
  }

  /** Full blocks a prefix hit may cover: never the last token, which must be computed for its logits. */
  private int maxCachedBlocks(int numTokens) {
    return numTokens <= 1 ? 0 : (numTokens - 1) / blockSizeTokens;
  }

  private void recordQuery(int queryTokens, int hitTokens) {
    prefixQueries++;
    prefixQueryTokens += queryTokens;
    prefixHitTokens += hitTokens;
  }

  private void checkCounts(RequestKv request, TokenSequence tokens, int numComputedTokens, int numNewTokens) {
    if (numComputedTokens < 0 || numNewTokens < 0
        || (long) numComputedTokens + numNewTokens > tokens.numTokens()) {
      throw new IllegalArgumentException("need 0 <= numComputedTokens (" + numComputedTokens
          + ") + numNewTokens (" + numNewTokens + ") <= numTokens (" + tokens.numTokens() + ")");
    }
    int numHeld = request == null ? 0 : request.blocks.numBlocks();
    int numCached = request == null ? 0 : request.numCachedBlocks;
    if (numComputedTokens > numHeld * blockSizeTokens || numComputedTokens < numCached * blockSizeTokens) {
      throw new IllegalArgumentException("numComputedTokens " + numComputedTokens + " must lie within the "
          + numHeld + " held blocks and cover the " + numCached + " cached ones");
    }
  }

  private void checkHasher(BlockHasher hasher) {
    if (hasher.blockSizeTokens() != blockSizeTokens) {
      throw new IllegalArgumentException("hasher block size " + hasher.blockSizeTokens()
          + " differs from the pool's " + blockSizeTokens);
    }
  }
}
