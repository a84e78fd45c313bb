package io.llmcluster.worker.cpu;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.model.Llama3RopeScaling;
import io.llmcluster.worker.model.ModelConfig;
import io.llmcluster.worker.model.ModelDirectory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The Llama-family forward pass on the CPU: Vector API kernels, FP32 activations and KV (or INT8 KV with
 * {@code --kv-cache-dtype int8}: {@link PagedAttentionInt8}) off-heap, every
 * buffer sized once for {@link CpuBackendOptions#maxBatchTokens()}. A step runs layer by layer over all of
 * the batch's tokens at once (prefill chunks and decode tokens of many sequences alike); keys and values
 * go straight into the paged {@link KvCacheArena} and attention reads them back through block tables.
 * Parallel phases reuse preallocated {@link RangeTask}s, so a step allocates nothing.
 */
public final class CpuBackend implements ModelBackend {
    private final ModelConfig c;
    private final CpuBackendOptions options;
    private final CpuThreadPool pool;
    private final Arena arena = Arena.ofShared();
    private final CpuWeights w;
    private final RopeTable rope;
    private final KvCacheArena kv;
    private final int maxContext;
    private final float scale;
    // Activations, row-major [token][features].
    private final MemorySegment x;      // residual stream [T][hidden]
    private final MemorySegment xn;     // normed input / projection output [T][hidden]
    private final MemorySegment q;      // [T][numHeads*headDim]
    private final MemorySegment k;      // [T][numKvHeads*headDim]
    private final MemorySegment v;      // [T][numKvHeads*headDim]
    private final MemorySegment attn;   // attention output [T][numHeads*headDim]
    private final MemorySegment gate;   // [T][intermediate], holds silu(gate)*up after the activation
    private final MemorySegment up;     // [T][intermediate]
    private final MemorySegment logits; // [T][vocab]
    private final float[][] scoreScratch;
    private final RangeTask addNormTask = this::addAndNormRange;
    private final RangeTask ropeKvTask = this::ropeAndStoreKvRange;
    private final RangeTask attentionTask = this::attentionRange;
    private final RangeTask swigluTask = this::swigluRange;
    private ForwardBatch batch;
    private int layer;
    private MemorySegment normWeight;
    private boolean addBeforeNorm;

    public CpuBackend(ModelDirectory model, CpuBackendOptions options) {
        this.c = model.config();
        this.options = options;
        this.pool = new CpuThreadPool(options.threads());
        try {
            this.w = new CpuWeights(c, model.checkpoint(), arena, pool, options.quantizeInt8());
            int t = options.maxBatchTokens();
            x = buffer(t, c.hiddenSize());
            xn = buffer(t, c.hiddenSize());
            q = buffer(t, c.qDim());
            k = buffer(t, c.kvDim());
            v = buffer(t, c.kvDim());
            attn = buffer(t, c.qDim());
            gate = buffer(t, c.intermediateSize());
            up = buffer(t, c.intermediateSize());
            logits = buffer(t, c.vocabSize());
            int blocks = kvBlocks();
            this.kv = new KvCacheArena(c.numLayers(), blocks, options.kvBlockSize(), c.numKvHeads(), c.headDim(), int8Kv(),
                    arena);
            this.maxContext = Math.min(c.maxContextTokens(), blocks * options.kvBlockSize());
            Llama3RopeScaling s = c.ropeScaling();
            this.rope = new RopeTable(c.headDim(), maxContext, c.ropeTheta(), s == null ? null
                    : new RopeTable.Llama3Scaling(s.factor(), s.lowFreqFactor(), s.highFreqFactor(), s.originalMaxPositions()));
            this.scale = (float) (1.0 / Math.sqrt(c.headDim()));
            scoreScratch = new float[pool.threads()][c.groupSize() * maxContext];
            warmUp();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * Blocks for the KV pool: the configured bytes, or a fraction of the physical memory left free once the
     * weights are paged in and the activations allocated, capped at what maxSequences full contexts need.
     */
    private int kvBlocks() {
        long perBlock = KvCacheArena.bytesPerBlock(c.numLayers(), options.kvBlockSize(), c.numKvHeads(), c.headDim(), int8Kv());
        long bytes = options.kvCacheBytes();
        if (bytes == 0) {
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            long needed = (long) options.maxSequences() * c.maxContextTokens() * perBlock / options.kvBlockSize();
            bytes = Math.min((long) (os.getFreeMemorySize() * options.kvMemoryFraction()), needed);
        }
        int blocks = (int) Math.min(1 << 24, bytes / perBlock);
        if (blocks < 1) {
            throw new IllegalArgumentException("no room for the KV cache: " + bytes + " bytes, one block needs " + perBlock);
        }
        return blocks;
    }

    /** One step over a full batch so the JIT compiles the kernels before the first request. */
    private void warmUp() {
        ForwardBatch b = new ForwardBatch(options.maxBatchTokens(), 1);
        int n = Math.min(options.maxBatchTokens(), Math.min(maxContext, 64));
        b.addSequence(new int[n], 0, n, 0, new int[(n + kv.blockSize() - 1) / kv.blockSize()], ForwardBatch.Logits.LAST);
        forward(b);
    }

    private MemorySegment buffer(int rows, int cols) {
        return arena.allocate((long) rows * cols * Float.BYTES, 64);
    }

    @Override
    public MemorySegment forward(ForwardBatch b) {
        int n = b.numTokens();
        for (int t = 0; t < n; t++) {
            int pos = b.position(t);
            if (pos >= maxContext) {
                throw new IllegalArgumentException("position " + pos + " is beyond the context of " + maxContext + " tokens");
            }
            w.embedding.copyRowTo(b.tokenId(t), x, (long) t * c.hiddenSize());
        }
        batch = b;
        for (layer = 0; layer < c.numLayers(); layer++) {
            LayerWeights lw = w.layers[layer];
            normRows(lw.attentionNorm(), false, n);
            lw.q().forward(xn, 0, n, q, 0);
            lw.k().forward(xn, 0, n, k, 0);
            lw.v().forward(xn, 0, n, v, 0);
            pool.parallelFor(n, 1, ropeKvTask);
            pool.parallelFor(n * c.numKvHeads(), 1, attentionTask);
            lw.o().forward(attn, 0, n, xn, 0);
            normRows(lw.mlpNorm(), true, n);
            lw.gate().forward(xn, 0, n, gate, 0);
            lw.up().forward(xn, 0, n, up, 0);
            pool.parallelFor(n, 1, swigluTask);
            lw.down().forward(gate, 0, n, xn, 0);
            addResidual(n);
        }
        int rows = b.numLogits();
        int h = c.hiddenSize();
        for (int r = 0; r < rows; r++) { // gather the rows that need logits to the front of xn
            MemorySegment.copy(x, (long) b.logitToken(r) * h * Float.BYTES, xn, (long) r * h * Float.BYTES, (long) h * Float.BYTES);
        }
        for (int r = 0; r < rows; r++) {
            CpuKernels.rmsNorm(xn, (long) r * h, w.finalNorm, 0, xn, (long) r * h, h, (float) c.rmsNormEps());
        }
        w.lmHead.forward(xn, 0, rows, logits, 0);
        batch = null;
        return logits;
    }

    /** xn = rmsNorm(x) per token; with {@code addFirst}, x += xn (the previous block's output) before. */
    private void normRows(MemorySegment weight, boolean addFirst, int n) {
        normWeight = weight;
        addBeforeNorm = addFirst;
        pool.parallelFor(n, 1, addNormTask);
    }

    private void addAndNormRange(int worker, int start, int end) {
        int h = c.hiddenSize();
        float eps = (float) c.rmsNormEps();
        for (int t = start; t < end; t++) {
            long off = (long) t * h;
            if (addBeforeNorm) {
                CpuKernels.add(x, off, xn, off, h);
            }
            CpuKernels.rmsNorm(x, off, normWeight, 0, xn, off, h, eps);
        }
    }

    private void addResidual(int n) {
        int h = c.hiddenSize();
        for (int t = 0; t < n; t++) {
            CpuKernels.add(x, (long) t * h, xn, (long) t * h, h);
        }
    }

    private boolean int8Kv() {
        return options.kvCacheDtype() == KvCacheDtype.INT8;
    }

    private void ropeAndStoreKvRange(int worker, int start, int end) {
        for (int t = start; t < end; t++) {
            int pos = batch.position(t);
            rope.apply(q, (long) t * c.qDim(), c.numHeads(), c.headDim(), pos);
            rope.apply(k, (long) t * c.kvDim(), c.numKvHeads(), c.headDim(), pos);
            int slot = kv.slot(batch.blockTableOfToken(t), pos);
            if (kv.int8()) {
                PagedAttentionInt8.writeKv(kv.keys(layer), kv.values(layer), kv.keyScales(layer), kv.valueScales(layer),
                        slot, k, (long) t * c.kvDim(), v, (long) t * c.kvDim(), c.numKvHeads(), c.headDim());
            } else {
                PagedAttention.writeKv(kv.keys(layer), kv.values(layer), slot, k, (long) t * c.kvDim(), v,
                        (long) t * c.kvDim(), c.numKvHeads(), c.headDim());
            }
        }
    }

    /** Work unit u = (token u / numKvHeads, kv head u % numKvHeads): the group's query heads together. */
    private void attentionRange(int worker, int start, int end) {
        int kvHeads = c.numKvHeads();
        for (int u = start; u < end; u++) {
            int t = u / kvHeads;
            if (kv.int8()) {
                PagedAttentionInt8.attendGroup(q, (long) t * c.qDim(), u % kvHeads, c.groupSize(), kv.keys(layer),
                        kv.values(layer), kv.keyScales(layer), kv.valueScales(layer), batch.blockTableOfToken(t),
                        kv.blockSize(), batch.position(t) + 1, kvHeads, c.headDim(), scale, attn, (long) t * c.qDim(),
                        scoreScratch[worker]);
                continue;
            }
            PagedAttention.attendGroup(q, (long) t * c.qDim(), u % kvHeads, c.groupSize(), kv.keys(layer),
                    kv.values(layer), batch.blockTableOfToken(t), kv.blockSize(), batch.position(t) + 1, kvHeads,
                    c.headDim(), scale, attn, (long) t * c.qDim(), scoreScratch[worker]);
        }
    }

    private void swigluRange(int worker, int start, int end) {
        int i = c.intermediateSize();
        for (int t = start; t < end; t++) {
            CpuKernels.siluMul(gate, (long) t * i, up, (long) t * i, gate, (long) t * i, i);
        }
    }

    @Override
    public int vocabSize() {
        return c.vocabSize();
    }

    @Override
    public int numKvBlocks() {
        return kv.numBlocks();
    }

    @Override
    public int kvBlockSize() {
        return kv.blockSize();
    }

    @Override
    public int maxBatchTokens() {
        return options.maxBatchTokens();
    }

    /** Positions a sequence may reach: the model's context, capped by the KV pool. */
    public int maxContextTokens() {
        return maxContext;
    }

    @Override
    public String describe() {
        return "cpu (" + pool.threads() + " threads, Vector API " + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize()
                + "-bit, weights " + (options.quantizeInt8() ? "INT8" : c.weightDtype()) + ", KV " + kv.numBlocks()
                + " blocks × " + kv.blockSize() + " tokens" + (kv.int8() ? " INT8 + FP32 scale per token and kv head, "
                + String.format(java.util.Locale.ROOT, "%.2fx", KvCacheArena.bytesPerBlock(c.numLayers(), kv.blockSize(),
                c.kvDim()) / (double) KvCacheArena.bytesPerBlock(c.numLayers(), kv.blockSize(), c.numKvHeads(),
                c.headDim(), true)) + " the FP32 blocks in the same bytes" : " FP32") + ")";
    }

    @Override
    public KvCacheDtype kvCacheDtype() {
        return options.kvCacheDtype();
    }

    @Override
    public void close() {
        pool.close();
        arena.close();
    }
}
