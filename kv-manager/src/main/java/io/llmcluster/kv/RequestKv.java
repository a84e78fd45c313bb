package io.llmcluster.kv;

import org.agrona.collections.LongArrayList;

/**
 * What the {@link KvCacheManager} keeps per request: its block table, the chain hashes of its full blocks
 * computed so far, the hasher of its model/adapter, and how many leading blocks are already registered in the
 * prefix cache (found there, or registered by this request, or skipped as a duplicate of another block).
 */
final class RequestKv {
  final long requestId;
  final BlockHasher hasher;
  final KvBlocks blocks = new KvBlocks(8);
  /** {@code h_0 .. h_{k-1}} for the first {@code k} full blocks; may run one past the cached ones. */
  final LongArrayList blockHashes = new LongArrayList();
  int numCachedBlocks;

  RequestKv(long requestId, BlockHasher hasher) {
    this.requestId = requestId;
    this.hasher = hasher;
  }

  /** The parent of block {@code index}'s hash: the root for block 0. */
  long parentHashOf(int index) {
    return index == 0 ? hasher.rootHash() : blockHashes.getLong(index - 1);
  }

  /** Extends {@link #blockHashes} to the first {@code numFullBlocks} blocks of {@code tokens}. */
  void hashUpTo(TokenSequence tokens, int numFullBlocks) {
    for (int i = blockHashes.size(); i < numFullBlocks; i++) {
      blockHashes.addLong(hasher.hashBlock(parentHashOf(i), tokens, i));
    }
  }
}
