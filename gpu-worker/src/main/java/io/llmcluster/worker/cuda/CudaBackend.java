package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.cpu.RopeTable;
import io.llmcluster.worker.model.Llama3RopeScaling;
import io.llmcluster.worker.model.ModelConfig;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.sample.PlainRows;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jcuda.driver.CUgraphExec;

/**
 * The Llama-family forward pass on one NVIDIA GPU: the same {@link ModelBackend#forward} as the CPU backend,
 * with weights, GEMM inputs, q and the KV cache in FP16 (default) or BF16, and FP32 everywhere else: GEMM
 * accumulation and outputs, the residual stream, norms, softmax, logits. GEMM outputs stay FP32 because one
 * more 16-bit rounding per projection measurably moves logits: with FP16 outputs the tiny Llama's greedy
 * continuation of a reference prompt flipped at step 9 (top-2 margin 0.011), on the H200 and in a CPU
 * emulation of the same roundings alike.
 *
 * <p>Per layer: residual-add + RMSNorm kernel; one GEMM for q|k|v; RoPE + KV-cache write kernel; attention
 * ({@link AttentionKernels}: tensor-core flash prefill kernel for sequences with several new tokens, tensor-core
 * split-K paged decode kernel for single tokens); o_proj GEMM; residual-add + RMSNorm; one GEMM for gate|up; SwiGLU kernel; down GEMM. Then the final
 * norm for the logits rows only, the LM head GEMM with FP32 output, one copy to the host.
 *
 * <p>Memory: one {@link DeviceArena}, sized at start: weights, activations for {@code maxBatchTokens}, split-K
 * scratch, the step inputs, the cuBLAS workspace, and the KV block pool, which takes the configured bytes or a
 * fraction of the memory left free, plus one padding block outside the pool. Every per-step input lives at a
 * fixed device address; a step allocates nothing. The context is made current on the calling thread at each
 * step, so the engine thread that runs the steps owns it.
 *
 * <p>CUDA graphs ({@link CudaBackendOptions#cudaGraphs()}): a decode-only step (one token per sequence) is padded
 * to a batch-size bucket (powers of two up to maxSequences) with rows that write only the padding block, and
 * its block tables get a fixed stride; the step's whole launch sequence is captured once per (bucket, split
 * class) and replayed after one copy of the step inputs. The split class ({@link #splitPlan}) fixes the splits
 * and the positions per split for a range of contexts, and the stride follows from it, so a graph never depends
 * on a step's exact lengths. Other steps run eagerly.
 *
 * <p>INT8 KV cache ({@link CudaBackendOptions#kvCacheDtype()}, {@link KvCacheLayout}): K and V as bytes with an FP32
 * scale per (token, kv head), written by the quantizing RoPE kernel and dequantized by the tensor-core attention
 * kernels as tiles land in shared memory ({@link Int8KvKernels}); the pool gets ~1.9x the blocks for the same bytes.
 */
public final class CudaBackend implements ModelBackend {
    private static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;
    /** Device memory left outside the arena for the driver, cuBLAS internals and the kernel module. */
    private static final long RESERVE_BYTES = 512L << 20;
    private static final int MAX_SPLITS = 64;

    private final ModelConfig c;
    private final CudaBackendOptions o;
    private final CudaContext ctx;
    private DeviceArena arena;
    private Cublas cublas;
    private Projections proj;
    private int tunedChoices;
    private CudaKernels k;
    private AttentionKernels att;
    /** The INT8 KV cache's kernels; null for a cache of the run dtype. */
    private Int8KvKernels kv8;
    private final KvCacheLayout kvLayout;
    /** Blocks a cache of the run dtype would have had in the same bytes (the log's comparison). */
    private int unquantizedBlocks;
    private CudaWeights w;
    private PinnedBuffer stagingHost;
    private PinnedBuffer logitsHost;
    /** Host staging of the device sampler's per-row parameters for {@link #forwardPlain}; made on first use. */
    private MemorySegment samplingParamsHost;
    private StepInputs in;
    private Buffers buf;
    private int numBlocks;
    private int maxContext;
    /** Whether a split-K decode kernel serves this model's shape (else decode tokens take the prefill kernel). */
    private final boolean decodeKernel;
    private final int tokensPerTile;
    private CublasGemm cublasGemm;
    /** cuBLASLt for the autotuner's LT_k candidates at 128+ tokens; null where the library is missing. */
    private CublasLt cublasLt;
    /** Benchmark only: per-operation events of eager steps (graphs are bypassed while set). */
    private StepProfile profile;
    private Gemm decodeGemm;
    private Gemm mmaGemm;
    private boolean useGraphs;
    private int[] buckets;
    /** [bucket index][split class]: captured decode steps, made on first use. */
    private CUgraphExec[][] graphs;
    private int graphsCaptured;
    /** The split plan of the last step's decode attention (for {@link #repeatDecodeAttention}). */
    private int lastSplits;
    private int lastChunk;
    /** W8A8: the calibration's column maxima (null otherwise) and the projection path on INT8 tensor cores. */
    private final SmoothQuantCalibration.Stats calibration;
    private W8a8Gemm w8a8;
    /** Set while this backend runs a W8A8 calibration pass (a 16-bit backend): records projection-input maxima. */
    private SmoothQuantCalibration.Probe probe;
    /** Splits per decode token and kv head beyond which a longer context gets longer chunks instead (one GPU wave). */
    private int maxSplits;
    /**
     * Decode batches (graph buckets; eager steps use their bucket too) from which a context of up to maxSplits chunks
     * runs as one split of all its chunks instead of one split per chunk ({@link #splitPlan(int, int, int, boolean)}).
     */
    private int singleSplitMinBatch;

