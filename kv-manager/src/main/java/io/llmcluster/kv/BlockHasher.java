package io.llmcluster.kv;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import org.agrona.collections.LongArrayList;

/**
 * The canonical, versioned chained hash that names a full KV block, used alike by the pool, the KV events and
 * the cluster directory.
 *
 * <p>Scheme version {@value #SCHEME_VERSION}; all integers little-endian, strings as {@code LE32(UTF-8 length)
 * || UTF-8 bytes}, {@code XXH64(seed, bytes)} the reference 64-bit xxHash:
 * <pre>
 *   root = XXH64(0, LE32(SCHEME_VERSION) || str("llmcluster.kv.block-hash") || str(modelId)
 *                  || str(adapterId) || str(kvDtype) || LE32(blockSizeTokens))
 *   h_0  = XXH64(root, LE64(root) || LE32(t_0) || ... || LE32(t_{B-1}))
 *   h_i  = XXH64(root, LE64(h_{i-1}) || LE32(t_{iB}) || ... || LE32(t_{iB+B-1}))
 * </pre>
 * where {@code B} is the block size in tokens and {@code t} the token ids. The root depends on the version and
 * the {@link HashExtra}, and seeds every block hash, so {@code h_i = H(h_{i-1}, tokens of block i, extra)}: a
 * block's hash names its whole prefix, and any change of model, adapter, dtype, block size or scheme version
 * gives a disjoint set of hashes. Only full blocks are hashed. Changing anything here must bump
 * {@link #SCHEME_VERSION} (tests pin exact values). 64 bits keep a collision between distinct prefixes at
 * about {@code n^2 / 2^65} for {@code n} cached blocks: negligible at cluster scale.
 *
 * <p>Immutable and thread-safe; hashing allocates nothing.
 */
public final class BlockHasher {
  /** Version of the scheme above, folded into every root. */
  public static final int SCHEME_VERSION = 1;
  private static final String DOMAIN = "llmcluster.kv.block-hash";

  private final HashExtra extra;
  private final int blockSizeTokens;
  private final long rootHash;

  public BlockHasher(HashExtra extra, int blockSizeTokens) {
    this.extra = Objects.requireNonNull(extra, "extra");
    if (blockSizeTokens <= 0) {
      throw new IllegalArgumentException("blockSizeTokens must be positive: " + blockSizeTokens);
    }
    this.blockSizeTokens = blockSizeTokens;
    this.rootHash = Xxh64.hash(rootBytes(extra, blockSizeTokens), 0L);
  }

  public HashExtra extra() {
    return extra;
  }

  public int blockSizeTokens() {
    return blockSizeTokens;
  }

  /** The parent hash of block 0: fixed by the scheme version, the extra and the block size. */
  public long rootHash() {
    return rootHash;
  }

  /** {@code h_i} of block {@code blockIndex} of {@code tokens}, which must hold that whole block. */
  public long hashBlock(long parentHash, TokenSequence tokens, int blockIndex) {
    int start = blockIndex * blockSizeTokens;
    if (blockIndex < 0 || start + blockSizeTokens > tokens.numTokens()) {
      throw new IllegalArgumentException(
          "block " + blockIndex + " is not full in a sequence of " + tokens.numTokens() + " tokens");
    }
    return Xxh64.hashBlock(parentHash, tokens, start, blockSizeTokens, rootHash);
  }

  /** Appends {@code h_0 .. h_{numBlocks-1}} of {@code tokens} to {@code out} (e.g. for a directory lookup). */
  public void hashChain(TokenSequence tokens, int numBlocks, LongArrayList out) {
    long parent = rootHash;
    for (int i = 0; i < numBlocks; i++) {
      parent = hashBlock(parent, tokens, i);
      out.addLong(parent);
    }
  }

  /**
   * The chain of a prompt's full blocks, {@code h_0 .. h_{n-1}} with {@code n = numTokens / blockSizeTokens}:
   * what the gateway looks up in the cluster's KV directory. Workers name their cached blocks with the same
   * hasher (same {@link HashExtra} and block size), so the two agree; a trailing partial block is not hashed.
   * Appends to {@code out} (reused by the caller: no allocation once it has grown) and returns {@code n}.
   */
  public int hashFullBlocks(TokenSequence tokens, LongArrayList out) {
    int numBlocks = tokens.numTokens() / blockSizeTokens;
    hashChain(tokens, numBlocks, out);
    return numBlocks;
  }

  /** {@link #hashFullBlocks(TokenSequence, LongArrayList)} of {@code promptTokens}, as a new array. */
  public long[] hashFullBlocks(int[] promptTokens) {
    LongArrayList out = new LongArrayList(promptTokens.length / blockSizeTokens + 1, Long.MIN_VALUE);
    hashFullBlocks(TokenSequence.of(promptTokens), out);
    return out.toLongArray();
  }

  private static byte[] rootBytes(HashExtra extra, int blockSizeTokens) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writeInt(out, SCHEME_VERSION);
    writeString(out, DOMAIN);
    writeString(out, extra.modelId());
    writeString(out, extra.adapterId());
    writeString(out, extra.kvDtype());
    writeInt(out, blockSizeTokens);
    return out.toByteArray();
  }

  private static void writeString(ByteArrayOutputStream out, String value) {
    byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
    writeInt(out, utf8.length);
    out.writeBytes(utf8);
  }

  private static void writeInt(ByteArrayOutputStream out, int value) {
    for (int shift = 0; shift < 32; shift += 8) {
      out.write(value >>> shift);
    }
  }

  @Override
  public String toString() {
    return "BlockHasher[v" + SCHEME_VERSION + ", " + extra + ", blockSizeTokens=" + blockSizeTokens
        + ", root=" + Long.toHexString(rootHash) + "]";
  }
}
