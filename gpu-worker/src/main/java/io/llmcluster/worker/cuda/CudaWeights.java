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
 */
final class CudaWeights {
    final long embedding;
    final long lmHead;
    final long finalNorm;
    final long[] inputNorm;
    final long[] qkv;
    final long[] qkvBias;
    final long[] o;
    final long[] oBias;
    final long[] postNorm;
    final long[] gateUp;
    final long[] down;
    private final ModelConfig c;
    private final CudaDtype dtype;
    private final boolean separateLmHead;

    CudaWeights(ModelConfig c, CudaDtype dtype, boolean separateLmHead, DeviceArena arena) {
        this.c = c;
        this.dtype = dtype;
        this.separateLmHead = separateLmHead;
        int h = c.hiddenSize();
        int layers = c.numLayers();
        long e = dtype.bytes();
        embedding = arena.take(e * c.vocabSize() * h, "embedding");
        lmHead = separateLmHead ? arena.take(e * c.vocabSize() * h, "lm_head") : embedding;
        finalNorm = arena.take(4L * h, "final norm");
        inputNorm = new long[layers];
        qkv = new long[layers];
        qkvBias = new long[layers];
        o = new long[layers];
        oBias = new long[layers];
        postNorm = new long[layers];
        gateUp = new long[layers];
        down = new long[layers];
        int qkvRows = c.qDim() + 2 * c.kvDim();
        for (int l = 0; l < layers; l++) {
            inputNorm[l] = arena.take(4L * h, "input norm");
            qkv[l] = arena.take(e * qkvRows * h, "qkv");
            qkvBias[l] = c.qkvBias() ? arena.take(4L * qkvRows, "qkv bias") : 0;
            o[l] = arena.take(e * h * c.qDim(), "o_proj");
            oBias[l] = c.outputBias() ? arena.take(4L * h, "o_proj bias") : 0;
            postNorm[l] = arena.take(4L * h, "post-attention norm");
            gateUp[l] = arena.take(e * 2L * c.intermediateSize() * h, "gate_up");
            down[l] = arena.take(e * h * c.intermediateSize(), "down_proj");
        }
    }

    /** Whether the checkpoint has its own LM head (else the embedding is reused), with the CPU backend's checks. */
    static boolean separateLmHead(ModelConfig c, Checkpoint ckpt) {
        if (!c.tieWordEmbeddings() && !ckpt.has("lm_head.weight")) {
            throw new ModelLoadException("weights lack tensor 'lm_head.weight' and config.json does not tie word embeddings");
        }
        return !c.tieWordEmbeddings();
    }

    void upload(Checkpoint ckpt, CudaContext ctx, DeviceArena arena) {
        try (Uploader up = new Uploader(ckpt, ctx, arena)) {
            int h = c.hiddenSize();
            up.matrix(embedding, h, "model.embed_tokens.weight", c.vocabSize());
            if (separateLmHead) {
                up.matrix(lmHead, h, "lm_head.weight", c.vocabSize());
            }
            up.vector(finalNorm, "model.norm.weight", h);
            for (int l = 0; l < c.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                up.vector(inputNorm[l], p + "input_layernorm.weight", h);
                up.matrix(qkv[l], h, p + "self_attn.q_proj.weight", c.qDim(), p + "self_attn.k_proj.weight", c.kvDim(),
                        p + "self_attn.v_proj.weight", c.kvDim());
                if (c.qkvBias()) {
                    up.vector(qkvBias[l], p + "self_attn.q_proj.bias", c.qDim(), p + "self_attn.k_proj.bias", c.kvDim(),
                            p + "self_attn.v_proj.bias", c.kvDim());
                }
                up.matrix(o[l], c.qDim(), p + "self_attn.o_proj.weight", h);
                if (c.outputBias()) {
                    up.vector(oBias[l], p + "self_attn.o_proj.bias", h);
                }
                up.vector(postNorm[l], p + "post_attention_layernorm.weight", h);
                up.matrix(gateUp[l], h, p + "mlp.gate_proj.weight", c.intermediateSize(), p + "mlp.up_proj.weight",
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
        private final Arena host = Arena.ofConfined();
        private MemorySegment staging = MemorySegment.NULL;
        private MemorySegment row = MemorySegment.NULL;

        Uploader(Checkpoint ckpt, CudaContext ctx, DeviceArena arena) {
            this.ckpt = ckpt;
            this.ctx = ctx;
            this.arena = arena;
        }

        /** Tensors given as (name, rows) pairs, each [rows][cols], stacked row-wise at {@code dst}. */
        void matrix(long dst, int cols, Object... nameRows) {
            for (int i = 0; i < nameRows.length; i += 2) {
                String name = (String) nameRows[i];
                int rows = (Integer) nameRows[i + 1];
                TensorView t = ckpt.require(name).requireWeightDtype().requireShape(rows, cols);
                dst += put(dst, t, rows, cols);
            }
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

        private long put(long dst, TensorView t, int rows, int cols) {
            long bytes = (long) rows * cols * dtype.bytes();
            if (t.dtype().name().equals(dtype.name())) {
                ctx.copyToDevice(t.data(), arena, dst); // already in the run dtype: bytes as they are
                return bytes;
            }
            WeightMatrix m = WeightMatrix.wrap(t.data(), DType.valueOf(t.dtype().name()), rows, cols);
            long rowBytes = (long) cols * dtype.bytes();
            int rowsPerChunk = (int) Math.max(1, Math.min(rows, STAGING_BYTES / rowBytes));
            ensure(rowsPerChunk * rowBytes, cols);
            for (int r0 = 0; r0 < rows; r0 += rowsPerChunk) {
                int n = Math.min(rowsPerChunk, rows - r0);
                for (int r = 0; r < n; r++) {
                    m.copyRowTo(r0 + r, row, 0);
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
