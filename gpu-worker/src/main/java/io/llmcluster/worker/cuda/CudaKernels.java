package io.llmcluster.worker.cuda;

import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;

import jcuda.driver.CUfunction_attribute;

/**
 * Typed launches of the project's kernels (kernels/src/main/cuda) for one run dtype, each with its launch
 * shape. Every argument is a device address or a size; everything is queued on the context's stream. The
 * kernels' CPU twins (io.llmcluster.worker.cpu) are their test oracles.
 */
public final class CudaKernels {
    /** Query heads per kv head that the decode kernel serves; larger groups go through the prefill kernel. */
    public static final int DECODE_MAX_GROUP = 8;
    /** Largest head dimension of the attention kernels. */
    public static final int MAX_HEAD_DIM = 256;
    /** Rows (token x query head) of one prefill CTA. */
    public static final int PREFILL_ROWS = 32;
    /** Hidden sizes up to 16 elements per thread of a 1024-thread block. */
    public static final int MAX_HIDDEN = 16 * 1024;
    private static final float LOG2_E = 1.4426950408889634f;
    private static final int[] HEAD_DIM_CLASSES = {32, 64, 128, 256};

    private final CudaContext ctx;
    private final CudaDtype dtype;
    private final KernelCall embedding;
    private final KernelCall rmsnorm;
    private final KernelCall residualRmsnorm;
    private final KernelCall gatherRmsnorm;
    private final KernelCall ropeKv;
    private final KernelCall[] prefill = new KernelCall[HEAD_DIM_CLASSES.length];
    private final KernelCall[] decode = new KernelCall[HEAD_DIM_CLASSES.length];
    private final KernelCall decodeReduce;
    private final KernelCall siluMul;
    private final KernelCall siluMul16;
    private final KernelCall addBias;
    private final KernelCall argmax;
    /**
     * [family][log2 warps per row]: 16-bit and INT8 GEMV kernels with 1, 2, 4, 8 warps per output row, for 1..8
     * tokens ([0]), for one token with one token's registers ([1], gemv1_*: in the 1..8 kernels one token ran with
     * eight tokens' registers, fewer CTAs per SM), and, 16-bit only, for one token with double-buffered weight loads
     * ([2], gemv1p_*).
     */
    private final KernelCall[][] gemv = new KernelCall[3][4];
    private final KernelCall[][] gemvW8 = new KernelCall[2][4];
    /** The same with the SwiGLU epilogue (gate|up weights, activation out). */
    private final KernelCall[][] gemvSwiglu = new KernelCall[3][4];
    private final KernelCall[][] gemvW8Swiglu = new KernelCall[2][4];
    /** [log2 warps per tile (1, 2, 4, 8)][log2 n-tiles (1, 2, 4, 8)]: the tensor-core skinny GEMMs. */
    private final KernelCall[][] skinny = new KernelCall[4][4];
    private final KernelCall[][] skinnyW8 = new KernelCall[4][4];
    private final KernelCall dequantW8;
    private final KernelCall quantizeW8;
    private final KernelCall spin;
    private final KernelCall gemmMma;
    private final KernelCall gemmMmaAny;
    private final KernelCall sample;

