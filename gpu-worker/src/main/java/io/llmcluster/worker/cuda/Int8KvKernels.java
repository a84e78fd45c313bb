package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuCtxGetDevice;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor;

import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction_attribute;

/**
 * The kernels of an INT8 KV cache ({@link KvCacheLayout}, docs/gpu.md "INT8 KV cache"): the quantizing RoPE + KV
 * write ({@code rope_kv_write_i8_*}) and the {@code _kv8} variants of the tensor-core prefill and decode attention,
 * which stage the bytes with cp.async and dequantize them into the shared tiles the unchanged mma code reads. The
 * decode kernel writes the same split partials as the 16-bit one, merged by the same reduce. Only shapes the
 * tensor-core kernels serve ({@link #supports}) have an INT8 path; the CUDA-core fallbacks read 16-bit caches only.
 *
 * <p>Decode variants ({@link #DECODE_STAGES}): byte stages of the cp.async pipeline. With 2 (the default, measured on
 * the H200) a CTA has one 64-key byte tile in flight while it computes, half the bytes of the 16-bit kernel's, and
 * decode attention at 32k took 1.31x the FP16 kernel's time (docs/gpu.md, INT8 KV cache); 4 keeps three tiles in
 * flight (about the 16-bit kernel's bytes in flight per SM at 2 CTAs per SM instead of 3). The split cap follows the
 * chosen variant's occupancy.
 */
final class Int8KvKernels {
    private static final int[] CLASSES = {32, 64, 128};
    /** Bytes of one staged byte tile pair (K and V, {@code keys} rows of the class width) plus their FP32 scales. */
    private static int stageBytes(int keys, int headDimClass) {
        return 2 * keys * headDimClass + 2 * keys * 4;
    }

    private final CudaContext ctx;
    private final KernelCall rope;
    private final KernelCall[][] prefill = new KernelCall[AttentionKernels.PREFILL_VARIANTS.length][CLASSES.length];
    /** Byte stages of the decode variants (decode_attention_mma_*_kv8_* and *_kv8s4_*). */
    static final int[] DECODE_STAGES = {2, 4};
    /** [variant][head-dim class]. */
    private final KernelCall[][] decode = new KernelCall[DECODE_STAGES.length][CLASSES.length];
    private final KernelCall reduce;
    private final int sms;
    private int decodeVariant;