    /** Device activations and scratch, row-major [token][features]. */
    private record Buffers(long x, long xn, long qkv, long q, long attn, long delta, long gateUp, long act,
                           long finalXn, long logits, long partO, long partMl, long cos, long sin, long steps,
                           long sampled, long workspace, long[] kCache, long[] vCache, long[] kScale,
                           long[] vScale) {}

    public CudaBackend(ModelDirectory model, CudaBackendOptions options) {
        this.c = model.config();
        this.o = options;
        if (c.headDim() > CudaKernels.MAX_HEAD_DIM || c.hiddenSize() > CudaKernels.MAX_HIDDEN) {
            throw new IllegalArgumentException("the CUDA kernels support head_dim <= " + CudaKernels.MAX_HEAD_DIM
                    + " and hidden_size <= " + CudaKernels.MAX_HIDDEN + "; this model has " + c.headDim() + " and "
                    + c.hiddenSize());
        }
        if (options.kvCacheDtype() == KvCacheDtype.INT8 && !Int8KvKernels.supports(c.headDim())) {
            throw new IllegalArgumentException(Int8KvKernels.refusal(c.headDim()));
        }
        this.kvLayout = new KvCacheLayout(c.numLayers(), c.numKvHeads(), c.headDim(), options.kvBlockSize(),
                options.dtype().bytes(), options.kvCacheDtype());
        this.decodeKernel = AttentionKernels.decodeSupports(c.numHeads(), c.numKvHeads(), c.headDim());
        this.tokensPerTile = AttentionKernels.prefillTokensPerTile(c.groupSize(), c.headDim());
        // W8A8: a 16-bit pass over calibration tokens first (its own short-lived backend), then this one quantizes
        this.calibration = options.quantization().isW8a8() ? SmoothQuantCalibration.collect(model, options, System.err) : null;
        this.ctx = CudaContext.open(options.device());
        try {
            start(model);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private void start(ModelDirectory model) {
        k = new CudaKernels(ctx, o.dtype());
        att = new AttentionKernels(ctx, k);
        kv8 = kvLayout.int8() ? new Int8KvKernels(ctx, o.dtype()) : null;
        boolean ownHead = CudaWeights.separateLmHead(c, model.checkpoint());
        // 1. Plan everything but the KV pool on a counting arena.
        DeviceArena plan = DeviceArena.counting();
        new CudaWeights(c, o.dtype(), o.quantization(), ownHead, plan);
        int ropePositions = c.maxContextTokens();
        buffers(plan, ropePositions, 0, ropePositions);
        long fixed = plan.used();
        long perBlock = kvLayout.bytesPerBlock();
        // 2. Size the KV pool from what is free now that the context, module and cuBLAS library are loaded.
        long free = ctx.memoryInfo()[0];
        long kvBytes = o.kvCacheBytes();
        if (kvBytes == 0) {
            long needed = (long) o.maxSequences() * c.maxContextTokens() * perBlock / o.kvBlockSize();
            kvBytes = Math.min((long) ((free - fixed - RESERVE_BYTES) * o.kvMemoryFraction()), needed);
        }
        numBlocks = kvLayout.blocksFor(kvBytes);
        unquantizedBlocks = kvLayout.unquantized().blocksFor(kvBytes);
        if (numBlocks < 1) {
            throw new CudaException("no room for the KV cache on " + ctx + ": " + free + " bytes free, the weights and "
                    + "buffers take " + fixed + ", one block needs " + perBlock);
        }
        maxContext = Math.min(c.maxContextTokens(), numBlocks * o.kvBlockSize());
        // 3. One allocation; carve weights, buffers and the pool out of it; upload.
        arena = DeviceArena.allocate(fixed + (long) (numBlocks + 1) * perBlock + 2 * (4L * c.numLayers() + 64) * DeviceArena.ALIGNMENT);
        w = new CudaWeights(c, o.dtype(), o.quantization(), ownHead, arena);
        buf = buffers(arena, ropePositions, numBlocks + 1, maxContext);
        W8a8Kernels w8k = null;
        if (calibration != null) {
            w8k = new W8a8Kernels(ctx, o.dtype());
            double alpha = o.quantization().w8a8().alpha();
            float[][] sQkv = new float[c.numLayers()][];
            float[][] sGateUp = new float[c.numLayers()][];
            for (int l = 0; l < c.numLayers(); l++) {
                sQkv[l] = SmoothingFactors.of(calibration.qkvInput()[l], calibration.qkvWeight()[l], alpha);
                sGateUp[l] = SmoothingFactors.of(calibration.gateUpInput()[l], calibration.gateUpWeight()[l], alpha);
            }
            w.smoothWith(w8k, sQkv, sGateUp);
        }
        w.upload(model.checkpoint(), ctx, arena, k);
        uploadRope(ropePositions);
        cublas = new Cublas(ctx.stream().handle(), buf.workspace(), CUBLAS_WORKSPACE_BYTES);
        cublasGemm = new CublasGemm(cublas, o.dtype());
        mmaGemm = new MmaGemm(k);
        decodeGemm = new DecodeGemm(k, o.gemm() == GemmChoice.MMA ? mmaGemm : cublasGemm, DecodeGemm.DEFAULT_MAX_TOKENS);
        proj = new Projections(k, cublasGemm, mmaGemm, o.gemm(), o.decodeGemv(), w.int8Scratch,
                CudaWeights.INT8_SCRATCH_BYTES, CudaWeights.SHAPES);
        useCublasLt();
        if (w8k != null) {
            w8a8 = new W8a8Gemm(w8k, cublas, w.int8Scratch, CudaWeights.INT8_SCRATCH_BYTES);
            proj.useW8a8(w8a8);
        }
        if (o.autotune() != CudaBackendOptions.Autotune.OFF && o.gemm() == GemmChoice.AUTO && o.decodeGemv()) {
            autotune(o.autotune() == CudaBackendOptions.Autotune.RETUNE);
        }
        useGraphs = o.cudaGraphs();
        buckets = buckets(o.maxSequences(), o.maxBatchTokens());
        planDecodeSplits();
        long stagingInts = StepInputs.capacityInts(o.maxBatchTokens(), o.maxSequences(), maxContext, o.kvBlockSize());
        stagingHost = new PinnedBuffer(4 * stagingInts);
        logitsHost = new PinnedBuffer(4L * o.maxBatchTokens() * c.vocabSize());
        in = new StepInputs(o.maxBatchTokens(), o.maxSequences(), maxContext, o.kvBlockSize(), numBlocks, c.vocabSize(),
                tokensPerTile, decodeKernel, stagingHost.segment());
        warmUp();
    }

    /** cuBLASLt on the cuBLAS handle's stream and workspace, offered to the autotuner; without it, cublasGemmEx only. */
    private void useCublasLt() {
        if (!CublasLt.available()) {
            System.err.println("[cuda] cuBLASLt not found: large-batch projections use cublasGemmEx's own choice");
            return;
        }
        cublasLt = new CublasLt(ctx.stream().handle(), buf.workspace(), CUBLAS_WORKSPACE_BYTES);
        proj.useLt(cublasLt);
    }

    /** The decode split cap of the attention kernel in use, and the graph table sized for every class it plans. */
    private void planDecodeSplits() {
        maxSplits = kv8 != null ? kv8.maxDecodeSplits(c.numHeads(), c.numKvHeads(), c.headDim(), MAX_SPLITS)
                : att.maxDecodeSplits(c.numHeads(), c.numKvHeads(), c.headDim(), MAX_SPLITS);
        int tiles = (maxContext + AttentionKernels.DECODE_KEYS_PER_TILE - 1) / AttentionKernels.DECODE_KEYS_PER_TILE;
        graphs = new CUgraphExec[buckets.length][8 + (tiles + maxSplits - 1) / maxSplits]; // every class splitPlan makes
        singleSplitMinBatch = singleSplitMinBatch(maxSplits);
    }

    /** Times the projection kernels per (shape, token bucket) or takes the cached choices (see {@link Autotuner}). */
    private void autotune(boolean retune) {
        DeviceMatrix[] shapes = w.shapes();
        long[] inputs = new long[shapes.length];
        long[] outputs = new long[shapes.length];
        int inter = c.intermediateSize();
        for (DeviceMatrix m : shapes) {
            // inputs: a buffer of at least cols 16-bit columns; outputs: FP32, at least rows columns
            inputs[m.shape()] = m.cols() <= inter ? buf.act() : m.cols() <= c.qDim() ? buf.attn() : buf.xn();
            outputs[m.shape()] = m.rows() <= 2 * inter ? buf.gateUp() : buf.logits();
        }
        int maxTokens = Math.min(o.maxBatchTokens(), AutotunePolicy.BUCKETS[AutotunePolicy.BUCKETS.length - 1]);
        long e = o.dtype().bytes();
        ctx.fill32(arena, buf.act(), 0, e * maxTokens * inter / 4);
        ctx.fill32(arena, buf.attn(), 0, e * maxTokens * c.qDim() / 4);
        ctx.fill32(arena, buf.xn(), 0, e * maxTokens * c.hiddenSize() / 4);
        // W8A8 matrices always take the W8A8 path: only the 16-bit ones (the LM head) are tuned
        DeviceMatrix[][] tunable = java.util.Arrays.stream(w.byShape()).filter(row -> !row[0].w8a8())
                .toArray(DeviceMatrix[][]::new);
        // gate|up is timed with its SwiGLU, as queueLayers runs it (act: zeroed, so it stays zero for down's tuning)
        long[] swigluOut = new long[CudaWeights.SHAPES];
        if (!w.gateUp[0].w8a8()) {
            swigluOut[CudaWeights.SHAPE_GATE_UP] = buf.act();
        }
        tunedChoices = new Autotuner(ctx, proj, System.err).tune(tunable, inputs, outputs, swigluOut, maxTokens,
                o.dtype(), o.quantization(), Autotuner.cacheFile(o.autotuneDir(), ctx), retune);
    }

    /** 1, 2, 4, ... below min(maxSequences, maxBatchTokens), then that limit itself. */
    static int[] buckets(int maxSequences, int maxTokens) {
        int limit = Math.min(maxSequences, maxTokens);
        int count = 0;
        while ((1 << count) < limit) {
            count++;
        }
        int[] b = new int[count + 1];
        for (int i = 0; i < count; i++) {
            b[i] = 1 << i;
        }
        b[count] = limit;
        return b;
    }

    private Buffers buffers(DeviceArena a, int ropePositions, int blocks, int context) {
        int t = o.maxBatchTokens();
        long e = o.dtype().bytes();
        int h = c.hiddenSize();
        int splits = MAX_SPLITS;
        long[] kc = new long[c.numLayers()];
        long[] vc = new long[c.numLayers()];
        long[] ks = new long[c.numLayers()];
        long[] vs = new long[c.numLayers()];
        Buffers b = new Buffers(
                a.take(4L * t * h, "residual"), a.take(e * t * h, "normed"),
                a.take(4L * t * (c.qDim() + 2L * c.kvDim()), "qkv (FP32)"), a.take(e * t * c.qDim(), "q"),
                a.take(e * t * c.qDim(), "attention out"), a.take(4L * t * h, "delta (FP32)"),
                a.take(4L * t * 2L * c.intermediateSize(), "gate_up (FP32)"), a.take(e * t * c.intermediateSize(), "act"),
                a.take(e * t * h, "final normed"), a.take(4L * t * c.vocabSize(), "logits"),
                a.take(4L * o.maxSequences() * c.numHeads() * splits * CudaKernels.decodePartialFloats(c.headDim()), "split partials"),
                a.take(4L * o.maxSequences() * c.numHeads() * splits * 2, "split max/sum"),
                a.take(4L * ropePositions * (c.headDim() / 2), "rope cos"), a.take(4L * ropePositions * (c.headDim() / 2), "rope sin"),
                a.take(4 * StepInputs.capacityInts(t, o.maxSequences(), Math.max(context, 1), o.kvBlockSize()), "step inputs"),
                a.take(4L * t * (1 + CudaKernels.SAMPLE_PARAM_INTS), "sampled ids + sampling params"), a.take(CUBLAS_WORKSPACE_BYTES, "cuBLAS workspace"), kc, vc, ks, vs);
        long layerBytes = kvLayout.layerBytes(blocks);
        for (int l = 0; l < c.numLayers(); l++) {
            kc[l] = a.take(layerBytes, "K cache");
            vc[l] = a.take(layerBytes, "V cache");
            if (kvLayout.int8()) {
                ks[l] = a.take(kvLayout.layerScaleBytes(blocks), "K scales");
                vs[l] = a.take(kvLayout.layerScaleBytes(blocks), "V scales");
            }
        }
        return b;
    }

    /** The CPU backend's RoPE table (llama3 scaling included), uploaded once as FP32 [positions][headDim/2]. */
    private void uploadRope(int positions) {
        Llama3RopeScaling s = c.ropeScaling();
        RopeTable rope = new RopeTable(c.headDim(), positions, c.ropeTheta(), s == null ? null
                : new RopeTable.Llama3Scaling(s.factor(), s.lowFreqFactor(), s.highFreqFactor(), s.originalMaxPositions()));
        int half = c.headDim() / 2;
        try (Arena host = Arena.ofConfined()) {
            MemorySegment cos = host.allocate(4L * positions * half, 64);
            MemorySegment sin = host.allocate(4L * positions * half, 64);
            for (int p = 0; p < positions; p++) {
                for (int i = 0; i < half; i++) {
                    cos.setAtIndex(JAVA_FLOAT, (long) p * half + i, rope.cos(p, i));
                    sin.setAtIndex(JAVA_FLOAT, (long) p * half + i, rope.sin(p, i));
                }
            }
            ctx.copyToDevice(cos, arena, buf.cos());
            ctx.copyToDevice(sin, arena, buf.sin());
        }
    }

    /** A prefill step and a decode step, so every kernel and cuBLAS has run once before the first request. */
    private void warmUp() {
        int n = Math.min(o.maxBatchTokens(), Math.min(maxContext - 1, 64));
        int[] table = new int[(n + 1 + o.kvBlockSize() - 1) / o.kvBlockSize()];
        ForwardBatch b = new ForwardBatch(o.maxBatchTokens(), 1);
        if (n >= 1) {
            b.addSequence(new int[n + 1], 0, n, 0, table, ForwardBatch.Logits.LAST);
            forward(b);
            b.clear();
            b.addSequence(new int[n + 1], n, 1, n, table, ForwardBatch.Logits.LAST);
            forward(b);
        }
    }

    @Override
    public MemorySegment forward(ForwardBatch b) {
        run(b);
        int rows = b.numLogits();
        if (rows > 0) {
            logitsHost.copyFromDevice(ctx, arena, buf.logits(), 4L * rows * c.vocabSize());
        }
        ctx.synchronize();
        return logitsHost.segment();
    }

    /**
     * The GPU sampling path: the forward pass, then greedy argmax on the device; only the ids cross to the host.
     * {@code out[r]} gets the token of logits row r.
     */
    public void forwardGreedy(ForwardBatch b, int[] out) {
        run(b);
        int rows = b.numLogits();
        if (rows > 0) {
            k.argmax(buf.logits(), rows, c.vocabSize(), buf.sampled());
            logitsHost.copyFromDevice(ctx, arena, buf.sampled(), 4L * rows);
        }
        ctx.synchronize();
        for (int r = 0; r < rows; r++) {
            out[r] = logitsHost.segment().getAtIndex(JAVA_INT, r);
        }
    }

    /**
     * The engine's path for a step whose rows are all plain: the argmax on the device when every row is greedy
     * ({@link #forwardGreedy}), else the device sampler with each row's settings, seed and draw index
     * ({@link #forwardSampled}). Only the ids come back, never the logits.
     */
    @Override
    public void forwardPlain(ForwardBatch b, PlainRows rows, int[] out) {
        if (rows.allGreedy()) {
            forwardGreedy(b, out);
            return;
        }
        if (samplingParamsHost == null || samplingParamsHost.byteSize() < 4L * CudaKernels.SAMPLE_PARAM_INTS * rows.size()) {
            samplingParamsHost = Arena.ofAuto().allocate(4L * CudaKernels.SAMPLE_PARAM_INTS * Math.max(rows.size(), o.maxSequences()), 8);
        }
        for (int r = 0; r < rows.size(); r++) {
            SamplingRow.write(samplingParamsHost, r, rows.params(r), c.vocabSize(), rows.seed(r), rows.drawIndex(r));
        }
        forwardSampled(b, samplingParamsHost, out);
    }

    /**
     * The GPU sampling path for any sampling parameters: the forward pass, then temperature, top-k, top-p, min-p and
     * a seeded draw per logits row on the device (sampling_topkp.cu); only the parameters go up and the ids come
     * back. {@code params} holds {@link CudaKernels#SAMPLE_PARAM_INTS} ints per row as {@link SamplingRow} writes
     * them; {@code out[r]} gets the token of logits row r. Penalties and logprobs are not applied here.
     */
    public void forwardSampled(ForwardBatch b, MemorySegment params, int[] out) {
        run(b);
        int rows = b.numLogits();
        sampleOnDevice(params, rows, out);
    }

    /** Samples the {@code rows} logits rows the last step left on the device; see {@link #forwardSampled}. */
    void sampleOnDevice(MemorySegment params, int rows, int[] out) {
        if (rows == 0) {
            return;
        }
        long paramBytes = 4L * CudaKernels.SAMPLE_PARAM_INTS * rows;
        long paramsDev = buf.sampled() + 4L * o.maxBatchTokens();
        MemorySegment.copy(params, 0, logitsHost.segment(), 0, paramBytes);
        logitsHost.copyToDevice(ctx, arena, paramsDev, paramBytes);
        k.sample(buf.logits(), c.vocabSize(), rows, c.vocabSize(), paramsDev, buf.sampled());
        // stream order: the parameters are on the device before the ids overwrite the host buffer's start
        logitsHost.copyFromDevice(ctx, arena, buf.sampled(), 4L * rows);
        ctx.synchronize();
        for (int r = 0; r < rows; r++) {
            out[r] = logitsHost.segment().getAtIndex(JAVA_INT, r);
        }
    }

    /** Queues the whole step; the FP32 logits rows end in {@code buf.logits()}. */
    void run(ForwardBatch b) {
        ctx.makeCurrent();
        if (useGraphs && profile == null && runCaptured(b)) {
            return;
        }
        in.pack(b);
        stagingHost.copyToDevice(ctx, arena, buf.steps(), 4L * in.usedInts);
        int[] plan = in.numDecodes > 0 ? splitPlan(in.maxDecodeContext, bucketOf(in.numDecodes)) : new int[3];
        lastSplits = plan[1];
        lastChunk = plan[2];
        queueStep(plan[1], plan[2]);
    }

    /**
     * {split class, splits, positions per split} of the decode attention for a step whose longest decode context
     * is {@code maxCtx}. Up to {@code maxSplits} chunks of decodeChunkTokens: a power of two of splits (class =
     * its log2, at most 6; splits past the context exit at once). Longer: {@code maxSplits} splits (one wave of
     * the GPU at batch 1) of k decode tiles each, k = ceil(tiles / maxSplits) (class 7 + k), so a 32k context
     * keeps every SM streaming. Eager and captured steps use the same plan, so a graph replay computes exactly
     * what the eager step does. (Before: chunks grew by powers of two past 64 splits, so a 32k context ran on 33
     * of 64 splits of 1024 positions, 42% of the HBM bandwidth.)
     */
    private int[] splitPlan(int maxCtx, int batch) {
        return splitPlan(maxCtx, o.decodeChunkTokens(), maxSplits, batch >= singleSplitMinBatch);
    }

    /** The graph bucket of a decode batch of {@code n} (n itself past the largest bucket): the batch the plan sees. */
    private int bucketOf(int n) {
        for (int bucket : buckets) {
            if (bucket >= n) {
                return bucket;
            }
        }
        return n;
    }

    /**
     * One wave: from {@code maxSplits} decodes on (maxSplits = decode CTAs per wave / kv heads), the kv heads alone fill
     * every SM's CTA slots, and splitting a context into chunks of 128 only adds CTAs that each stream one or two 64-key
     * tiles behind the same fixed start-up cost (load q, block table, a partial to write and reduce). H200, 8B shape,
     * 128-160 context (2 splits before), graph decode step device ms split plan -> one split: b64 5.73 -> 5.62, b128
     * 6.91 -> 6.58, b256 10.04 -> 9.47, b512 17.69 -> 16.49 (decode attention at b256 98 -> 81 µs a layer).
     */
    static int singleSplitMinBatch(int maxSplits) {
        return maxSplits;
    }

    /**
     * {@link #splitPlan(int, int)} for chunks of {@code ct} positions and at most {@code maxSplits} (1..64) splits;
     * {@code single}: a context of up to maxSplits chunks takes one split of {@code 2^class} chunks (same class numbers,
     * so a bucket's graphs stay as many).
     */
    static int[] splitPlan(int maxCtx, int ct, int maxSplits, boolean single) {
        int need = (maxCtx + ct - 1) / ct;
        if (need <= maxSplits) {
            int cls = 0;
            while ((1 << cls) < need) {
                cls++;
            }
            return single ? new int[] {cls, 1, ct << cls} : new int[] {cls, 1 << cls, ct};
        }
        int tile = AttentionKernels.DECODE_KEYS_PER_TILE;
        int k = ((maxCtx + tile - 1) / tile + maxSplits - 1) / maxSplits;
        return new int[] {7 + k, maxSplits, tile * k};
    }

    /** A decode-only step through its captured graph; false (nothing queued) when {@code b} is not one. */
    private boolean runCaptured(ForwardBatch b) {
        int n = b.numTokens();
        if (n == 0 || n != b.numSequences()) {
            return false;
        }
        int bi = 0;
        while (bi < buckets.length && buckets[bi] < n) {
            bi++;
        }
        if (bi == buckets.length) {
            return false;
        }
        int maxCtx = 0;
        for (int t = 0; t < n; t++) {
            maxCtx = Math.max(maxCtx, b.position(t) + 1);
        }
        int[] plan = splitPlan(maxCtx, buckets[bi]);
        int cls = plan[0];
        int splits = plan[1];
        int chunk = plan[2];
        int perSeq = (maxContext + o.kvBlockSize() - 1) / o.kvBlockSize();
        if (cls >= graphs[bi].length) {
            return false; // not a class planned for (cannot happen within maxContext): run eagerly
        }
        int stride = (int) Math.min(perSeq, ((long) splits * chunk + o.kvBlockSize() - 1) / o.kvBlockSize());
        if (!in.packDecodes(b, buckets[bi], stride, numBlocks)) {
            return false;
        }
        stagingHost.copyToDevice(ctx, arena, buf.steps(), 4L * in.usedInts);
        lastSplits = splits;
        lastChunk = chunk;
        CUgraphExec g = graphs[bi][cls];
        if (g == null) {
            ctx.beginCapture();
            try {
                queueStep(splits, chunk);
            } catch (RuntimeException | Error e) {
                ctx.abortCapture();
                throw e;
            }
            g = graphs[bi][cls] = ctx.endCapture();
            graphsCaptured++;
        }
        ctx.launch(g);
        return true;
    }

    /**
     * Queues the forward pass for what {@link #in} holds (already on the device); its kernels launch as programmatic
     * dependents of the one before where the GPU allows ({@link DependentLaunch}).
     */
    private void queueStep(int splits, int chunk) {
        DependentLaunch d = ctx.dependentLaunch();
        d.beginStep();
        if (profile != null) {
            profile.begin();
        }
        try {
            queueLayers(splits, chunk);
        } finally {
            d.endStep();
        }
    }

    private void queueLayers(int splits, int chunk) {
        int n = in.numTokens;
        int h = c.hiddenSize();
        float eps = (float) c.rmsNormEps();
        long ids = at(in.ids);
        long positions = at(in.positions);
        long tables = at(in.blockTables);
        k.embedding(ids, w.embedding, buf.x(), n, h);
        mark(StepProfile.Op.EMBEDDING);
        for (int l = 0; l < c.numLayers(); l++) {
            if (l == 0) {
                k.rmsnorm(buf.x(), w.inputNorm[0], buf.xn(), n, h, eps);
            } else {
                k.residualRmsnorm(buf.delta(), buf.x(), w.inputNorm[l], buf.xn(), n, h, eps);
            }
            mark(StepProfile.Op.NORM);
            if (probe != null) {
                probe.record(l, SmoothQuantCalibration.Probe.QKV, buf.xn(), n);
            }
            proj.linear(buf.xn(), w.qkv[l], buf.qkv(), n, true);
            mark(StepProfile.Op.QKV);
            if (kv8 != null) {
                kv8.ropeKvWrite(buf.qkv(), w.qkvBias[l], positions, at(in.seqOfToken), tables, in.tableStride, buf.cos(),
                        buf.sin(), buf.q(), buf.kCache()[l], buf.vCache()[l], buf.kScale()[l], buf.vScale()[l], n,
                        c.numHeads(), c.numKvHeads(), c.headDim(), o.kvBlockSize());
            } else {
                k.ropeKvWrite(buf.qkv(), w.qkvBias[l], positions, at(in.seqOfToken), tables, in.tableStride, buf.cos(),
                        buf.sin(), buf.q(), buf.kCache()[l], buf.vCache()[l], n, c.numHeads(), c.numKvHeads(), c.headDim(),
                        o.kvBlockSize());
            }
            mark(StepProfile.Op.ROPE_KV);
            attention(l, positions, tables, splits, chunk);
            mark(StepProfile.Op.ATTENTION);
            proj.linear(buf.attn(), w.o[l], buf.delta(), n, true);
            if (w.oBias[l] != 0) {
                k.addBias(buf.delta(), w.oBias[l], n, h);
            }
            mark(StepProfile.Op.O_PROJ);
            k.residualRmsnorm(buf.delta(), buf.x(), w.postNorm[l], buf.xn(), n, h, eps);
            mark(StepProfile.Op.NORM);
            if (probe != null) {
                probe.record(l, SmoothQuantCalibration.Probe.GATE_UP, buf.xn(), n);
            }
            if (w.gateUp[l].w8a8()) {
                w8a8.gateUpSiluMul(buf.xn(), w.gateUp[l], buf.gateUp(), buf.act(), n); // epilogue fused into SwiGLU
            } else {
                proj.swiglu(buf.xn(), w.gateUp[l], buf.gateUp(), buf.act(), n);
            }
            mark(StepProfile.Op.GATE_UP_SWIGLU);
            proj.linear(buf.act(), w.down[l], buf.delta(), n, true);
            mark(StepProfile.Op.DOWN);
        }
        int rows = in.numLogits;
        k.gatherResidualRmsnorm(buf.delta(), buf.x(), at(in.logitRows), w.finalNorm, buf.finalXn(), rows, h, eps);
        mark(StepProfile.Op.FINAL_NORM);
        proj.linear(buf.finalXn(), w.lmHead, buf.logits(), rows, true);
        mark(StepProfile.Op.LM_HEAD);
    }

    /** Benchmark only: the end of {@code op} in the attached profile (an event breaks the programmatic-launch chain). */
    private void mark(StepProfile.Op op) {
        if (profile != null) {
            profile.mark(op);
            k.dependentLaunch().foreignWorkQueued();
        }
    }

    private void attention(int layer, long positions, long tables, int splits, int chunk) {
        if (in.numTiles > 0) {
            prefillAttention(layer, positions, tables);
        }
        if (in.numDecodes > 0) {
            decodeAttention(layer, positions, tables, splits, chunk);
        }
    }

    private void prefillAttention(int layer, long positions, long tables) {
        if (kv8 != null) {
            kv8.prefill(buf.q(), buf.kCache()[layer], buf.vCache()[layer], buf.kScale()[layer], buf.vScale()[layer],
                    buf.attn(), at(in.tiles), in.numTiles, positions, tables, in.tableStride, c.numHeads(),
                    c.numKvHeads(), c.headDim(), o.kvBlockSize(), att.mmaPrefillVariant());
            return;
        }
        att.prefill(buf.q(), buf.kCache()[layer], buf.vCache()[layer], buf.attn(), at(in.tiles), in.numTiles,
                positions, tables, in.tableStride, c.numHeads(), c.numKvHeads(), c.headDim(), o.kvBlockSize());
    }

    private void decodeAttention(int layer, long positions, long tables, int splits, int chunk) {
        if (kv8 != null) {
            kv8.decode(buf.q(), buf.kCache()[layer], buf.vCache()[layer], buf.kScale()[layer], buf.vScale()[layer],
                    buf.partO(), buf.partMl(), buf.attn(), at(in.decodes), in.numDecodes, positions, tables,
                    in.tableStride, c.numHeads(), c.numKvHeads(), c.headDim(), o.kvBlockSize(), chunk, splits);
            return;
        }
        att.decode(buf.q(), buf.kCache()[layer], buf.vCache()[layer], buf.partO(), buf.partMl(), buf.attn(),
                at(in.decodes), in.numDecodes, positions, tables, in.tableStride, c.numHeads(), c.numKvHeads(),
                c.headDim(), o.kvBlockSize(), chunk, splits);
    }

    /** Device address of int {@code index} of the step inputs. */
    private long at(int index) {
        return buf.steps() + 4L * index;
    }

    // Benchmark and test access (package-private): switch the decode paths at run time, reach the parts.

    /**
     * Turns graph replay on or off (captured graphs are kept); the GEMV path too (off: tuned choices and the 16-bit
     * GEMV fallback off, so 16-bit projections take the large GEMM), which drops the graphs.
     */
    void setDecodePaths(boolean graphsOn, boolean gemvOn) {
        ctx.makeCurrent();
        ctx.synchronize();
        if (gemvOn != gemvPaths) {
            gemvPaths = gemvOn;
            proj.setPaths(gemvOn, gemvOn);
            dropGraphs();
        }
        useGraphs = graphsOn;
    }

    private boolean gemvPaths = true;

    /** Benchmark switch: per-operation events on eager steps ({@code p}), or none (null); graphs are bypassed while set. */
    void setProfile(StepProfile p) {
        profile = p;
    }

    /**
     * Benchmark and test switch: decode batches from {@code minBatch} on take one split per context of up to maxSplits
     * chunks (default {@link #singleSplitMinBatch(int)}; Integer.MAX_VALUE: never). Drops the graphs.
     */
    void setSingleSplitMinBatch(int minBatch) {
        ctx.makeCurrent();
        ctx.synchronize();
        singleSplitMinBatch = minBatch;
        dropGraphs();
    }

    /**
     * Benchmark and test switch: decode tokens per CTA of the 16-bit tensor-core decode attention
     * ({@link AttentionKernels#setDecodeItemsPerCta}; 0: the one-token kernel and the reduce). Drops the graphs.
     */
    void setDecodeItemsPerCta(int items) {
        ctx.makeCurrent();
        ctx.synchronize();
        att.setDecodeItemsPerCta(items);
        dropGraphs();
    }

    /** Benchmark and test switch: the warp-per-task decode kernel ({@link AttentionKernels#setDecodeWarpVariant}). Drops the graphs. */
    void setDecodeWarpVariant(int variant) {
        ctx.makeCurrent();
        ctx.synchronize();
        att.setDecodeWarpVariant(variant);
        dropGraphs();
    }

    /** Benchmark and test switch: K/V stages of the items decode kernel ({@link AttentionKernels#setDecodeItemStages}). Drops the graphs. */
    void setDecodeItemStages(int stages) {
        ctx.makeCurrent();
        ctx.synchronize();
        att.setDecodeItemStages(stages);
        dropGraphs();
    }

    int maxDecodeSplits() {
        return maxSplits;
    }

    /** Benchmark switch: the autotuner's cuBLASLt choices on, or cublasGemmEx in their place. Drops the graphs. */
    void setCublasLt(boolean on) {
        ctx.makeCurrent();
        ctx.synchronize();
        proj.setLt(on);
        dropGraphs();
    }

    /**
     * Benchmarks and tests: the INT8 KV decode variant with {@code stages} byte stages ({@link Int8KvKernels#DECODE_STAGES});
     * the split cap is planned again for it and captured graphs are dropped.
     */
    void setInt8DecodeStages(int stages) {
        if (kv8 == null) {
            throw new IllegalStateException("not an INT8 KV cache");
        }
        ctx.makeCurrent();
        ctx.synchronize();
        kv8.setDecodeStages(stages);
        dropGraphs();
        planDecodeSplits();
    }

    private void dropGraphs() {
        for (CUgraphExec[] row : graphs) {
            for (int i = 0; i < row.length; i++) {
                if (row[i] != null) {
                    ctx.destroy(row[i]);
                    row[i] = null;
                }
            }
        }
    }

    KvCacheLayout kvLayout() {
        return kvLayout;
    }

    /**
     * Benchmark and test switch: programmatic dependent launches and the SwiGLU fused into the gate|up kernel, each on
     * or off (both on by default; PDL only where supported). Drops the captured graphs.
     */
    void setFusion(boolean dependentLaunches, boolean fusedSwiglu) {
        ctx.makeCurrent();
        ctx.synchronize();
        ctx.dependentLaunch().setEnabled(dependentLaunches);
        proj.setFusedSwiglu(fusedSwiglu);
        dropGraphs();
    }

    /** Benchmark and test switch: the gate|up GEMM's output in the run dtype (default) or FP32 ({@link Projections#setGateUp16}). Drops the graphs. */
    void setGateUp16(boolean on) {
        ctx.makeCurrent();
        ctx.synchronize();
        proj.setGateUp16(on);
        dropGraphs();
    }

    /** Hooks a W8A8 calibration probe into the steps (null unhooks it); eager steps only (graphs are off there). */
    void setCalibrationProbe(SmoothQuantCalibration.Probe p) {
        this.probe = p;
    }

    /** The W8A8 projection path, or null. */
    W8a8Gemm w8a8Gemm() {
        return w8a8;
    }

    Projections projections() {
        return proj;
    }

    int graphsCaptured() {
        return graphsCaptured;
    }

    CudaContext context() {
        return ctx;
    }

    CudaKernels kernels() {
        return k;
    }

    AttentionKernels attention() {
        return att;
    }

    Gemm cublasGemm() {
        return cublasGemm;
    }

    Gemm decodeGemm() {
        return decodeGemm;
    }

    Gemm mmaGemm() {
        return mmaGemm;
    }

    CudaWeights weights() {
        return w;
    }

    /** The last layer's prefill attention again, on what the last step left in q and the KV cache. */
    void repeatPrefillAttention() {
        prefillAttention(c.numLayers() - 1, at(in.positions), at(in.blockTables));
    }

    /** The last layer's decode attention again (split kernel and reduce), with the last step's inputs and split plan. */
    void repeatDecodeAttention() {
        decodeAttention(c.numLayers() - 1, at(in.positions), at(in.blockTables), lastSplits, lastChunk);
    }

    /**
     * Activation buffers large enough for maxBatchTokens rows of any projection's input and FP32 output, then the
     * logits buffer (room for another such input, e.g. a SwiGLU output).
     */
    long[] gemmScratch() {
        return new long[] {buf.act(), buf.gateUp(), buf.logits()};
    }

    @Override
    public int vocabSize() {
        return c.vocabSize();
    }

    @Override
    public int numKvBlocks() {
        return numBlocks;
    }

    @Override
    public int kvBlockSize() {
        return o.kvBlockSize();
    }

    @Override
    public KvCacheDtype kvCacheDtype() {
        return o.kvCacheDtype();
    }

    /** Blocks a KV cache of the run dtype would have in the pool's bytes (= {@link #numKvBlocks} without INT8). */
    public int unquantizedKvBlocks() {
        return unquantizedBlocks;
    }

    @Override
    public int maxBatchTokens() {
        return o.maxBatchTokens();
    }

    @Override
    public int maxSequences() {
        return o.maxSequences();
    }

    /**
     * 256: on the 8B shape a decode step costs ~4.5-8 ms and a 2048-token prefill step ~60 ms (~29 µs a token, the
     * GEMMs compute-bound). A step of 64 decodes + 256 prompt tokens (~320 rows) is at about twice the rows where the
     * GEMMs turn compute-bound (~180 = FLOP/s over bytes/s), so it costs ~9 ms: a bounded stall instead of 60 ms, while
     * prompts still go in at ~28k tokens/s (2048/60 ms = 34k uncapped). docs/gpu.md, "Prefill while decoding".
     */
    @Override
    public int preferredPrefillTokensWhileDecoding() {
        return 256;
    }

    /** Positions a sequence may reach: the model's context, capped by the KV pool. */
    public int maxContextTokens() {
        return maxContext;
    }

    /** Bytes of the device arena (weights, activations, scratch and KV pool). */
    public long arenaBytes() {
        return arena == null ? 0 : arena.capacity();
    }

    @Override
    public String describe() {
        return "cuda " + ctx + ", " + o.dtype() + (o.quantization().int8() ? " activations, INT8 weights ("
                + (o.quantization().groupSize() == 0 ? "per-channel" : "group " + o.quantization().groupSize()) + " scales)"
                : "") + (o.quantization().isW8a8() ? " activations, W8A8 SmoothQuant (alpha " + o.quantization().w8a8().alpha()
                + ", calibrated on " + calibration.tokens() + " tokens) for q|k|v, o, gate|up, down: " + w8a8.describe()
                + "; LM head" : "") + ", " + proj.describe(o.quantization().int8(), tunedChoices) + (useGraphs ? ", CUDA graphs for decode steps (buckets up to "
                + buckets[buckets.length - 1] + ")" : ", no CUDA graphs") + ", arena " + (arena.capacity() >> 20)
                + " MiB, " + (ctx.dependentLaunch().active() ? "programmatic dependent launches" : "ordered launches")
                + (proj.fusedSwiglu() ? ", SwiGLU fused into GEMV/skinny gate|up" : "") + ", KV " + kvDescription() + ", attention "
                + AttentionKernels.describe(c.numHeads(), c.numKvHeads(), c.headDim()) + " (at most " + maxSplits
                + " splits per kv head)";
    }

    /** The KV pool for the log: blocks, and for INT8 what the run dtype would have held in the same bytes. */
    private String kvDescription() {
        String pool = numBlocks + " blocks × " + o.kvBlockSize() + " tokens";
        if (!kvLayout.int8()) {
            return pool + " (" + o.dtype() + ")";
        }
        return pool + " (INT8 + FP32 scale per token and kv head, " + (kvLayout.bytesPerBlock() >> 10) + " KiB a block; "
                + o.dtype() + " KV would hold " + unquantizedBlocks + " blocks in the same "
                + ((long) numBlocks * kvLayout.bytesPerBlock() >> 20) + " MiB: " + String.format(java.util.Locale.ROOT,
                "%.2fx", numBlocks / (double) Math.max(1, unquantizedBlocks)) + ")";
    }

    @Override
    public void close() {
        ctx.makeCurrent();
        try {
            ctx.synchronize();
        } catch (CudaException ignored) {
            // a failed step's error was already reported; free what we hold regardless
        }
        if (graphs != null) {
            for (CUgraphExec[] row : graphs) {
                for (CUgraphExec g : row) {
                    if (g != null) {
                        ctx.destroy(g);
                    }
                }
            }
        }
        if (cublasLt != null) {
            cublasLt.close();
        }
        if (cublasGemm != null) {
            cublasGemm.close();
        } else if (cublas != null) {
            cublas.close();
        }
        if (logitsHost != null) {
            logitsHost.close();
        }
        if (stagingHost != null) {
            stagingHost.close();
        }
        if (att != null) {
            att.close();
        }
        if (arena != null) {
            arena.close();
        }
        ctx.close();
    }
}