    public CudaKernels(CudaContext ctx, CudaDtype dtype) {
        this.ctx = ctx;
        this.dtype = dtype;
        String s = "_" + dtype.suffix();
        embedding = new KernelCall(ctx, "embedding_gather" + s, "pppi");
        rmsnorm = new KernelCall(ctx, "rmsnorm" + s, "pppif");
        residualRmsnorm = new KernelCall(ctx, "residual_rmsnorm" + s, "ppppif");
        gatherRmsnorm = new KernelCall(ctx, "gather_residual_rmsnorm" + s, "pppppif");
        ropeKv = new KernelCall(ctx, "rope_kv_write" + s, "pppppipppppiiii");
        for (int c = 0; c < HEAD_DIM_CLASSES.length; c++) {
            int d = HEAD_DIM_CLASSES[c];
            prefill[c] = new KernelCall(ctx, "prefill_attention" + s + "_d" + d, "pppppppiiiiiif");
            int smem = prefillSharedBytes(d);
            if (smem > 48 * 1024) {
                Cuda.check(cuFuncSetAttribute(prefill[c].function(),
                        CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem),
                        "cuFuncSetAttribute(prefill_attention d" + d + ", dynamic shared memory " + smem + ")");
            }
            decode[c] = new KernelCall(ctx, "decode_attention" + s + "_d" + d, "ppppppppiiiiiif");
        }
        decodeReduce = new KernelCall(ctx, "decode_attention_reduce" + s, "ppppiii");
        siluMul = new KernelCall(ctx, "silu_mul" + s, "ppii");
        siluMul16 = new KernelCall(ctx, "silu_mul16" + s, "ppii");
        addBias = new KernelCall(ctx, "add_bias_f32", "ppii");
        argmax = new KernelCall(ctx, "argmax_f32", "pip");
        for (int one = 0; one < 3; one++) {
            String p = one == 2 ? "gemv1p" : one == 1 ? "gemv1" : "gemv";
            for (int i = 0; i < 4; i++) {
                String r = s + "_r" + (1 << i);
                gemv[one][i] = new KernelCall(ctx, p + r, "pppiiii");
                gemvSwiglu[one][i] = new KernelCall(ctx, p + "_swiglu" + r, "pppiii");
                if (one < 2) {
                    gemvW8[one][i] = new KernelCall(ctx, p + "_w8" + r, "ppppiiiii");
                    gemvW8Swiglu[one][i] = new KernelCall(ctx, p + "_w8_swiglu" + r, "ppppiiii");
                }
            }
        }
        for (int r = 0; r < 4; r++) {
            for (int n = 0; n < 4; n++) {
                String tail = s + "_r" + (1 << r) + "_n" + (1 << n);
                skinny[r][n] = new KernelCall(ctx, "skinny" + tail, "pppiiiii");
                skinnyW8[r][n] = new KernelCall(ctx, "skinny_w8" + tail, "ppppiiiiii");
            }
        }
        dequantW8 = new KernelCall(ctx, "dequant_w8" + s, "pppiii");
        quantizeW8 = new KernelCall(ctx, "quantize_w8" + s, "pppiii");
        spin = new KernelCall(ctx, "spin_ns", "p");
        gemmMma = new KernelCall(ctx, "gemm_mma" + s, "pppiiii");
        gemmMmaAny = new KernelCall(ctx, "gemm_mma_any" + s, "pppiiii");
        for (KernelCall g : new KernelCall[] {gemmMma, gemmMmaAny}) {
            Cuda.check(cuFuncSetAttribute(g.function(), CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    MMA_SHARED_BYTES), "cuFuncSetAttribute(gemm_mma, dynamic shared memory " + MMA_SHARED_BYTES + ")");
        }
        sample = new KernelCall(ctx, "sample_f32", "piipp");
    }

    public CudaDtype dtype() {
        return dtype;
    }

    /** Programmatic dependent launches of these kernels ({@link DependentLaunch}). */
    DependentLaunch dependentLaunch() {
        return ctx.dependentLaunch();
    }

    /** out[t][:] (FP32) = table[ids[t]][:] for t < tokens. */
    public void embedding(long ids, long table, long out, int tokens, int hidden) {
        embedding.p(0, ids).p(1, table).p(2, out).i(3, hidden).launch(ctx, tokens, 1, 1, 256, 0);
    }

    /** out (T) = rmsnorm(x (FP32)) * weight (FP32), per row. */
    public void rmsnorm(long x, long weight, long out, int rows, int hidden, float eps) {
        rmsnorm.p(0, x).p(1, weight).p(2, out).i(3, hidden).f(4, eps).launch(ctx, rows, 1, 1, normBlock(hidden), 0);
    }

