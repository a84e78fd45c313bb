package io.llmcluster.worker.cuda;

import io.llmcluster.worker.cpu.DType;
import io.llmcluster.worker.cpu.WeightMatrix;
import io.llmcluster.worker.model.Checkpoint;
import io.llmcluster.worker.model.ModelConfig;
import io.llmcluster.worker.model.ModelLoadException;
import io.llmcluster.worker.model.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The model's weights in the device arena, laid out as the kernels want them, in the run dtype (F32, F16 and
 * BF16 checkpoints are converted at load, rounding to nearest even; same-dtype tensors are copied as they are).
 * Shapes, all row-major [out][in]:
 * <ul>
 *   <li>embedding [vocab][hidden]; lmHead the same matrix when tied, else its own [vocab][hidden]</li>
 *   <li>qkv [qDim + 2·kvDim][hidden]: q_proj, k_proj, v_proj rows concatenated (one GEMM); qkvBias FP32
 *       [qDim + 2·kvDim] or 0 (added inside the RoPE kernel)</li>
 *   <li>o [hidden][qDim], oBias FP32 [hidden] or 0</li>
 *   <li>gateUp [2·intermediate][hidden]: gate_proj rows then up_proj rows (one GEMM, SwiGLU kernel after)</li>
 *   <li>down [hidden][intermediate]</li>
 *   <li>inputNorm, postNorm, finalNorm FP32 [hidden]</li>
 * </ul>
 * With {@link CudaQuantization#int8()} every projection (qkv, o, gateUp, down, lmHead; a tied LM head gets its
 * own INT8 copy) is stored as INT8 offset-binary bytes with FP32 scales ({@link DeviceMatrix}), quantized on the
 * GPU at load ({@code quantize_w8}, the rule of {@link Int8Rows}) from the run-dtype rows, chunk by chunk
 * through a device scratch; the embedding stays in the run dtype. With {@link CudaQuantization#isW8a8()} q|k|v, o,
 * gate|up and down are W8A8 SmoothQuant matrices (signed INT8, one FP32 scale per row; {@link W8a8Rows}), quantized
 * on the GPU at load after each column of q|k|v and gate|up is multiplied by its smoothing factor, whose inverse is
 * folded into the preceding RMSNorm weight ({@link #smoothWith}); the LM head stays in the run dtype.
 */
final class CudaWeights {
    /** {@link DeviceMatrix#shape()} numbers: one per distinct projection of a layer, then the LM head. */
    static final int SHAPE_QKV = 0;
    static final int SHAPE_O = 1;
    static final int SHAPE_GATE_UP = 2;
    static final int SHAPE_DOWN = 3;
    static final int SHAPE_LM_HEAD = 4;
    static final int SHAPES = 5;
    /** Device scratch for INT8 work: load-time quantization chunks and the dequantize-then-cuBLAS path. */
    static final long INT8_SCRATCH_BYTES = 64L << 20;

    final long embedding;
    final DeviceMatrix lmHead;
    final long finalNorm;
    final long[] inputNorm;
    final DeviceMatrix[] qkv;
    final long[] qkvBias;
    final DeviceMatrix[] o;
    final long[] oBias;
    final long[] postNorm;
    final DeviceMatrix[] gateUp;
    final DeviceMatrix[] down;
    /** INT8 scratch ({@link #INT8_SCRATCH_BYTES}), or 0 without INT8. */
    final long int8Scratch;
    private final ModelConfig c;
    private final CudaDtype dtype;
    private final CudaQuantization quant;
    private final boolean separateLmHead;
    /** W8A8: the load-time kernels and [layer] smoothing factors of q|k|v and gate|up (set before {@link #upload}). */
    private W8a8Kernels w8a8Kernels;
    private float[][] smoothQkv;
    private float[][] smoothGateUp;
    /** W8A8: device FP32 [hidden] for the factors of the matrix being quantized, or 0. */
    private final long smoothing;

    CudaWeights(ModelConfig c, CudaDtype dtype, CudaQuantization quant, boolean separateLmHead, DeviceArena arena) {
        this.c = c;
        this.dtype = dtype;
        this.quant = quant;
        this.separateLmHead = separateLmHead;
        int h = c.hiddenSize();
        int layers = c.numLayers();
        long e = dtype.bytes();
        embedding = arena.take(e * c.vocabSize() * h, "embedding");
        lmHead = separateLmHead || quant.int8() ? matrix(arena, c.vocabSize(), h, SHAPE_LM_HEAD, "lm_head")
                : new DeviceMatrix(embedding, 0, c.vocabSize(), h, 0, SHAPE_LM_HEAD);
        finalNorm = arena.take(4L * h, "final norm");
        int8Scratch = quant.int8() || quant.isW8a8() ? arena.take(INT8_SCRATCH_BYTES, "INT8 scratch") : 0;
        smoothing = quant.isW8a8() ? arena.take(4L * h, "smoothing factors") : 0;
        inputNorm = new long[layers];
        qkv = new DeviceMatrix[layers];
        qkvBias = new long[layers];
        o = new DeviceMatrix[layers];
        oBias = new long[layers];
        postNorm = new long[layers];
        gateUp = new DeviceMatrix[layers];
        down = new DeviceMatrix[layers];
        int qkvRows = c.qDim() + 2 * c.kvDim();
        for (int l = 0; l < layers; l++) {
            inputNorm[l] = arena.take(4L * h, "input norm");
            qkv[l] = matrix(arena, qkvRows, h, SHAPE_QKV, "qkv");
            qkvBias[l] = c.qkvBias() ? arena.take(4L * qkvRows, "qkv bias") : 0;
            o[l] = matrix(arena, h, c.qDim(), SHAPE_O, "o_proj");
            oBias[l] = c.outputBias() ? arena.take(4L * h, "o_proj bias") : 0;
            postNorm[l] = arena.take(4L * h, "post-attention norm");
            gateUp[l] = matrix(arena, 2 * c.intermediateSize(), h, SHAPE_GATE_UP, "gate_up");
            down[l] = matrix(arena, h, c.intermediateSize(), SHAPE_DOWN, "down_proj");
        }
    }

    private DeviceMatrix matrix(DeviceArena arena, int rows, int cols, int shape, String what) {
        if (quant.isW8a8() && shape != SHAPE_LM_HEAD) {
            if (!W8a8Gemm.supports(rows, cols)) {
                throw new IllegalArgumentException("W8A8 on CUDA needs input sizes that are multiples of 16 and output "
                        + "sizes that are multiples of 8; " + what + " is " + rows + " x " + cols);
            }
            long data = arena.take((long) rows * cols, what + " (W8A8)");
            long scales = arena.take(4L * rows, what + " scales");
            return new DeviceMatrix(data, scales, rows, cols, cols, shape, true);
        }
        if (!quant.int8()) {
            return new DeviceMatrix(arena.take((long) dtype.bytes() * rows * cols, what), 0, rows, cols, 0, shape);
        }
        if (cols % 16 != 0) {
            throw new IllegalArgumentException("INT8 weights on CUDA need input sizes that are multiples of 16; " + what
                    + " has " + cols);
        }
        int group = quant.groupFor(cols);
        long data = arena.take((long) rows * cols, what + " (INT8)");
        long scales = arena.take(4L * rows * Int8Rows.groups(cols, group), what + " scales");
        return new DeviceMatrix(data, scales, rows, cols, group, shape);
    }

    /**
     * Every layer's matrix of each shape (the LM head alone in its row), indexed by {@link DeviceMatrix#shape()}:
     * timing rotates through them so that a matrix smaller than the L2 cache is not measured from the cache.
     */
    DeviceMatrix[][] byShape() {
        return new DeviceMatrix[][] {qkv, o, gateUp, down, {lmHead}};
    }

    /** One matrix of each shape (layer 0's and the LM head), indexed by {@link DeviceMatrix#shape()}. */
    DeviceMatrix[] shapes() {
        return new DeviceMatrix[] {qkv[0], o[0], gateUp[0], down[0], lmHead};
    }

    /** W8A8: the kernels that quantize at load and the smoothing factors per layer of q|k|v and gate|up. */
    void smoothWith(W8a8Kernels kernels, float[][] qkvFactors, float[][] gateUpFactors) {
        this.w8a8Kernels = kernels;
        this.smoothQkv = qkvFactors;
        this.smoothGateUp = gateUpFactors;
    }

    private float[] factors(float[][] perLayer, int layer) {
        return perLayer == null ? null : perLayer[layer];
    }

    /** Whether the checkpoint has its own LM head (else the embedding is reused), with the CPU backend's checks. */
    static boolean separateLmHead(ModelConfig c, Checkpoint ckpt) {
        if (!c.tieWordEmbeddings() && !ckpt.has("lm_head.weight")) {
            throw new ModelLoadException("weights lack tensor 'lm_head.weight' and config.json does not tie word embeddings");
        }
        return !c.tieWordEmbeddings();
    }

    void upload(Checkpoint ckpt, CudaContext ctx, DeviceArena arena, CudaKernels kernels) {
        try (Uploader up = new Uploader(ckpt, ctx, arena, kernels)) {
            int h = c.hiddenSize();
            up.matrix(embedding, h, "model.embed_tokens.weight", c.vocabSize());
            if (separateLmHead) {
                up.matrix(lmHead, h, "lm_head.weight", c.vocabSize());
            } else if (quant.int8()) {
                up.matrix(lmHead, h, "model.embed_tokens.weight", c.vocabSize());
            }
            up.vector(finalNorm, "model.norm.weight", h);
            for (int l = 0; l < c.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                up.norm(inputNorm[l], p + "input_layernorm.weight", h, factors(smoothQkv, l));
                up.matrix(qkv[l], factors(smoothQkv, l), h, p + "self_attn.q_proj.weight", c.qDim(), p + "self_attn.k_proj.weight", c.kvDim(),
                        p + "self_attn.v_proj.weight", c.kvDim());
                if (c.qkvBias()) {
                    up.vector(qkvBias[l], p + "self_attn.q_proj.bias", c.qDim(), p + "self_attn.k_proj.bias", c.kvDim(),
                            p + "self_attn.v_proj.bias", c.kvDim());
                }
                up.matrix(o[l], c.qDim(), p + "self_attn.o_proj.weight", h);
                if (c.outputBias()) {
                    up.vector(oBias[l], p + "self_attn.o_proj.bias", h);
                }
                up.norm(postNorm[l], p + "post_attention_layernorm.weight", h, factors(smoothGateUp, l));
                up.matrix(gateUp[l], factors(smoothGateUp, l), h, p + "mlp.gate_proj.weight", c.intermediateSize(), p + "mlp.up_proj.weight",
                        c.intermediateSize());
                up.matrix(down[l], c.intermediateSize(), p + "mlp.down_proj.weight", h);
            }
        }
    }

    /** Converts tensors through one host staging buffer and copies them to the device. */
    private final class Uploader implements AutoCloseable {
        private static final long STAGING_BYTES = 32L << 20;
        private final Checkpoint ckpt;
        private final CudaContext ctx;
        private final DeviceArena arena;
        private final CudaKernels kernels;
        private final Arena host = Arena.ofConfined();
        private MemorySegment staging = MemorySegment.NULL;
        private MemorySegment row = MemorySegment.NULL;

        Uploader(Checkpoint ckpt, CudaContext ctx, DeviceArena arena, CudaKernels kernels) {
            this.ckpt = ckpt;
            this.ctx = ctx;
            this.arena = arena;
            this.kernels = kernels;
        }

        /** Tensors given as (name, rows) pairs, each [rows][cols], stacked row-wise at {@code dst}. */
        void matrix(long dst, int cols, Object... nameRows) {
            for (int i = 0; i < nameRows.length; i += 2) {
                String name = (String) nameRows[i];
                int rows = (Integer) nameRows[i + 1];
                TensorView t = ckpt.require(name).requireWeightDtype().requireShape(rows, cols);
                dst += put(dst, t, 0, rows, rows, cols);
            }
        }

        /** Like {@link #matrix(long, int, Object...)} into a {@link DeviceMatrix}, quantizing when it is INT8. */
        void matrix(DeviceMatrix m, int cols, Object... nameRows) {
            matrix(m, null, cols, nameRows);
        }

        /** As {@link #matrix(DeviceMatrix, int, Object...)}; a W8A8 matrix's columns are first multiplied by {@code smooth}. */
        void matrix(DeviceMatrix m, float[] smooth, int cols, Object... nameRows) {
            if (m.w8a8()) {
                w8a8Matrix(m, smooth, cols, nameRows);
                return;
            }
            if (!m.int8()) {
                matrix(m.data(), cols, nameRows);
                return;
            }
            long rowBytes = (long) cols * dtype.bytes();
            int chunk = (int) Math.max(1, INT8_SCRATCH_BYTES / rowBytes);
            int done = 0;
            for (int i = 0; i < nameRows.length; i += 2) {
                String name = (String) nameRows[i];
                int rows = (Integer) nameRows[i + 1];
                TensorView t = ckpt.require(name).requireWeightDtype().requireShape(rows, cols);
                for (int r0 = 0; r0 < rows; r0 += chunk) {
                    int n = Math.min(chunk, rows - r0);
                    put(int8Scratch, t, r0, n, rows, cols);
                    long firstRow = done + r0;
                    kernels.quantizeW8(int8Scratch, m.data() + firstRow * cols, m.scales() + 4L * firstRow * m.groups(),
                            n, cols, m.group());
                }
                done += rows;
            }
            ctx.synchronize(); // the scratch is reused by the next tensor's copy
        }

        /** The W8A8 twin of the INT8 path above: rows through the scratch, quantized by {@code quantize_w8s}. */
        private void w8a8Matrix(DeviceMatrix m, float[] smooth, int cols, Object... nameRows) {
            long smoothAt = 0;
            if (smooth != null) {
                ctx.synchronize();
                ctx.copyToDevice(host.allocateFrom(ValueLayout.JAVA_FLOAT, smooth), arena, smoothing);
                smoothAt = smoothing;
            }
            int chunk = (int) Math.max(1, INT8_SCRATCH_BYTES / ((long) cols * dtype.bytes()));
            int done = 0;
            for (int i = 0; i < nameRows.length; i += 2) {
                String name = (String) nameRows[i];
                int rows = (Integer) nameRows[i + 1];
                TensorView t = ckpt.require(name).requireWeightDtype().requireShape(rows, cols);
                for (int r0 = 0; r0 < rows; r0 += chunk) {
                    int n = Math.min(chunk, rows - r0);
                    ctx.synchronize(); // the scratch's last chunk has been read
                    put(int8Scratch, t, r0, n, rows, cols);
                    long firstRow = done + r0;
                    w8a8Kernels.quantizeWeights(int8Scratch, smoothAt, m.data() + firstRow * cols, m.scales() + 4L * firstRow,
                            n, cols);
                }
                done += rows;
            }
            ctx.synchronize();
        }

        /** A norm weight as FP32 at {@code dst}, divided by the smoothing factors when there are some (W8A8). */
        void norm(long dst, String name, int n, float[] smooth) {
            if (smooth == null) {
                vector(dst, name, n);
                return;
            }
            TensorView t = ckpt.require(name).requireWeightDtype().requireShape(n);
            WeightMatrix m = WeightMatrix.wrap(t.data(), DType.valueOf(t.dtype().name()), 1, n);
            MemorySegment f = host.allocate(4L * n, 64);
            m.copyRowTo(0, f, 0);
            float[] folded = SmoothingFactors.foldIntoNorm(f.toArray(ValueLayout.JAVA_FLOAT), smooth);
            ctx.copyToDevice(host.allocateFrom(ValueLayout.JAVA_FLOAT, folded), arena, dst);
        }

        /** 1-D tensors given as (name, length) pairs, concatenated as FP32 at {@code dst}. */
        void vector(long dst, Object... nameLengths) {
            for (int i = 0; i < nameLengths.length; i += 2) {
                String name = (String) nameLengths[i];
                int n = (Integer) nameLengths[i + 1];
                TensorView t = ckpt.require(name).requireWeightDtype().requireShape(n);
                WeightMatrix m = WeightMatrix.wrap(t.data(), DType.valueOf(t.dtype().name()), 1, n);
                MemorySegment f = host.allocate(4L * n, 64);
                m.copyRowTo(0, f, 0);
                ctx.copyToDevice(f, arena, dst);
                dst += 4L * n;
            }
        }

        /** Rows [first, first + count) of t ([rows][cols]) in the run dtype to {@code dst}; returns the bytes. */
        private long put(long dst, TensorView t, int first, int count, int rows, int cols) {
            long rowBytes = (long) cols * dtype.bytes();
            long bytes = count * rowBytes;
            if (t.dtype().name().equals(dtype.name())) {
                // already in the run dtype: bytes as they are
                ctx.copyToDevice(t.data().asSlice(first * rowBytes, bytes), arena, dst);
                return bytes;
            }
            WeightMatrix m = WeightMatrix.wrap(t.data(), DType.valueOf(t.dtype().name()), rows, cols);
            int rowsPerChunk = (int) Math.max(1, Math.min(count, STAGING_BYTES / rowBytes));
            ensure(rowsPerChunk * rowBytes, cols);
            for (int r0 = 0; r0 < count; r0 += rowsPerChunk) {
                int n = Math.min(rowsPerChunk, count - r0);
                for (int r = 0; r < n; r++) {
                    m.copyRowTo(first + r0 + r, row, 0);
                    long base = r * rowBytes;
                    for (int j = 0; j < cols; j++) {
                        staging.set(ValueLayout.JAVA_SHORT_UNALIGNED, base + 2L * j,
                                dtype.encode(row.getAtIndex(ValueLayout.JAVA_FLOAT, j)));
                    }
                }
                ctx.copyToDevice(staging.asSlice(0, n * rowBytes), arena, dst + r0 * rowBytes);
            }
            return bytes;
        }

        private void ensure(long stagingBytes, int cols) {
            if (staging.byteSize() < stagingBytes) {
                staging = host.allocate(stagingBytes, 256);
            }
            if (row.byteSize() < 4L * cols) {
                row = host.allocate(4L * cols, 64);
            }
        }

        @Override
        public void close() {
            host.close();
        }
    }
}
