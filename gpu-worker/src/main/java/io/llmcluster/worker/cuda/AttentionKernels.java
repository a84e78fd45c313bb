package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuCtxGetDevice;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemsetD32;
import static jcuda.driver.JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor;

import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction_attribute;

/**
 * Which attention kernel serves a model's shape, and their launches. The tensor-core kernels
 * (prefill_attention_mma.cu, decode_attention_mma.cu: mma.sync, cp.async double buffering) serve head dims up to
 * {@value #MMA_MAX_HEAD_DIM} with {@code head_dim % 8 == 0} (decode: GQA groups up to {@value #MMA_DECODE_MAX_GROUP});
 * other shapes fall back to the CUDA-core kernels of {@link CudaKernels} (head dims up to 256). Both prefill
 * kernels take the same tile list; only the tokens per tile differ, so {@link StepInputs} is built with
 * {@link #prefillTokensPerTile}. Both decode kernels write the same split partials, merged by one reduce.
 * On compute capability 9.0 prefill at head dim 128 runs the Hopper kernel (prefill_attention_wgmma.cu: wgmma,
 * a producer warpgroup gathering K/V through the block table into an mbarrier pipeline, FlashAttention-3 style) on
 * the same tile list; {@link #setPrefillVariant} picks any variant for benchmarks and tests.
 */
public final class AttentionKernels implements AutoCloseable {
    /** Largest head dimension of the tensor-core kernels (register tiles of 128 columns). */
    public static final int MMA_MAX_HEAD_DIM = 128;
    /** Query heads per kv head that the tensor-core decode kernel packs into its 16 mma rows. */
    public static final int MMA_DECODE_MAX_GROUP = 16;
    /** (token, query head) rows of one tensor-core prefill CTA, in every variant. */
    public static final int MMA_PREFILL_ROWS = 128;
    /** Keys per tile of the tensor-core decode kernel (4 warps of 16): split chunks are best multiples of it. */
    public static final int DECODE_KEYS_PER_TILE = 64;
    /**
     * The prefill kernel's variants (prefill_attention_mma.cu, suffix _vN): {warps, keys per K/V tile}; warps x
     * 16-row mma tiles per warp = 128 rows. v0: 8 warps x 1 tile, v1: 4 x 2, v2: 4 x 2 with 32-key tiles, v3: v0 held
     * to 128 registers (two CTAs per SM). On the H200 v1-v3 take 0.154-0.158 ms for 2048 causal tokens at the 8B
     * shape, v0 0.244 ms (docs/benchmarks.md); v2 is used: as fast within 3%, no register spills.
     */
    static final int[][] PREFILL_VARIANTS = {{8, 64}, {4, 64}, {4, 32}, {8, 64}};
    /** The variant used unless a benchmark or test picks another (on Hopper: {@link #HOPPER_PREFILL_VARIANT}). */
    static final int DEFAULT_PREFILL_VARIANT = 2;
    /**
     * The Hopper kernel's variants (prefill_attention_wgmma.cu; variant number {@code PREFILL_VARIANTS.length + w}):
     * {entry point _wN, persistent (1: one CTA per SM, each taking the next item from a global counter until none
     * is left) or one CTA per item (0)}. Entries: w0 64-key score tiles with ping-pong of the two consumer
     * warpgroups, w1 64-key without, w2 128-key with ping-pong, w3 128-key without; w4-w9 are w2 with the
     * producer's block-table entries loaded 8 at a time (w4), with the scheduling fence that keeps the wait for P V
     * after the softmax (w5), both (w6), w6 without ping-pong (w7), the fence with the entries loaded one tile ahead
     * by the producer warp's lanes and shuffled (w8), w8 without ping-pong (w9), the producer with a row per thread
     * pair (2 table entries and row addresses per thread and tile instead of 16, the entries one tile ahead) with
     * ping-pong (w10) and without (w11), that producer with a conflict-free chunk order plus the fence (w12) and
     * without the fence (w13; w12/w13 not yet timed on the device); persistent only (v12-v21). All have a 3-stage
     * ring of 128-key K/V tiles. Head dim 128 only, compute capability 9.0 only (wgmma is sm_90a); other shapes and
     * GPUs use {@link #DEFAULT_PREFILL_VARIANT}. A 2-stage ring measured 13% slower than 3 stages
     * (docs/benchmarks.md) and was dropped.
     */
    static final int[][] WGMMA_VARIANTS = {{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 0}, {3, 0}, {2, 1}, {3, 1},
        {4, 1}, {5, 1}, {6, 1}, {7, 1}, {8, 1}, {9, 1}, {10, 1}, {11, 1},
        {12, 1}, {13, 1}};
    /** Entry points of prefill_attention_wgmma.cu (_w0 .. _w13). */
    private static final int WGMMA_ENTRIES = 14;
    /** Item slots of the kernel's dynamic schedule (prefill_attention_wgmma.cu kItemSlots). */
    private static final int WGMMA_ITEM_SLOTS = 4;
    /** K/V pipeline stages of every entry point (prefill_attention_wgmma.cu). */
    private static final int WGMMA_STAGES = 3;
    /**
     * The variant used on compute capability 9.0 for head dim 128: v12 = entry w4 (128-key score tiles, ping-pong,
     * block-table entries loaded 8 at a time), persistent with the item counter. Measured on the H200 against v10
     * (entry w2, the default before) in one call (docs/benchmarks.md, feat/fa3c): 1 x 2048 tokens 0.0987 ms (0.1090),
     * 8 x 2048 0.729 ms (0.818), mixed-length and varlen batches 11-12% faster.
     */
    static final int HOPPER_PREFILL_VARIANT = PREFILL_VARIANTS.length + 8;
    /** Threads of the Hopper kernel: a producer warpgroup and two consumer warpgroups. */
    private static final int WGMMA_THREADS = 384;
    private static final int[] CLASSES = {32, 64, 128};