    /** residual (FP32) += delta (FP32); out (T) = rmsnorm(residual) * weight, per row. */
    public void residualRmsnorm(long delta, long residual, long weight, long out, int rows, int hidden, float eps) {
        residualRmsnorm.p(0, delta).p(1, residual).p(2, weight).p(3, out).i(4, hidden).f(5, eps)
                .launch(ctx, rows, 1, 1, normBlock(hidden), 0);
    }

    /** out[r] (T) = rmsnorm(residual[rows[r]] + delta[rows[r]]) * weight (all FP32) for r < count; residual unchanged. */
    public void gatherResidualRmsnorm(long delta, long residual, long rows, long weight, long out, int count, int hidden,
            float eps) {
        gatherRmsnorm.p(0, delta).p(1, residual).p(2, rows).p(3, weight).p(4, out).i(5, hidden).f(6, eps)
                .launch(ctx, count, 1, 1, normBlock(hidden), 0);
    }

    static int normBlock(int hidden) {
        if (hidden > MAX_HIDDEN) {
            throw new IllegalArgumentException("hidden size " + hidden + " exceeds the norm kernels' " + MAX_HIDDEN);
        }
        if (hidden % 4 == 0) { // the vector path: up to 4 float4 a thread (residual_rmsnorm.cu, norm_row_vec)
            return Math.max(32, ((hidden + 15) / 16 + 31) / 32 * 32);
        }
        int perThread = 4;
        int threads = (hidden + perThread - 1) / perThread;
        threads = Math.max(threads, (hidden + 15) / 16);
        return Math.min(1024, Math.max(32, (threads + 31) / 32 * 32));
    }

    /**
     * RoPE on q and k of each token's fused FP32 QKV row (plus FP32 bias when {@code bias != 0}); q to {@code qOut}
     * [tokens][numHeads*headDim], k and v into the layer's cache slots through the block tables.
     */
    public void ropeKvWrite(long qkv, long bias, long positions, long seqOfToken, long blockTables, int tableStride,
            long cos, long sin, long qOut, long kCache, long vCache, int tokens, int numHeads, int numKvHeads,
            int headDim, int blockSize) {
        ropeKv.p(0, qkv).p(1, bias).p(2, positions).p(3, seqOfToken).p(4, blockTables).i(5, tableStride).p(6, cos)
                .p(7, sin).p(8, qOut).p(9, kCache).p(10, vCache).i(11, numHeads).i(12, numKvHeads).i(13, headDim)
                .i(14, blockSize).launch(ctx, tokens, ropeCtasPerToken(numHeads, numKvHeads, headDim), 1, ROPE_THREADS, 0);
    }

    private static final int ROPE_THREADS = 256;

    /**
     * CTAs per token of the RoPE + KV write: one work item per rotation pair and per v element, one item per thread
     * (a single 128-thread CTA per token walked ~30 dependent rounds at batch 1), at most 32 CTAs.
     */
    static int ropeCtasPerToken(int numHeads, int numKvHeads, int headDim) {
        int items = (numHeads + numKvHeads) * (headDim / 2) + numKvHeads * headDim;
        return Math.max(1, Math.min(32, (items + ROPE_THREADS - 1) / ROPE_THREADS));
    }

    /** Query heads per prefill CTA for a group size. */
    public static int prefillHeadsPerCta(int groupSize) {
        return Math.min(groupSize, PREFILL_ROWS);
    }

    /** Tokens per prefill tile for a group size: tiles hold at most {@link #PREFILL_ROWS} (token, head) rows. */
    public static int prefillTokensPerTile(int groupSize) {
        return Math.max(1, PREFILL_ROWS / prefillHeadsPerCta(groupSize));
    }

    static int prefillSharedBytes(int headDimClass) {
        return (PREFILL_ROWS * headDimClass + 32 * (headDimClass + 1) + 32 * headDimClass) * Float.BYTES;
    }

