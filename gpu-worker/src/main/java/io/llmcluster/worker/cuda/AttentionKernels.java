package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;

import jcuda.driver.CUfunction_attribute;

/**
 * Which attention kernel serves a model's shape, and their launches. The tensor-core kernels
 * (prefill_attention_mma.cu, decode_attention_mma.cu: mma.sync, cp.async double buffering) serve head dims up to
 * {@value #MMA_MAX_HEAD_DIM} with {@code head_dim % 8 == 0} (decode: GQA groups up to {@value #MMA_DECODE_MAX_GROUP});
 * other shapes fall back to the CUDA-core kernels of {@link CudaKernels} (head dims up to 256). Both prefill
 * kernels take the same tile list; only the tokens per tile differ, so {@link StepInputs} is built with
 * {@link #prefillTokensPerTile}. Both decode kernels write the same split partials, merged by one reduce.
 */
public final class AttentionKernels {
    /** Largest head dimension of the tensor-core kernels (register tiles of 128 columns). */
    public static final int MMA_MAX_HEAD_DIM = 128;
    /** Query heads per kv head that the tensor-core decode kernel packs into its 16 mma rows. */
    public static final int MMA_DECODE_MAX_GROUP = 16;
    /** (token, query head) rows of one tensor-core prefill CTA: 8 warps of 16. */
    public static final int MMA_PREFILL_ROWS = 128;
    private static final int KEYS_PER_TILE = 64;
    private static final int[] CLASSES = {32, 64, 128};

    private final CudaContext ctx;
    private final CudaKernels fallback;
    private final KernelCall[] prefill = new KernelCall[CLASSES.length];
    private final KernelCall[] decode = new KernelCall[CLASSES.length];
    private final KernelCall reduce;

    public AttentionKernels(CudaContext ctx, CudaKernels fallback) {
        this.ctx = ctx;
        this.fallback = fallback;
        String s = "_" + fallback.dtype().suffix();
        for (int c = 0; c < CLASSES.length; c++) {
            int d = CLASSES[c];
            prefill[c] = withSharedMemory(ctx, "prefill_attention_mma" + s + "_d" + d, "pppppppiiiiiif", prefillSharedBytes(d));
            decode[c] = withSharedMemory(ctx, "decode_attention_mma" + s + "_d" + d, "ppppppppiiiiiif", decodeSharedBytes(d));
        }
        reduce = new KernelCall(ctx, "decode_attention_reduce" + s, "ppppiii");
    }

    /** The kernel, allowed {@code bytes} of dynamic shared memory (above 48 KiB needs the opt-in). */
    private static KernelCall withSharedMemory(CudaContext ctx, String name, String signature, int bytes) {
        KernelCall k = new KernelCall(ctx, name, signature);
        if (bytes > 48 * 1024) {
            Cuda.check(cuFuncSetAttribute(k.function(), CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    bytes), "cuFuncSetAttribute(" + name + ", dynamic shared memory " + bytes + ")");
        }
        return k;
    }

    /** Padded shared rows: head-dim class + 8 elements (16 bytes), see attention_mma.cuh. */
    private static int stride(int headDimClass) {
        return headDimClass + 8;
    }

    /** q tile (128 rows) plus two stages of K and V (64 rows each), 16-bit elements. */
    static int prefillSharedBytes(int headDimClass) {
        return (MMA_PREFILL_ROWS + 4 * KEYS_PER_TILE) * stride(headDimClass) * 2;
    }

    /** q tile (16 rows) plus two stages of K and V (64 rows each); the warps' merge reuses the K/V stages. */
    static int decodeSharedBytes(int headDimClass) {
        return (16 + 4 * KEYS_PER_TILE) * stride(headDimClass) * 2;
    }

    private static int headDimClass(int headDim) {
        for (int c = 0; c < CLASSES.length; c++) {
            if (headDim <= CLASSES[c]) {
                return c;
            }
        }
        throw new IllegalArgumentException("head_dim " + headDim + " exceeds the tensor-core attention's " + MMA_MAX_HEAD_DIM);
    }

    /** Whether the tensor-core prefill kernel serves this head dimension. */
    public static boolean prefillTensorCores(int headDim) {
        return headDim % 8 == 0 && headDim <= MMA_MAX_HEAD_DIM;
    }

    /** Tokens per prefill tile: a tile holds at most the kernel's (token, query head) rows. */
    public static int prefillTokensPerTile(int groupSize, int headDim) {
        if (!prefillTensorCores(headDim)) {
            return CudaKernels.prefillTokensPerTile(groupSize);
        }
        return Math.max(1, MMA_PREFILL_ROWS / Math.min(groupSize, MMA_PREFILL_ROWS));
    }

    /** Whether the tensor-core decode kernel serves this shape. */
    public static boolean decodeTensorCores(int numHeads, int numKvHeads, int headDim) {
        return numHeads / numKvHeads <= MMA_DECODE_MAX_GROUP && headDim % 8 == 0 && headDim <= MMA_MAX_HEAD_DIM;
    }

    /** Whether a split-K decode kernel serves this shape (otherwise decode tokens go through the prefill kernel). */
    public static boolean decodeSupports(int numHeads, int numKvHeads, int headDim) {
        return decodeTensorCores(numHeads, numKvHeads, headDim) || CudaKernels.decodeSupports(numHeads, numKvHeads, headDim);
    }