    private final CudaContext ctx;
    private final CudaKernels fallback;
    /** [variant][head-dim class]. */
    private final KernelCall[][] prefill = new KernelCall[PREFILL_VARIANTS.length][CLASSES.length];
    private final KernelCall[] decode = new KernelCall[CLASSES.length];
    /**
     * decode_attention_items.cu per K/V ring depth (index: stages - 2) and head-dim class: several decode tokens per CTA,
     * direct output at one split.
     */
    private final KernelCall[][] decodeItems = new KernelCall[2][CLASSES.length];
    /**
     * decode_attention_warp.cu per variant ({@link #DECODE_WARP_VARIANTS}) and head-dim class: one warp per (decode token,
     * kv head), its own K/V ring, no merge.
     */
    private final KernelCall[][] decodeWarp = new KernelCall[DECODE_WARP_VARIANTS.length][CLASSES.length];
    /** Resident warps of {@link #decodeWarp} on the whole GPU per variant and head-dim class. */
    private final int[][] decodeWarpSlots = new int[DECODE_WARP_VARIANTS.length][CLASSES.length];
    /** {@link #DECODE_WARP_AUTO}, {@link #DECODE_WARP_OFF} or a variant index. */
    private int decodeWarpVariant = DECODE_WARP_AUTO;
    /** Resident CTAs of {@link #decodeItems} on the whole GPU, per ring depth x head-dim class x GQA group (0: not asked yet). */
    private final int[][][] decodeItemsSlots = new int[2][CLASSES.length][MMA_DECODE_MAX_GROUP + 1];
    /** K/V stages of the items kernel (2: one tile in flight while one computes, 3: two). */
    private int decodeItemStages = DEFAULT_DECODE_ITEM_STAGES;
    /** Decode tokens per CTA: {@link #DECODE_ITEMS_AUTO}, {@link #DECODE_ITEMS_OLD} or a fixed 1..{@value #DECODE_MAX_ITEMS}. */
    private int decodeItemsPerCta = DECODE_ITEMS_AUTO;
    private int sms;
    private final KernelCall reduce;
    /** The Hopper prefill kernel's variants, or null off compute capability 9.0. */
    private final KernelCall[] wgmma;
    /**
     * Two ints of device memory for the persistent Hopper variants' dynamic schedule (the next item, the CTAs done);
     * zero between launches (the kernel's last CTA resets them). Null off compute capability 9.0.
     */
    private final DeviceAddress itemCounter;
    /** CTAs of a persistent Hopper launch: one per SM (its shared memory and 384 threads fill one). */
    private int persistentCtas;
    /** CTAs of the tensor-core decode kernel resident on the whole GPU at once, per head-dim class. */
    private final int[] decodeSlots = new int[CLASSES.length];
    private int prefillVariant;