    private static int headDimClass(int headDim) {
        for (int c = 0; c < HEAD_DIM_CLASSES.length; c++) {
            if (headDim <= HEAD_DIM_CLASSES[c]) {
                return c;
            }
        }
        throw new IllegalArgumentException("head_dim " + headDim + " exceeds the attention kernels' " + MAX_HEAD_DIM);
    }

    /**
     * Flash-style causal attention for {@code numTiles} query tiles (int4 each: first token, token count,
     * sequence, 0), every row attending to positions [0, its position] of its sequence through the block table.
     */
    public void prefillAttention(long q, long kCache, long vCache, long out, long tiles, int numTiles, long positions,
            long blockTables, int tableStride, int numHeads, int numKvHeads, int headDim, int blockSize) {
        int c = headDimClass(headDim);
        int group = numHeads / numKvHeads;
        int headsPerCta = prefillHeadsPerCta(group);
        int chunks = (group + headsPerCta - 1) / headsPerCta;
        prefill[c].p(0, q).p(1, kCache).p(2, vCache).p(3, out).p(4, tiles).p(5, positions).p(6, blockTables)
                .i(7, tableStride).i(8, numHeads).i(9, numKvHeads).i(10, headDim).i(11, blockSize).i(12, headsPerCta)
                .f(13, scaleLog2(headDim))
                .launch(ctx, numTiles, numKvHeads * chunks, 1, 128, prefillSharedBytes(HEAD_DIM_CLASSES[c]));
    }

    /** Whether the split-K decode kernel serves this shape (otherwise decode tokens take the prefill kernel). */
    public static boolean decodeSupports(int numHeads, int numKvHeads, int headDim) {
        return numHeads / numKvHeads <= DECODE_MAX_GROUP && headDim % 8 == 0 && headDim <= MAX_HEAD_DIM;
    }

    /** FP32 floats of split partials per (decode token, head, split): the output row plus max and sum. */
    public static long decodePartialFloats(int headDim) {
        return headDim + 2L;
    }

    /**
     * Split-K paged decode attention for {@code numDecodes} tokens (int2 each: token, sequence): {@code splits}
     * CTAs per (token, kv head) over chunks of {@code chunk} positions, partials in {@code partO}
     * [numDecodes][numHeads][splits][headDim] and {@code partMl} [..][2], then the merge into {@code out}.
     */
    public void decodeAttention(long q, long kCache, long vCache, long partO, long partMl, long out, long decodes,
            int numDecodes, long positions, long blockTables, int tableStride, int numHeads, int numKvHeads, int headDim,
            int blockSize, int chunk, int splits) {
        if (!decodeSupports(numHeads, numKvHeads, headDim)) {
            throw new IllegalArgumentException("decode kernel needs group <= " + DECODE_MAX_GROUP + " and head_dim % 8 == 0");
        }
        int c = headDimClass(headDim);
        int group = numHeads / numKvHeads;
        int smem = (group * headDim + 2 * 4 * group + 4 * group * headDim) * Float.BYTES;
        decode[c].p(0, q).p(1, kCache).p(2, vCache).p(3, partO).p(4, partMl).p(5, decodes).p(6, positions)
                .p(7, blockTables).i(8, tableStride).i(9, numHeads).i(10, numKvHeads).i(11, headDim).i(12, blockSize)
                .i(13, chunk).f(14, scaleLog2(headDim)).launch(ctx, numDecodes, numKvHeads, splits, 128, smem);
        decodeReduce.p(0, partO).p(1, partMl).p(2, decodes).p(3, out).i(4, numHeads).i(5, headDim).i(6, splits)
                .launch(ctx, numDecodes, numHeads, 1, Math.min(256, Math.max(32, (headDim + 31) / 32 * 32)), 0);
    }

    static float scaleLog2(int headDim) {
        return (float) (1.0 / Math.sqrt(headDim)) * LOG2_E;
    }