    /** Words for the log: which kernels serve this shape. */
    public static String describe(int numHeads, int numKvHeads, int headDim) {
        String p = prefillTensorCores(headDim) ? "tensor-core flash prefill" : "CUDA-core flash prefill";
        String d = decodeTensorCores(numHeads, numKvHeads, headDim) ? "tensor-core split-K decode"
                : CudaKernels.decodeSupports(numHeads, numKvHeads, headDim) ? "CUDA-core split-K decode" : "decode through prefill";
        return p + " + " + d;
    }

    /**
     * Causal attention for {@code numTiles} query tiles (int4 each: first token, token count, sequence, 0) of at
     * most {@link #prefillTokensPerTile} tokens, every row attending to positions [0, its position] of its sequence
     * through the block table. {@code tensorCores} picks the kernel (tests run both; tiles must match it).
     */
    public void prefill(long q, long kCache, long vCache, long out, long tiles, int numTiles, long positions, long blockTables,
            int tableStride, int numHeads, int numKvHeads, int headDim, int blockSize, boolean tensorCores) {
        if (!tensorCores) {
            fallback.prefillAttention(q, kCache, vCache, out, tiles, numTiles, positions, blockTables, tableStride, numHeads,
                    numKvHeads, headDim, blockSize);
            return;
        }
        if (!prefillTensorCores(headDim)) {
            throw new IllegalArgumentException("tensor-core prefill needs head_dim % 8 == 0 and <= " + MMA_MAX_HEAD_DIM);
        }
        int c = headDimClass(headDim);
        int group = numHeads / numKvHeads;
        int headsPerCta = Math.min(group, MMA_PREFILL_ROWS);
        int chunks = (group + headsPerCta - 1) / headsPerCta;
        prefill[c].p(0, q).p(1, kCache).p(2, vCache).p(3, out).p(4, tiles).p(5, positions).p(6, blockTables)
                .i(7, tableStride).i(8, numHeads).i(9, numKvHeads).i(10, headDim).i(11, blockSize).i(12, headsPerCta)
                .f(13, CudaKernels.scaleLog2(headDim))
                .launch(ctx, numTiles, numKvHeads * chunks, 1, 32 * MMA_PREFILL_ROWS / 16, prefillSharedBytes(CLASSES[c]));
    }

    /** {@link #prefill} with the kernel {@link #prefillTensorCores} picks. */
    public void prefill(long q, long kCache, long vCache, long out, long tiles, int numTiles, long positions, long blockTables,
            int tableStride, int numHeads, int numKvHeads, int headDim, int blockSize) {
        prefill(q, kCache, vCache, out, tiles, numTiles, positions, blockTables, tableStride, numHeads, numKvHeads, headDim,
                blockSize, prefillTensorCores(headDim));
    }

    /**
     * Split-K paged decode attention for {@code numDecodes} tokens (int2 each: token, sequence): {@code splits} CTAs
     * per (token, kv head) over chunks of {@code chunk} positions, partials in {@code partO}
     * [numDecodes][numHeads][splits][headDim] and {@code partMl} [..][2], then the merge into {@code out}.
     */
    public void decode(long q, long kCache, long vCache, long partO, long partMl, long out, long decodes, int numDecodes,
            long positions, long blockTables, int tableStride, int numHeads, int numKvHeads, int headDim, int blockSize,
            int chunk, int splits, boolean tensorCores) {
        if (!tensorCores) {
            fallback.decodeAttention(q, kCache, vCache, partO, partMl, out, decodes, numDecodes, positions, blockTables,
                    tableStride, numHeads, numKvHeads, headDim, blockSize, chunk, splits);
            return;
        }
        if (!decodeTensorCores(numHeads, numKvHeads, headDim)) {
            throw new IllegalArgumentException("tensor-core decode needs group <= " + MMA_DECODE_MAX_GROUP
                    + ", head_dim % 8 == 0 and <= " + MMA_MAX_HEAD_DIM);
        }
        int c = headDimClass(headDim);
        decode[c].p(0, q).p(1, kCache).p(2, vCache).p(3, partO).p(4, partMl).p(5, decodes).p(6, positions)
                .p(7, blockTables).i(8, tableStride).i(9, numHeads).i(10, numKvHeads).i(11, headDim).i(12, blockSize)
                .i(13, chunk).f(14, CudaKernels.scaleLog2(headDim))
                .launch(ctx, numDecodes, numKvHeads, splits, 128, decodeSharedBytes(CLASSES[c]));
        reduce.p(0, partO).p(1, partMl).p(2, decodes).p(3, out).i(4, numHeads).i(5, headDim).i(6, splits)
                .launch(ctx, numDecodes, numHeads, 1, Math.min(256, Math.max(32, (headDim + 31) / 32 * 32)), 0);
    }

    /** {@link #decode} with the kernel {@link #decodeTensorCores} picks. */
    public void decode(long q, long kCache, long vCache, long partO, long partMl, long out, long decodes, int numDecodes,
            long positions, long blockTables, int tableStride, int numHeads, int numKvHeads, int headDim, int blockSize,
            int chunk, int splits) {
        decode(q, kCache, vCache, partO, partMl, out, decodes, numDecodes, positions, blockTables, tableStride, numHeads,
                numKvHeads, headDim, blockSize, chunk, splits, decodeTensorCores(numHeads, numKvHeads, headDim));
    }
}