    public AttentionKernels(CudaContext ctx, CudaKernels fallback) {
        this.ctx = ctx;
        this.fallback = fallback;
        String s = "_" + fallback.dtype().suffix();
        CUdevice device = new CUdevice();
        Cuda.check(cuCtxGetDevice(device), "cuCtxGetDevice");
        int[] sms = new int[1];
        Cuda.check(cuDeviceGetAttribute(sms, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                "cuDeviceGetAttribute(multiprocessors)");
        for (int c = 0; c < CLASSES.length; c++) {
            int d = CLASSES[c];
            for (int v = 0; v < PREFILL_VARIANTS.length; v++) {
                prefill[v][c] = withSharedMemory(ctx, "prefill_attention_mma" + s + "_d" + d + "_v" + v, "pppppppiiiiiif",
                        prefillSharedBytes(v, d));
            }
            decode[c] = withSharedMemory(ctx, "decode_attention_mma" + s + "_d" + d, "ppppppppiiiiiif", decodeSharedBytes(d));
            int[] perSm = new int[1];
            Cuda.check(cuOccupancyMaxActiveBlocksPerMultiprocessor(perSm, decode[c].function(), 128, decodeSharedBytes(d)),
                    "cuOccupancyMaxActiveBlocksPerMultiprocessor(decode_attention_mma d" + d + ")");
            decodeSlots[c] = Math.max(1, perSm[0]) * sms[0];
        }
        this.sms = sms[0];
        for (int st = 2; st <= 3; st++) {
            for (int c = 0; c < CLASSES.length; c++) {
                decodeItems[st - 2][c] = withSharedMemory(ctx, "decode_attention_mma_items" + (st == 2 ? "" : "3") + s + "_d"
                        + CLASSES[c], "pppppppppiiiiiiiif", decodeItemsSharedBytes(CLASSES[c], MMA_DECODE_MAX_GROUP, st));
            }
        }
        for (int v = 0; v < DECODE_WARP_VARIANTS.length; v++) {
            for (int c = 0; c < CLASSES.length; c++) {
                int bytes = decodeWarpSharedBytes(v, CLASSES[c]);
                int threads = 32 * DECODE_WARP_VARIANTS[v][0];
                decodeWarp[v][c] = withSharedMemory(ctx, "decode_attention_warp" + DECODE_WARP_NAMES[v] + s + "_d" + CLASSES[c],
                        "pppppppppiiiiiiif", bytes);
                int[] perSm = new int[1];
                Cuda.check(cuOccupancyMaxActiveBlocksPerMultiprocessor(perSm, decodeWarp[v][c].function(), threads, bytes),
                        "cuOccupancyMaxActiveBlocksPerMultiprocessor(decode_attention_warp)");
                decodeWarpSlots[v][c] = Math.max(1, perSm[0]) * sms[0] * DECODE_WARP_VARIANTS[v][0];
            }
        }
        reduce = new KernelCall(ctx, "decode_attention_reduce" + s, "ppppiii");
        wgmma = hopper(device) ? new KernelCall[WGMMA_ENTRIES] : null;
        for (int e = 0; wgmma != null && e < wgmma.length; e++) {
            wgmma[e] = withSharedMemory(ctx, "prefill_attention_wgmma" + s + "_d128_w" + e, "pppppppiiiiiifp", wgmmaSharedBytes());
        }
        itemCounter = wgmma != null ? zeroedInts(2) : null;
        persistentCtas = sms[0];
        prefillVariant = wgmma != null ? HOPPER_PREFILL_VARIANT : DEFAULT_PREFILL_VARIANT;
    }

    private static DeviceAddress zeroedInts(int count) {
        DeviceAddress p = new DeviceAddress();
        Cuda.check(cuMemAlloc(p, 4L * count), "cuMemAlloc(prefill item counter)");
        Cuda.check(cuMemsetD32(p, 0, count), "cuMemsetD32(prefill item counter)");
        return p;
    }

    /** Frees the item counter (the kernels themselves belong to the context's module). */
    @Override
    public void close() {
        if (itemCounter != null) {
            cuMemFree(itemCounter);
        }
    }

    /** Whether Hopper variant {@code v} is a persistent one (a grid of {@code persistentCtas}, items from the counter). */
    static boolean wgmmaPersistent(int v) {
        return WGMMA_VARIANTS[v - PREFILL_VARIANTS.length][1] == 1;
    }

    /** Keys per score tile of Hopper variant {@code v} (64 for entries w0/w1, 128 for w2/w3). */
    static int wgmmaScoreKeys(int v) {
        return WGMMA_VARIANTS[v - PREFILL_VARIANTS.length][0] < 2 ? 64 : 128;
    }

    /**
     * CTAs of a launch of Hopper variant {@code v} over {@code items} work items: one per item, or for a persistent
     * variant at most {@code persistentCtas} (more CTAs than items would only find the counter exhausted).
     */
    static int wgmmaGrid(int v, int items, int persistentCtas) {
        return wgmmaPersistent(v) ? Math.min(items, persistentCtas) : items;
    }

    /** CTAs of a persistent Hopper launch (tests shrink it so that every CTA walks many items). */
    void setPersistentCtas(int ctas) {
        if (ctas < 1) {
            throw new IllegalArgumentException("persistent CTAs " + ctas);
        }
        persistentCtas = ctas;
    }

    /** Compute capability 9.0 exactly: the fatbin's wgmma code is sm_90a SASS, which no other GPU runs. */
    private static boolean hopper(CUdevice device) {
        int[] major = new int[1];
        int[] minor = new int[1];
        Cuda.check(cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
                "cuDeviceGetAttribute(compute capability major)");
        Cuda.check(cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
                "cuDeviceGetAttribute(compute capability minor)");
        return major[0] == 9 && minor[0] == 0;
    }

    /** Prefill variants this GPU has: the mma.sync ones, then (compute capability 9.0) the wgmma ones. */
    int prefillVariantCount() {
        return PREFILL_VARIANTS.length + (wgmma != null ? WGMMA_VARIANTS.length : 0);
    }

    /** Whether variant {@code v} runs the wgmma kernel for this head dimension (otherwise it falls back). */
    boolean wgmmaServes(int v, int headDim) {
        return v >= PREFILL_VARIANTS.length && wgmma != null && headDim == MMA_MAX_HEAD_DIM;
    }

    /** Picks the prefill kernel's variant (benchmarks and tests; see {@link #PREFILL_VARIANTS}). */
    void setPrefillVariant(int v) {
        if (v < 0 || v >= prefillVariantCount()) {
            throw new IllegalArgumentException("prefill variant " + v + " of " + prefillVariantCount());
        }
        prefillVariant = v;
    }

    int prefillVariant() {
        return prefillVariant;
    }

    /**
     * The mma.sync variant for kernels that have no wgmma version (the INT8 KV prefill): the chosen variant when it is
     * one, else {@link #DEFAULT_PREFILL_VARIANT}.
     */
    int mmaPrefillVariant() {
        return mmaVariantOf(prefillVariant);
    }

    static int mmaVariantOf(int variant) {
        return variant < PREFILL_VARIANTS.length ? variant : DEFAULT_PREFILL_VARIANT;
    }

    /** CTAs of prefill variant {@code v} (head-dim class of {@code headDim}) that fit on one SM, as the driver computes it. */
    int prefillCtasPerSm(int v, int headDim) {
        int c = headDimClass(headDim);
        int[] perSm = new int[1];
        if (wgmmaServes(v, headDim)) {
            int w = v - PREFILL_VARIANTS.length;
            Cuda.check(cuOccupancyMaxActiveBlocksPerMultiprocessor(perSm, wgmma[WGMMA_VARIANTS[w][0]].function(), WGMMA_THREADS,
                    wgmmaSharedBytes()),
                    "cuOccupancyMaxActiveBlocksPerMultiprocessor(prefill wgmma w" + w + ")");
            return perSm[0];
        }
        v = v < PREFILL_VARIANTS.length ? v : DEFAULT_PREFILL_VARIANT;
        Cuda.check(cuOccupancyMaxActiveBlocksPerMultiprocessor(perSm, prefill[v][c].function(), 32 * PREFILL_VARIANTS[v][0],
                prefillSharedBytes(v, CLASSES[c])), "cuOccupancyMaxActiveBlocksPerMultiprocessor(prefill v" + v + ")");
        return perSm[0];
    }

    /**
     * The most splits worth giving one decode token's kv head: enough CTAs for one full wave of the GPU at batch 1
     * ({@code numKvHeads} x splits = resident CTAs), at most {@code cap} (the size of the partials buffer). More
     * splits than that only add waves and partials; fewer leave SMs idle on a long context.
     */
    public int maxDecodeSplits(int numHeads, int numKvHeads, int headDim, int cap) {
        if (!decodeTensorCores(numHeads, numKvHeads, headDim)) {
            return cap;
        }
        return Math.max(1, Math.min(cap, decodeSlots[headDimClass(headDim)] / numKvHeads));
    }

    /** The kernel, allowed {@code bytes} of dynamic shared memory (above 48 KiB needs the opt-in). */
    private static KernelCall withSharedMemory(CudaContext ctx, String name, String signature, int bytes) {
        KernelCall k = new KernelCall(ctx, name, signature);
        if (bytes > 48 * 1024) {
            Cuda.check(cuFuncSetAttribute(k.function(), CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    bytes), "cuFuncSetAttribute(" + name + ", dynamic shared memory " + bytes + ")");
        }
        // All of L1 as shared memory: left to itself the driver may pick a split that holds one CTA per SM.
        Cuda.check(cuFuncSetAttribute(k.function(), CUfunction_attribute.CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT,
                100), "cuFuncSetAttribute(" + name + ", shared memory carveout 100%)");
        return k;
    }

    /** Padded shared rows: head-dim class + 8 elements (16 bytes), see attention_mma.cuh. */
    private static int stride(int headDimClass) {
        return headDimClass + 8;
    }

    /** q tile (128 rows) plus two stages of K and V (the variant's keys per tile each), 16-bit elements. */
    static int prefillSharedBytes(int variant, int headDimClass) {
        return (MMA_PREFILL_ROWS + 4 * PREFILL_VARIANTS[variant][1]) * stride(headDimClass) * 2;
    }

    /**
     * prefill_attention_wgmma.cu's shared_bytes: 1024 bytes of alignment slack, the q tile and each stage's K and V
     * (128 x 128 16-bit elements each), two mbarriers per stage, and per item slot of the dynamic schedule two
     * mbarriers and an int.
     */
    static int wgmmaSharedBytes() {
        return 1024 + 128 * 128 * 2 * (1 + 2 * WGMMA_STAGES) + 16 * WGMMA_STAGES + 20 * WGMMA_ITEM_SLOTS;
    }

    /** decode_attention_items.cu's layout: {@code stages} x (K and V tiles of 64 rows, a q buffer of group + 1 rows). */
    static int decodeItemsSharedBytes(int headDimClass, int group, int stages) {
        return stages * (2 * DECODE_KEYS_PER_TILE + group + 1) * stride(headDimClass) * 2;
    }

    /**
     * decode_attention_warp.cu's entries: {warps a CTA, K/V stages a warp}, and their name suffixes; the last is the
     * first's shape with the plain tile step (no split score chains, no lazy rescale), a benchmark reference.
     */
    static final int[][] DECODE_WARP_VARIANTS = {{4, 3}, {4, 2}, {2, 4}, {4, 3}};
    static final String[] DECODE_WARP_NAMES = {"", "_s2", "_w2s4", "_plain"};
    /** The warp kernel's variant the automatic choice uses. */
    static final int DEFAULT_DECODE_WARP_VARIANT = 0;
    /** {@link #setDecodeWarpVariant}: the warp kernel where {@link #decodeWarpServes} says so. */
    static final int DECODE_WARP_AUTO = -1;
    /** {@link #setDecodeWarpVariant}: never the warp kernel. */
    static final int DECODE_WARP_OFF = -2;

    /** decode_attention_warp.cu's layout: per warp, {@code stages} x (K and V sub-tiles of 16 rows). */
    static int decodeWarpSharedBytes(int variant, int headDimClass) {
        int[] v = DECODE_WARP_VARIANTS[variant];
        return v[0] * v[1] * 2 * 16 * stride(headDimClass) * 2;
    }

    /**
     * Benchmarks and tests: {@link #DECODE_WARP_AUTO}, {@link #DECODE_WARP_OFF} or a variant of
     * {@link #DECODE_WARP_VARIANTS} used for every 16-bit tensor-core decode. The backend drops its graphs after a change.
     */
    void setDecodeWarpVariant(int variant) {
        if (variant < DECODE_WARP_OFF || variant >= DECODE_WARP_VARIANTS.length) {
            throw new IllegalArgumentException("decode warp variant " + variant);
        }
        decodeWarpVariant = variant;
    }

    /**
     * Whether the automatic choice takes the warp kernel: one split of at most {@value #DECODE_WARP_MAX_CHUNK}
     * positions (short contexts, the large-batch plan) and {@code tasks} (decode token, kv head) pairs filling at least a
     * quarter of the {@code warpSlots} warps of it the GPU holds at once (below that the CTA-wide kernels spread a
     * token's keys over 4 warps and keep more SMs busy). H200, 8B shape, 129-152 context, one layer's attention
     * (DecodeAttentionTiming, docs/benchmarks.md): b64 24.5 -> 20.5 us, b128 40.3 -> 28.6, b256 69.7 -> 52.5, b512
     * 124.0 -> 94.8 against the items kernel's default pick. Longer contexts and several splits were not measured
     * with it and keep the CTA-wide kernels.
     */
    static boolean decodeWarpServes(long tasks, int warpSlots, int splits, int chunk) {
        return splits == 1 && chunk <= DECODE_WARP_MAX_CHUNK && 4 * tasks >= warpSlots;
    }

    /** Longest single split (positions) the automatic choice gives to the warp kernel. */
    static final int DECODE_WARP_MAX_CHUNK = 512;

    /** K/V ring depth of the items kernel unless a benchmark picks another. */
    static final int DEFAULT_DECODE_ITEM_STAGES = 2;

    /** Benchmarks and tests: K/V stages (2 or 3) of the items kernel. The backend drops its graphs after a change. */
    void setDecodeItemStages(int stages) {
        if (stages < 2 || stages > 3) {
            throw new IllegalArgumentException("decode item stages " + stages);
        }
        decodeItemStages = stages;
    }

    /** Most decode tokens one CTA of decode_attention_items.cu takes (its kMaxItems). */
    static final int DECODE_MAX_ITEMS = 8;
    /** {@link #setDecodeItemsPerCta}: pick by {@link #decodeItemsFor}. */
    static final int DECODE_ITEMS_AUTO = -1;
    /** {@link #setDecodeItemsPerCta}: the one-token kernel (decode_attention_mma.cu) and the reduce, as before. */
    static final int DECODE_ITEMS_OLD = 0;

    /**
     * Benchmarks and tests: decode tokens per CTA of the 16-bit tensor-core decode ({@link #DECODE_ITEMS_AUTO},
     * {@link #DECODE_ITEMS_OLD}, or 1..{@value #DECODE_MAX_ITEMS}). The backend drops its graphs after a change.
     */
    void setDecodeItemsPerCta(int items) {
        if (items < DECODE_ITEMS_AUTO || items > DECODE_MAX_ITEMS) {
            throw new IllegalArgumentException("decode items per CTA " + items);
        }
        decodeItemsPerCta = items;
    }

    int decodeItemsPerCta() {
        return decodeItemsPerCta;
    }

    /**
     * Tokens per CTA when {@code ctas} one-token CTAs would run on {@code slots} resident ones: two from four waves on,
     * else one. H200, 8B shape, 129-160 context, graph decode step device ms with 1 / 2 / 4 tokens a CTA: b64 5.57 /
     * 5.40 / 5.74, b128 6.38 / 6.63 / 6.41, b256 9.28 / 9.20 / 9.86, b512 16.07 / 15.90 / 15.95 (5 a CTA, the first
     * rule's pick at b512: 16.49); the one-token kernel + reduce 5.62 / 6.50 / 9.43 / 16.29 (docs/benchmarks.md).
     * More tokens a CTA leave fewer CTAs to even out the last wave; the start they save is small.
     */
    static int decodeItemsFor(long ctas, int slots) {
        return ctas >= 4L * Math.max(1, slots) ? 2 : 1;
    }

    /** Resident CTAs of the items kernel for this class and group on the whole GPU (asked once, then cached). */
    private int decodeItemsSlots(int c, int group) {
        int st = decodeItemStages;
        int slots = decodeItemsSlots[st - 2][c][group];
        if (slots == 0) {
            int[] perSm = new int[1];
            Cuda.check(cuOccupancyMaxActiveBlocksPerMultiprocessor(perSm, decodeItems[st - 2][c].function(), 128,
                    decodeItemsSharedBytes(CLASSES[c], group, st)), "cuOccupancyMaxActiveBlocksPerMultiprocessor(decode items)");
            slots = decodeItemsSlots[st - 2][c][group] = Math.max(1, perSm[0]) * sms;
        }
        return slots;
    }

    /** q tile (16 rows) plus two stages of K and V (64 rows each); the warps' merge reuses the K/V stages. */
    static int decodeSharedBytes(int headDimClass) {
        return (16 + 4 * DECODE_KEYS_PER_TILE) * stride(headDimClass) * 2;
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
        int v = prefillVariant;
        if (wgmmaServes(v, headDim)) {
            int w = v - PREFILL_VARIANTS.length;
            int items = numTiles * numKvHeads * chunks;
            boolean persistent = wgmmaPersistent(v);
            wgmma[WGMMA_VARIANTS[w][0]].p(0, q).p(1, kCache).p(2, vCache).p(3, out).p(4, tiles).p(5, positions)
                    .p(6, blockTables).i(7, tableStride).i(8, numHeads).i(9, numKvHeads).i(10, blockSize).i(11, headsPerCta)
                    .i(12, numTiles).f(13, CudaKernels.scaleLog2(headDim)).p(14, persistent ? itemCounter.address() : 0)
                    .launch(ctx, wgmmaGrid(v, items, persistentCtas), 1, 1, WGMMA_THREADS, wgmmaSharedBytes());
            return;
        }
        v = v < PREFILL_VARIANTS.length ? v : DEFAULT_PREFILL_VARIANT;
        prefill[v][c].p(0, q).p(1, kCache).p(2, vCache).p(3, out).p(4, tiles).p(5, positions).p(6, blockTables)
                .i(7, tableStride).i(8, numHeads).i(9, numKvHeads).i(10, headDim).i(11, blockSize).i(12, headsPerCta)
                .f(13, CudaKernels.scaleLog2(headDim))
                .launch(ctx, numTiles * numKvHeads * chunks, 1, 1, 32 * PREFILL_VARIANTS[v][0], prefillSharedBytes(v, CLASSES[c]));
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
     * [numDecodes][numHeads][splits][headDim] and {@code partMl} [..][2], then the merge into {@code out}. By default
     * (16-bit caches) decode_attention_items.cu: several tokens per CTA ({@link #decodeItemsFor}), and with one split
     * it writes {@code out} itself (no partials, no reduce launch).
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
        long tasks = (long) numDecodes * numKvHeads * splits;
        int wv = decodeWarpVariant;
        if (wv == DECODE_WARP_AUTO) {
            wv = decodeItemsPerCta == DECODE_ITEMS_AUTO
                    && decodeWarpServes(tasks, decodeWarpSlots[DEFAULT_DECODE_WARP_VARIANT][c], splits, chunk)
                    ? DEFAULT_DECODE_WARP_VARIANT
                    : DECODE_WARP_OFF;
        }
        if (wv >= 0) {
            int w = DECODE_WARP_VARIANTS[wv][0];
            decodeWarp[wv][c].p(0, q).p(1, kCache).p(2, vCache).p(3, out).p(4, partO).p(5, partMl).p(6, decodes).p(7, positions)
                    .p(8, blockTables).i(9, tableStride).i(10, numHeads).i(11, numKvHeads).i(12, headDim).i(13, blockSize)
                    .i(14, chunk).i(15, numDecodes).f(16, CudaKernels.scaleLog2(headDim))
                    .launch(ctx, (int) (((long) numDecodes * numKvHeads + w - 1) / w), splits, 1, 32 * w,
                            decodeWarpSharedBytes(wv, CLASSES[c]));
            if (splits > 1) { // one split wrote the output itself
                reduce.p(0, partO).p(1, partMl).p(2, decodes).p(3, out).i(4, numHeads).i(5, headDim).i(6, splits)
                        .launch(ctx, numDecodes, numHeads, 1, Math.min(256, Math.max(32, (headDim + 31) / 32 * 32)), 0);
            }
            return;
        }
        if (decodeItemsPerCta != DECODE_ITEMS_OLD) {
            int group = numHeads / numKvHeads;
            int items = decodeItemsPerCta != DECODE_ITEMS_AUTO ? decodeItemsPerCta
                    : decodeItemsFor((long) numDecodes * numKvHeads * splits, decodeItemsSlots(c, group));
            decodeItems[decodeItemStages - 2][c].p(0, q).p(1, kCache).p(2, vCache).p(3, out).p(4, partO).p(5, partMl).p(6, decodes).p(7, positions)
                    .p(8, blockTables).i(9, tableStride).i(10, numHeads).i(11, numKvHeads).i(12, headDim).i(13, blockSize)
                    .i(14, chunk).i(15, items).i(16, numDecodes).f(17, CudaKernels.scaleLog2(headDim))
                    .launch(ctx, (numDecodes + items - 1) / items, numKvHeads, splits, 128,
                            decodeItemsSharedBytes(CLASSES[c], group, decodeItemStages));
            if (splits > 1) { // one split wrote the output itself
                reduce.p(0, partO).p(1, partMl).p(2, decodes).p(3, out).i(4, numHeads).i(5, headDim).i(6, splits)
                        .launch(ctx, numDecodes, numHeads, 1, Math.min(256, Math.max(32, (headDim + 31) / 32 * 32)), 0);
            }
            return;
        }
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