    Int8KvKernels(CudaContext ctx, CudaDtype dtype) {
        this.ctx = ctx;
        String s = "_" + dtype.suffix();
        rope = new KernelCall(ctx, "rope_kv_write_i8" + s, "pppppippppppp" + "iiii");
        for (int c = 0; c < CLASSES.length; c++) {
            int d = CLASSES[c];
            for (int v = 0; v < prefill.length; v++) {
                prefill[v][c] = withSharedMemory(ctx, "prefill_attention_mma" + s + "_kv8_d" + d + "_v" + v,
                        "ppppppppp" + "iiiiiif", prefillSharedBytes(v, d));
            }
            for (int v = 0; v < DECODE_STAGES.length; v++) {
                String name = "decode_attention_mma" + s + (DECODE_STAGES[v] == 2 ? "_kv8" : "_kv8s" + DECODE_STAGES[v]) + "_d" + d;
                decode[v][c] = withSharedMemory(ctx, name, "pppppppppp" + "iiiiiif", decodeSharedBytes(d, DECODE_STAGES[v]));
            }
        }
        reduce = new KernelCall(ctx, "decode_attention_reduce" + s, "ppppiii");
        CUdevice device = new CUdevice();
        Cuda.check(cuCtxGetDevice(device), "cuCtxGetDevice");
        int[] count = new int[1];
        Cuda.check(cuDeviceGetAttribute(count, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                "cuDeviceGetAttribute(multiprocessors)");
        sms = count[0];
    }

    /** Picks the decode variant by its byte stages ({@link #DECODE_STAGES}); the backend re-plans its splits after. */
    void setDecodeStages(int stages) {
        for (int v = 0; v < DECODE_STAGES.length; v++) {
            if (DECODE_STAGES[v] == stages) {
                decodeVariant = v;
                return;
            }
        }
        throw new IllegalArgumentException("INT8 KV decode has no variant with " + stages + " byte stages");
    }

    int decodeStages() {
        return DECODE_STAGES[decodeVariant];
    }

    /**
     * {@link AttentionKernels#maxDecodeSplits} for the chosen INT8 decode variant: one full wave of its resident CTAs
     * at batch 1, at most {@code cap}.
     */
    int maxDecodeSplits(int numHeads, int numKvHeads, int headDim, int cap) {
        if (!AttentionKernels.decodeTensorCores(numHeads, numKvHeads, headDim)) {
            return cap;
        }
        int c = headDimClass(headDim);
        int[] perSm = new int[1];
        Cuda.check(cuOccupancyMaxActiveBlocksPerMultiprocessor(perSm, decode[decodeVariant][c].function(), 128,
                decodeSharedBytes(CLASSES[c], decodeStages())), "cuOccupancyMaxActiveBlocksPerMultiprocessor(kv8 decode)");
        return Math.max(1, Math.min(cap, Math.max(1, perSm[0]) * sms / numKvHeads));
    }

    /** Shapes with an INT8 KV path: the tensor-core attention's head dims (decode groups > 16 go through prefill). */
    static boolean supports(int headDim) {
        return AttentionKernels.prefillTensorCores(headDim);
    }

    /** Why an INT8 KV cache cannot serve this shape (for the error), or null when it can. */
    static String refusal(int headDim) {
        return supports(headDim) ? null : "--kv-cache-dtype int8 needs the tensor-core attention kernels (head_dim % 8 == 0 "
                + "and head_dim <= " + AttentionKernels.MMA_MAX_HEAD_DIM + "); this model has head_dim " + headDim
                + ", which only the CUDA-core kernels (16-bit KV) serve: use --kv-cache-dtype auto";
    }

    private static KernelCall withSharedMemory(CudaContext ctx, String name, String signature, int bytes) {
        KernelCall k = new KernelCall(ctx, name, signature);
        if (bytes > 48 * 1024) {
            Cuda.check(cuFuncSetAttribute(k.function(), CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    bytes), "cuFuncSetAttribute(" + name + ", dynamic shared memory " + bytes + ")");
        }
        Cuda.check(cuFuncSetAttribute(k.function(), CUfunction_attribute.CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT,
                100), "cuFuncSetAttribute(" + name + ", shared memory carveout 100%)");
        return k;
    }

    /** q tile (128 rows), one K and one V tile in T, two byte stages (prefill_attention_mma.cu, Cfg::kBytes8). */
    static int prefillSharedBytes(int variant, int headDimClass) {
        int keys = AttentionKernels.PREFILL_VARIANTS[variant][1];
        return (AttentionKernels.MMA_PREFILL_ROWS + 2 * keys) * (headDimClass + 8) * 2 + 2 * stageBytes(keys, headDimClass);
    }

    /** q tile (16 rows), one K and one V tile of 64 keys in T, {@code stages} byte stages (decode_attention_mma.cu, kBytes8). */
    static int decodeSharedBytes(int headDimClass, int stages) {
        int keys = AttentionKernels.DECODE_KEYS_PER_TILE;
        return (16 + 2 * keys) * (headDimClass + 8) * 2 + stages * stageBytes(keys, headDimClass);
    }

    private static int headDimClass(int headDim) {
        for (int c = 0; c < CLASSES.length; c++) {
            if (headDim <= CLASSES[c]) {
                return c;
            }
        }
        throw new IllegalArgumentException(refusal(headDim));
    }

    /**
     * {@link CudaKernels#ropeKvWrite} for an INT8 cache: q out in T as before; k and v quantized per (slot, kv head)
     * into {@code kCache}/{@code vCache} (bytes) and {@code kScale}/{@code vScale} (FP32).
     */
    void ropeKvWrite(long qkv, long bias, long positions, long seqOfToken, long blockTables, int tableStride, long cos,
            long sin, long qOut, long kCache, long vCache, long kScale, long vScale, int tokens, int numHeads,
            int numKvHeads, int headDim, int blockSize) {
        rope.p(0, qkv).p(1, bias).p(2, positions).p(3, seqOfToken).p(4, blockTables).i(5, tableStride).p(6, cos)
                .p(7, sin).p(8, qOut).p(9, kCache).p(10, vCache).p(11, kScale).p(12, vScale).i(13, numHeads)
                .i(14, numKvHeads).i(15, headDim).i(16, blockSize).launch(ctx, tokens, 1, 1, 128, 0);
    }

    /** {@link AttentionKernels#prefill} (tensor-core kernel, variant {@code variant}) over an INT8 cache. */
    void prefill(long q, long kCache, long vCache, long kScale, long vScale, long out, long tiles, int numTiles,
            long positions, long blockTables, int tableStride, int numHeads, int numKvHeads, int headDim, int blockSize,
            int variant) {
        int c = headDimClass(headDim);
        int group = numHeads / numKvHeads;
        int headsPerCta = Math.min(group, AttentionKernels.MMA_PREFILL_ROWS);
        int chunks = (group + headsPerCta - 1) / headsPerCta;
        prefill[variant][c].p(0, q).p(1, kCache).p(2, vCache).p(3, kScale).p(4, vScale).p(5, out).p(6, tiles)
                .p(7, positions).p(8, blockTables).i(9, tableStride).i(10, numHeads).i(11, numKvHeads).i(12, headDim)
                .i(13, blockSize).i(14, headsPerCta).f(15, CudaKernels.scaleLog2(headDim))
                .launch(ctx, numTiles * numKvHeads * chunks, 1, 1, 32 * AttentionKernels.PREFILL_VARIANTS[variant][0],
                        prefillSharedBytes(variant, CLASSES[c]));
    }

    /** {@link AttentionKernels#decode} (tensor-core kernel, then the split merge) over an INT8 cache. */
    void decode(long q, long kCache, long vCache, long kScale, long vScale, long partO, long partMl, long out, long decodes,
            int numDecodes, long positions, long blockTables, int tableStride, int numHeads, int numKvHeads, int headDim,
            int blockSize, int chunk, int splits) {
        if (!AttentionKernels.decodeTensorCores(numHeads, numKvHeads, headDim)) {
            throw new IllegalArgumentException("INT8 KV decode needs group <= " + AttentionKernels.MMA_DECODE_MAX_GROUP
                    + " (larger groups decode through the prefill kernel)");
        }
        int c = headDimClass(headDim);
        decode[decodeVariant][c].p(0, q).p(1, kCache).p(2, vCache).p(3, kScale).p(4, vScale).p(5, partO).p(6, partMl).p(7, decodes)
                .p(8, positions).p(9, blockTables).i(10, tableStride).i(11, numHeads).i(12, numKvHeads).i(13, headDim)
                .i(14, blockSize).i(15, chunk).f(16, CudaKernels.scaleLog2(headDim))
                .launch(ctx, numDecodes, numKvHeads, splits, 128, decodeSharedBytes(CLASSES[c], decodeStages()));
        reduce.p(0, partO).p(1, partMl).p(2, decodes).p(3, out).i(4, numHeads).i(5, headDim).i(6, splits)
                .launch(ctx, numDecodes, numHeads, 1, Math.min(256, Math.max(32, (headDim + 31) / 32 * 32)), 0);
    }
}