    /** out[r][i] (T) = silu(gateUp[r][i]) * gateUp[r][inter + i] (gateUp FP32). */
    public void siluMul(long gateUp, long out, int rows, int inter) {
        if (rows == 0) {
            return;
        }
        int perBlock = 256 * (inter % 4 == 0 ? 4 : 1); // columns a block covers per pass (four per thread when aligned)
        siluMul.p(0, gateUp).p(1, out).i(2, rows).i(3, inter)
                .launch(ctx, (inter + perBlock - 1) / perBlock, Math.min(rows, 65535), 1, 256, 0);
    }

    /** out[r][i] = silu(gateUp[r][i]) * gateUp[r][inter + i], gateUp in the run dtype (a 16-bit GEMM output). */
    public void siluMul16(long gateUp, long out, int rows, int inter) {
        if (rows == 0) {
            return;
        }
        int perBlock = 256 * (inter % 4 == 0 ? 4 : 1);
        siluMul16.p(0, gateUp).p(1, out).i(2, rows).i(3, inter)
                .launch(ctx, (inter + perBlock - 1) / perBlock, Math.min(rows, 65535), 1, 256, 0);
    }

    /** y[r][c] += bias[c], both FP32. */
    public void addBias(long y, long bias, int rows, int cols) {
        addBias.p(0, y).p(1, bias).i(2, rows).i(3, cols).launch(ctx, grid((long) rows * cols), 1, 1, 256, 0);
    }

    /** Tile of the tensor-core GEMM (gemm_mma.cu): 128 x 128 outputs per CTA, K in steps of 32, 3 stages. */
    static final int MMA_TILE = 128;
    /** Shared memory of one gemm_mma CTA: 3 stages of two 128 x 40 (32 + 8 padding) 16-bit tiles. */
    static final int MMA_SHARED_BYTES = 3 * 2 * MMA_TILE * 40 * 2;

    /**
     * y[tokens][out] = x[tokens][in] · w[out][in]ᵀ on the tensor cores (mma.sync m16n8k16, FP32 accumulation), FP32
     * or run-dtype output; any sizes (tails in every dimension). {@code in % 8 == 0} takes the cp.async path.
     */
    public void gemmMma(long x, long w, long y, int tokens, int in, int out, boolean fp32Out) {
        KernelCall g = in % 8 == 0 && x % 16 == 0 && w % 16 == 0 ? gemmMma : gemmMmaAny;
        g.p(0, x).p(1, w).p(2, y).i(3, tokens).i(4, out).i(5, in).i(6, fp32Out ? 1 : 0)
                .launch(ctx, (out + MMA_TILE - 1) / MMA_TILE, (tokens + MMA_TILE - 1) / MMA_TILE, 1, 256, MMA_SHARED_BYTES);
    }

    /** Ints per row of {@link #sample}'s parameters (see {@link SamplingRow}). */
    public static final int SAMPLE_PARAM_INTS = 8;

    /**
     * out[r] = a token drawn from FP32 logits row r ({@code logits + r * rowStrideFloats}; stride 0 reuses one row)
     * under row r's parameters ({@link #SAMPLE_PARAM_INTS} ints at {@code params + 32 r}): temperature, top-k, top-p,
     * min-p, seeded counter-based draw (sampling_topkp.cu).
     */
    public void sample(long logits, int rowStrideFloats, int rows, int vocab, long params, long out) {
        sample.p(0, logits).i(1, rowStrideFloats).i(2, vocab).p(3, params).p(4, out).launch(ctx, rows, 1, 1, 1024, 0);
    }

    /** out[r] = argmax of FP32 logits row r (lowest index on ties). */
    public void argmax(long logits, int rows, int vocab, long out) {
        argmax.p(0, logits).i(1, vocab).p(2, out).launch(ctx, rows, 1, 1, 1024, 0);
    }

    /** Tokens the decode GEMV kernel serves in one launch. */
    public static final int GEMV_MAX_TOKENS = 8;

