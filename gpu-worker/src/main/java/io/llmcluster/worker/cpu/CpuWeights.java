package io.llmcluster.worker.cpu;

import io.llmcluster.worker.model.Checkpoint;
import io.llmcluster.worker.model.ModelConfig;
import io.llmcluster.worker.model.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The model's weights as the CPU kernels read them. Projection matrices stay in the memory-mapped
 * safetensors files (F32/F16/BF16, no copy) unless INT8 quantization is asked for; the small norm weights
 * and biases are widened to FP32 in {@code arena}. Every tensor's shape is checked against the config.
 */
final class CpuWeights {
    /** Above this many bytes the load shows a progress bar. */
    private static final long PROGRESS_BAR_BYTES = 64L << 20;

    final WeightMatrix embedding;
    final LayerWeights[] layers;
    final MemorySegment finalNorm;
    final Linear lmHead;

    private final ModelConfig c;
    private final Checkpoint ckpt;
    private final Arena arena;
    private final CpuThreadPool pool;
    private final boolean int8;
    private final ProgressBar progress;

    CpuWeights(ModelConfig config, Checkpoint checkpoint, Arena arena, CpuThreadPool pool, boolean int8) {
        this.c = config;
        this.ckpt = checkpoint;
        this.arena = arena;
        this.pool = pool;
        this.int8 = int8;
        long total = checkpoint.totalBytes();
        this.progress = total >= PROGRESS_BAR_BYTES
                ? new ProgressBarBuilder().setTaskName(int8 ? "Loading+INT8" : "Loading").setInitialMax(total >> 20)
                        .setUnit(" MiB", 1).setStyle(ProgressBarStyle.ASCII).continuousUpdate().build()
                : null;
        try {
            int h = c.hiddenSize();
            embedding = matrix("model.embed_tokens.weight", c.vocabSize(), h, false);
            layers = new LayerWeights[c.numLayers()];
            for (int l = 0; l < layers.length; l++) {
                layers[l] = layer(l);
            }
            finalNorm = vector("model.norm.weight", h);
            String head = c.tieWordEmbeddings() || !ckpt.has("lm_head.weight") ? "model.embed_tokens.weight" : "lm_head.weight";
            if (!c.tieWordEmbeddings() && !ckpt.has("lm_head.weight")) {
                throw new io.llmcluster.worker.model.ModelLoadException(
                        "weights lack tensor 'lm_head.weight' and config.json does not tie word embeddings");
            }
            lmHead = new Linear(matrix(head, c.vocabSize(), h, int8), null, pool);
        } finally {
            if (progress != null) {
                progress.close();
            }
        }
    }

    private LayerWeights layer(int l) {
        String p = "model.layers." + l + ".";
        int h = c.hiddenSize();
        return new LayerWeights(
                vector(p + "input_layernorm.weight", h),
                linear(p + "self_attn.q_proj", c.qDim(), h, c.qkvBias()),
                linear(p + "self_attn.k_proj", c.kvDim(), h, c.qkvBias()),
                linear(p + "self_attn.v_proj", c.kvDim(), h, c.qkvBias()),
                linear(p + "self_attn.o_proj", h, c.qDim(), c.outputBias()),
                vector(p + "post_attention_layernorm.weight", h),
                linear(p + "mlp.gate_proj", c.intermediateSize(), h, false),
                linear(p + "mlp.up_proj", c.intermediateSize(), h, false),
                linear(p + "mlp.down_proj", h, c.intermediateSize(), false));
    }

    private Linear linear(String name, int rows, int cols, boolean bias) {
        return new Linear(matrix(name + ".weight", rows, cols, int8), bias ? vector(name + ".bias", rows) : null, pool);
    }

    private WeightMatrix matrix(String name, int rows, int cols, boolean quantize) {
        TensorView t = ckpt.require(name).requireWeightDtype().requireShape(rows, cols);
        if (t.data().isMapped()) {
            t.data().load(); // page the weights in now, not during the first request
        }
        WeightMatrix m = WeightMatrix.wrap(t.data(), DType.valueOf(t.dtype().name()), rows, cols);
        if (quantize) {
            m = Int8Matrix.quantize(m, arena, pool);
        }
        step(t);
        return m;
    }

    /** A 1-D tensor widened to FP32 in the arena. */
    private MemorySegment vector(String name, int n) {
        TensorView t = ckpt.require(name).requireWeightDtype().requireShape(n);
        WeightMatrix row = WeightMatrix.wrap(t.data(), DType.valueOf(t.dtype().name()), 1, n);
        MemorySegment out = arena.allocate((long) n * Float.BYTES, 64);
        row.copyRowTo(0, out, 0);
        step(t);
        return out;
    }

    private void step(TensorView t) {
        if (progress != null) {
            progress.stepBy(t.data().byteSize() >> 20);
        }
    }
}