    /** Whether {@link #gemv} serves this shape: 1..8 tokens, rows of whole 16-byte vectors. */
    public static boolean gemvSupports(int tokens, int in) {
        return tokens >= 1 && tokens <= GEMV_MAX_TOKENS && in % 8 == 0;
    }

    /** y[t][o] = x[t][:] · w[o][:] for t < tokens (1..8), w [out][in] in T, y FP32 or T: a stream over w. */
    public void gemv(long x, long w, long y, int tokens, int in, int out, boolean fp32Out) {
        gemv(x, w, y, tokens, in, out, fp32Out, 1);
    }

    /** {@link #gemv} with {@code warpsPerRow} (1, 2, 4, 8) warps splitting each row's K inside a CTA. */
    public void gemv(long x, long w, long y, int tokens, int in, int out, boolean fp32Out, int warpsPerRow) {
        gemv(x, w, y, tokens, in, out, fp32Out, warpsPerRow, false);
    }

    /**
     * {@link #gemv}; {@code pipelined}: the one-token kernel that loads the next batch of weights before it multiplies
     * the current one (gemv1p_*; same sums in the same order, so the same result bit for bit), one token only. 16-bit
     * weights only: with INT8 weights it measured 4-15% slower on the H200 (more registers, fewer CTAs an SM).
     */
    public void gemv(long x, long w, long y, int tokens, int in, int out, boolean fp32Out, int warpsPerRow, boolean pipelined) {
        checkGemv(tokens, in);
        gemv[family(tokens, pipelined)][warpsLog2(warpsPerRow)].p(0, x).p(1, w).p(2, y).i(3, tokens).i(4, in).i(5, out)
                .i(6, fp32Out ? 1 : 0).launch(ctx, gemvGrid(out, warpsPerRow), 1, 1, 256, 0);
    }

    /**
     * The fused gate|up projection and SwiGLU: {@code act[t][j]} (T) = silu(x[t] · w[j]) * (x[t] · w[inter + j]) for
     * j < inter, w [2 inter][in] (gate rows, then up rows) in T; the same sums and rounding as {@link #gemv} into FP32
     * followed by {@link #siluMul}.
     */
    public void gemvSwiglu(long x, long w, long act, int tokens, int in, int inter, int warpsPerRow) {
        gemvSwiglu(x, w, act, tokens, in, inter, warpsPerRow, false);
    }

    /** {@link #gemvSwiglu}, {@code pipelined} as in {@link #gemv(long, long, long, int, int, int, boolean, int, boolean)}. */
    public void gemvSwiglu(long x, long w, long act, int tokens, int in, int inter, int warpsPerRow, boolean pipelined) {
        checkGemv(tokens, in);
        gemvSwiglu[family(tokens, pipelined)][warpsLog2(warpsPerRow)].p(0, x).p(1, w).p(2, act).i(3, tokens).i(4, in).i(5, inter)
                .launch(ctx, gemvGrid(inter, warpsPerRow), 1, 1, 256, 0);
    }

    /**
     * Index of the GEMV kernel family: 2 for the pipelined one-token kernels (gemv1p_*), 1 for one token (gemv1_*, one
     * token's registers), else 0.
     */
    private static int family(int tokens, boolean pipelined) {
        if (pipelined && tokens != 1) {
            throw new IllegalArgumentException("the pipelined GEMV serves one token, got " + tokens);
        }
        return pipelined ? 2 : tokens == 1 ? 1 : 0;
    }

    private static void checkGemv(int tokens, int in) {
        if (!gemvSupports(tokens, in)) {
            throw new IllegalArgumentException("gemv serves 1.." + GEMV_MAX_TOKENS + " tokens and in % 8 == 0, got "
                    + tokens + " x " + in);
        }
    }

    /**
     * y[t][o] = x[t][:] · dequant(w[o][:]) for t < tokens (1..8): INT8 weight-only GEMV, w offset-binary bytes
     * [out][in], scales FP32 [out][ceil(in / group)] (see {@link Int8Rows}); in and group multiples of 16.
     */
    public void gemvW8(long x, long w, long scales, long y, int tokens, int in, int out, int group, boolean fp32Out,
            int warpsPerRow) {
        checkGemvW8(tokens, in, group);
        gemvW8[family(tokens, false)][warpsLog2(warpsPerRow)].p(0, x).p(1, w).p(2, scales).p(3, y).i(4, tokens).i(5, in)
                .i(6, out).i(7, group)
                .i(8, fp32Out ? 1 : 0).launch(ctx, gemvGrid(out, warpsPerRow), 1, 1, 256, 0);
    }

    /** {@link #gemvSwiglu} on INT8 weights ([2 inter][in], scales per row as {@link #gemvW8}). */
    public void gemvW8Swiglu(long x, long w, long scales, long act, int tokens, int in, int inter, int group,
            int warpsPerRow) {
        checkGemvW8(tokens, in, group);
        gemvW8Swiglu[family(tokens, false)][warpsLog2(warpsPerRow)].p(0, x).p(1, w).p(2, scales).p(3, act).i(4, tokens)
                .i(5, in).i(6, inter)
                .i(7, group).launch(ctx, gemvGrid(inter, warpsPerRow), 1, 1, 256, 0);
    }

    private static void checkGemvW8(int tokens, int in, int group) {
        if (tokens < 1 || tokens > GEMV_MAX_TOKENS || in % 16 != 0 || group % 16 != 0 || group < 16) {
            throw new IllegalArgumentException("INT8 gemv serves 1.." + GEMV_MAX_TOKENS + " tokens, in and group "
                    + "multiples of 16, got " + tokens + " x " + in + " group " + group);
        }
    }

    /** out[r][c] (T) = dequant(w[r][c]) for r < rows: INT8 rows back to the run dtype (cols % 16 == 0). */
    public void dequantW8(long w, long scales, long out, int rows, int cols, int group) {
        long vecs = (long) rows * (cols / 16);
        dequantW8.p(0, w).p(1, scales).p(2, out).i(3, rows).i(4, cols).i(5, group)
                .launch(ctx, (int) Math.min((vecs + 255) / 256, 132 * 16), 1, 1, 256, 0);
    }

    /** Tokens the tensor-core skinny GEMMs serve in one launch. */
    public static final int SKINNY_MAX_TOKENS = 64;

    /**
     * y[t][o] = x[t][:] · w[o][:] for t < tokens (1..64) on the tensor cores (skinny_mma.cu), each weight read once;
     * in % 32 == 0; {@code warpsPerTile} (1, 2, 4, 8) warps split each 16-row tile's K.
     */
    public void skinny(long x, long w, long y, int tokens, int in, int out, boolean fp32Out, int warpsPerTile) {
        skinny(x, w, y, tokens, in, out, fp32Out ? 1 : 0, 0, warpsPerTile);
    }

    /** {@link #gemvSwiglu} on the tensor-core skinny GEMM (1..64 tokens). */
    public void skinnySwiglu(long x, long w, long act, int tokens, int in, int inter, int warpsPerTile) {
        skinny(x, w, act, tokens, in, inter, 0, 1, warpsPerTile);
    }

    private void skinny(long x, long w, long y, int tokens, int in, int out, int fp32Out, int swiglu, int warpsPerTile) {
        if (tokens < 1 || tokens > SKINNY_MAX_TOKENS || in % 32 != 0) {
            throw new IllegalArgumentException("skinny GEMM serves 1.." + SKINNY_MAX_TOKENS + " tokens and in % 32 == 0, got "
                    + tokens + " x " + in);
        }
        skinny[warpsLog2(warpsPerTile)][nTilesLog2(tokens)].p(0, x).p(1, w).p(2, y).i(3, tokens).i(4, in).i(5, out)
                .i(6, fp32Out).i(7, swiglu).launch(ctx, skinnyGrid(out, warpsPerTile, swiglu), 1, 1, 256, 0);
    }

    /**
     * The INT8 skinny GEMM: like {@link #gemvW8} for 1..64 tokens; in % 64 == 0, group == in (per channel) or a power
     * of two of at least 64.
     */
    public void skinnyW8(long x, long w, long scales, long y, int tokens, int in, int out, int group, boolean fp32Out,
            int warpsPerTile) {
        skinnyW8(x, w, scales, y, tokens, in, out, group, fp32Out ? 1 : 0, 0, warpsPerTile);
    }

    /** {@link #gemvSwiglu} on the INT8 skinny GEMM. */
    public void skinnyW8Swiglu(long x, long w, long scales, long act, int tokens, int in, int inter, int group,
            int warpsPerTile) {
        skinnyW8(x, w, scales, act, tokens, in, inter, group, 0, 1, warpsPerTile);
    }

    private void skinnyW8(long x, long w, long scales, long y, int tokens, int in, int out, int group, int fp32Out,
            int swiglu, int warpsPerTile) {
        boolean perChannel = group == in;
        if (tokens < 1 || tokens > SKINNY_MAX_TOKENS || in % 64 != 0
                || !(perChannel || (group >= 64 && Integer.bitCount(group) == 1))) {
            throw new IllegalArgumentException("INT8 skinny GEMM serves 1.." + SKINNY_MAX_TOKENS + " tokens, in % 64 == 0 "
                    + "and per-channel or power-of-two groups >= 64, got " + tokens + " x " + in + " group " + group);
        }
        int groupLog2 = perChannel ? 30 : Integer.numberOfTrailingZeros(group);
        skinnyW8[warpsLog2(warpsPerTile)][nTilesLog2(tokens)].p(0, x).p(1, w).p(2, scales).p(3, y).i(4, tokens).i(5, in)
                .i(6, out).i(7, groupLog2).i(8, fp32Out).i(9, swiglu)
                .launch(ctx, skinnyGrid(out, warpsPerTile, swiglu), 1, 1, 256, 0);
    }

    private static int nTilesLog2(int tokens) {
        return tokens <= 8 ? 0 : tokens <= 16 ? 1 : tokens <= 32 ? 2 : 3;
    }

    /** CTAs: 16-row tiles (a SwiGLU tile serves 8 activation columns: 8 gate and 8 up rows), 8 / R tiles each. */
    private static int skinnyGrid(int out, int warpsPerTile, int swiglu) {
        int rowsPerCta = (swiglu == 1 ? 8 : 16) * (8 / warpsPerTile);
        return (out + rowsPerCta - 1) / rowsPerCta;
    }

    /** INT8 quantization of 16-bit rows w [rows][cols] into offset-binary q and FP32 scales, per group (load time). */
    public void quantizeW8(long w, long q, long scales, int rows, int cols, int group) {
        long tasks = (long) rows * ((cols + group - 1) / group);
        quantizeW8.p(0, w).p(1, q).p(2, scales).i(3, rows).i(4, cols).i(5, group)
                .launch(ctx, (int) ((tasks + 7) / 8), 1, 1, 256, 0);
    }

    private static int warpsLog2(int warpsPerRow) {
        return switch (warpsPerRow) {
            case 1 -> 0;
            case 2 -> 1;
            case 4 -> 2;
            case 8 -> 3;
            default -> throw new IllegalArgumentException("warps per row must be 1, 2, 4 or 8, got " + warpsPerRow);
        };
    }

    private static int gemvGrid(int out, int warpsPerRow) {
        int rowsPerCta = 8 / warpsPerRow;
        return (out + rowsPerCta - 1) / rowsPerCta;
    }

    /** Keeps the GPU busy for {@code ns} nanoseconds (benchmarks queue a step behind it; see gemv.cu). */
    public void spin(long ns) {
        spin.p(0, ns).launch(ctx, 1, 1, 1, 32, 0);
    }

    private static int grid(long n) {
        return (int) Math.min((n + 255) / 256, 1 << 20);
    }
}
