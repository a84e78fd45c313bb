package io.llmcluster.worker.cuda;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.backend.StepTimes;
import io.llmcluster.worker.backend.TimedBackend;
import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.model.ModelConfig;
import io.llmcluster.worker.model.ModelDirectory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import jcuda.driver.CUevent;

/**
 * The GPU benchmark of issue #6 on one model directory (deploy/gpu/bench-gpu.sh makes an 8B-shaped random one
 * on the GPU machine and runs the PyTorch references in the same call). Prints {@code key=value} lines:
 * <ul>
 *   <li>raw backend decode steps at batch 1, 8, 32 for three decode paths (eager launches + cuBLAS, eager +
 *       GEMV kernel, CUDA graphs + GEMV kernel): wall ms per step and device ms per step (the step queued behind
 *       a spin kernel, so it runs back to back), whose difference is the time the GPU sat idle;</li>
 *   <li>prefill time to first token for 2048 tokens; our prefill attention and GEMMs on the prefill shapes;
 *       the decode projections through cuBLAS and through the GEMV kernel (GB/s);</li>
 *   <li>output throughput through the {@link Engine} at several concurrencies, with inter-token latency
 *       percentiles, and batch-1 inter-token latency at long contexts.</li>
 * </ul>
 * Usage: {@code GpuBench MODEL_DIR [CONCURRENCIES, e.g. 1,8,32,128,256] [LONG_CONTEXTS, e.g. 1024,8192,32768]
 * [SECTIONS, default decode,decode_large,prefill,kernels,engine,engine2k,long; also long_unfused] [STEP_BUDGETS, e.g. 2048,4096]
 * [KV_CACHE_DTYPE, auto (default) or int8]}:
 * {@code engine} runs 128-in/128-out at every concurrency once per step token budget (keys get {@code _t<budget>}
 * unless 2048), {@code engine2k} 2048-in/128-out at 1 and 32, {@code decode_large} graph decode steps at 64-256.
 */
public final class GpuBench {
    private final ModelDirectory model;
    private final ModelConfig c;
    private final CudaBackend be;
    private final CudaContext ctx;
    private final int blockSize;

    private GpuBench(ModelDirectory model, CudaBackend be) {
        this.model = model;
        this.c = model.config();
        this.be = be;
        this.ctx = be.context();
        this.blockSize = be.kvBlockSize();
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int[] conc = ints(args.length > 1 ? args[1] : "1,8,32,128,256");
        int[] longCtx = ints(args.length > 2 ? args[2] : "1024,8192,32768");
        java.util.Set<String> sections = java.util.Set.of((args.length > 3 ? args[3] : "decode,decode_large,prefill,kernels,engine,engine2k,long").split(","));
        int[] budgets = ints(args.length > 4 ? args[4] : "2048");
        KvCacheDtype kvDtype = KvCacheDtype.parse(args.length > 5 ? args[5] : "auto");
        int maxSeqs = Math.max(256, Arrays.stream(conc).max().orElse(1));
        int maxTokens = Math.max(2048, Arrays.stream(budgets).max().orElse(2048));
        long t0 = System.nanoTime();
        try (ModelDirectory model = ModelDirectory.open(dir);
             CudaBackend be = new CudaBackend(model, CudaBackendOptions.defaults().withMaxBatchTokens(maxTokens).withMaxSequences(maxSeqs)
                     .withKvCacheDtype(kvDtype))) {
            kv("load_s", (System.nanoTime() - t0) / 1e9);
            kv("backend", be.describe());
            kv("kv_cache_dtype", kvDtype.configName());
            kv("kv_blocks", be.numKvBlocks());
            kv("kv_blocks_16bit_same_bytes", be.unquantizedKvBlocks());
            kv("kv_bytes_per_block", be.kvLayout().bytesPerBlock());
            for (int len : longCtx) { // sequences of that many tokens (+ 128 generated) that the pool holds at once
                kv("kv_max_seqs_ctx" + len, be.numKvBlocks() / ((len + 128 + be.kvBlockSize() - 1) / be.kvBlockSize()));
            }
            GpuBench b = new GpuBench(model, be);
            b.weightBytes();
            if (sections.contains("decode")) {
                b.decodePaths();
            }
            if (sections.contains("decode_large")) {
                b.largeDecodeSteps(maxSeqs);
            }
            if (sections.contains("step_ops")) {
                b.stepOps(maxSeqs, maxTokens);
            }
            if (sections.contains("prefill")) {
                b.prefill();
            }
            if (sections.contains("kernels")) {
                b.kernels();
            }
            for (int budget : sections.contains("engine") ? budgets : new int[0]) {
                b.engine(conc, 128, 128, budget);
            }
            for (int budget : sections.contains("engine_nolt") ? budgets : new int[0]) { // cublasGemmEx's own picks
                be.setCublasLt(false);
                b.engine(conc, 128, 128, budget);
                be.setCublasLt(true);
            }
            for (int budget : sections.contains("engine_nowarp") ? budgets : new int[0]) { // without decode_attention_warp.cu
                be.setDecodeWarpVariant(AttentionKernels.DECODE_WARP_OFF);
                b.engine(conc, 128, 128, budget, "_nowarp");
                be.setDecodeWarpVariant(AttentionKernels.DECODE_WARP_AUTO);
            }
            for (int budget : sections.contains("engine_before") ? budgets : new int[0]) { // neither that nor the 16-bit gate|up
                be.setDecodeWarpVariant(AttentionKernels.DECODE_WARP_OFF);
                be.setGateUp16(false);
                b.engine(conc, 128, 128, budget, "_before");
                be.setDecodeWarpVariant(AttentionKernels.DECODE_WARP_AUTO);
                be.setGateUp16(Projections.DEFAULT_GATE_UP_16);
            }
            if (sections.contains("engine2k")) {
                b.engine(new int[] {1, 32}, 2048, 128, 2048);
            }
            if (sections.contains("long")) {
                b.longContext(longCtx, "");
                if (kvDtype == KvCacheDtype.INT8) { // the 4-stage INT8 decode variant on the same pool
                    be.setInt8DecodeStages(4);
                    b.longContext(longCtx, "s4_");
                    be.setInt8DecodeStages(2);
                }
            }
            if (sections.contains("long_unfused")) { // same contexts without PDL and the fused SwiGLU: their share
                be.setFusion(false, false);
                b.longContext(longCtx, "unfused_");
                be.setFusion(true, true);
            }
            kv("graphs_captured", be.graphsCaptured());
        }
    }

    private static int[] ints(String commaList) {
        return Arrays.stream(commaList.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    static void kv(String key, Object value) {
        String v = value instanceof Double d ? String.format("%.4f", d) : String.valueOf(value);
        System.out.println(key + "=" + v);
        System.out.flush();
    }

    /** Bytes one decode step reads: every matrix except the embedding table (one row of it), FP16. */
    private void weightBytes() {
        long h = c.hiddenSize();
        long perLayer = h * (c.qDim() + 2L * c.kvDim()) + (long) c.qDim() * h + h * 2L * c.intermediateSize()
                + (long) c.intermediateSize() * h;
        long matrices = c.numLayers() * perLayer + (long) c.vocabSize() * h;
        kv("weight_bytes_read_per_token", 2 * (matrices + h));
        kv("weight_bytes_total", 2 * (matrices + (c.tieWordEmbeddings() ? 0 : (long) c.vocabSize() * h)));
    }

    // ---- raw decode steps ----

    private int[][] tables(int seqs, int tokens) {
        int per = (tokens + blockSize - 1) / blockSize;
        if ((long) seqs * per > be.numKvBlocks()) {
            throw new IllegalStateException("KV pool too small for " + seqs + " x " + tokens);
        }
        int[][] t = new int[seqs][per];
        for (int s = 0; s < seqs; s++) {
            for (int i = 0; i < per; i++) {
                t[s][i] = s * per + i;
            }
        }
        return t;
    }

    /**
     * Prefills {@code seqs} sequences of {@code prompt} random tokens (in steps of at most 2048 tokens; short prompts
     * several to a step).
     */
    private void prefillSeqs(int[][] tables, int seqs, int prompt, Random r) {
        ForwardBatch fb = new ForwardBatch(2048, 256);
        if (prompt <= 512) {
            int per = 2048 / prompt;
            for (int s0 = 0; s0 < seqs; s0 += per) {
                fb.clear();
                for (int s = s0; s < Math.min(seqs, s0 + per); s++) {
                    fb.addSequence(random(r, prompt), 0, prompt, 0, tables[s], ForwardBatch.Logits.LAST);
                }
                be.forward(fb);
            }
            return;
        }
        for (int s = 0; s < seqs; s++) {
            int[] tokens = random(r, prompt);
            for (int from = 0; from < prompt; from += 2048) {
                int n = Math.min(2048, prompt - from);
                fb.clear();
                fb.addSequence(tokens, from, n, from, tables[s], ForwardBatch.Logits.LAST);
                be.forward(fb);
            }
        }
    }

    private int[] random(Random r, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(c.vocabSize() - 16);
        }
        return t;
    }

    private void decodeBatch(ForwardBatch fb, int[][] tables, int seqs, int pos, int[] ids) {
        fb.clear();
        for (int s = 0; s < seqs; s++) {
            fb.addSequence(ids, 0, 1, pos, tables[s], ForwardBatch.Logits.LAST);
        }
    }

    /**
     * {wall ms per step with all logits rows copied to the host, device ms per step (one step alone behind a spin),
     * wall ms per step with the argmax on the device, device ms per step of 16 steps back to back} of decode steps at
     * batch {@code seqs} after a {@code prompt} prefill.
     */
    private double[] decodeSteps(int seqs, int prompt, int steps) {
        int[][] tables = tables(seqs, prompt + 2 * steps + 16); // 3 warm-up steps, 2 x steps timed, 8 device-timed
        prefillSeqs(tables, seqs, prompt, new Random(seqs));
        ForwardBatch fb = new ForwardBatch(Math.max(2048, seqs), Math.max(256, seqs));
        int[] ids = {17};
        int pos = prompt;
        for (int i = 0; i < 3; i++) { // warm-up (and graph capture)
            decodeBatch(fb, tables, seqs, pos++, ids);
            be.forward(fb);
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            decodeBatch(fb, tables, seqs, pos++, ids);
            be.forward(fb);
        }
        double wallMs = (System.nanoTime() - t0) / 1e6 / steps;
        int[] ids1 = new int[seqs];
        t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) { // the engine's plain path: argmax on the device, only ids back
            decodeBatch(fb, tables, seqs, pos++, ids);
            be.forwardGreedy(fb, ids1);
        }
        double greedyWallMs = (System.nanoTime() - t0) / 1e6 / steps;
        CUevent a = ctx.newEvent();
        CUevent z = ctx.newEvent();
        double[] dev = new double[8];
        for (int i = 0; i < dev.length; i++) {
            decodeBatch(fb, tables, seqs, pos++, ids);
            be.kernels().spin(20_000_000L); // 20 ms: the host queues the whole step meanwhile
            ctx.record(a);
            be.run(fb);
            ctx.record(z);
            dev[i] = ctx.elapsedMs(a, z);
            ctx.synchronize();
        }
        // The same step 16 times back to back behind one spin, no host in between: the device time per step under
        // sustained load (clocks and power as in the wall loops), to tell host gaps from a slower GPU.
        decodeBatch(fb, tables, seqs, pos, ids);
        be.kernels().spin(20_000_000L);
        ctx.record(a);
        int sustainedSteps = 16;
        for (int i = 0; i < sustainedSteps; i++) {
            be.run(fb); // same inputs each time, so the staging copies may share one host buffer
        }
        ctx.record(z);
        double sustainedMs = ctx.elapsedMs(a, z) / sustainedSteps;
        ctx.synchronize();
        ctx.destroy(a);
        ctx.destroy(z);
        Arrays.sort(dev);
        return new double[] {wallMs, dev[dev.length / 2], greedyWallMs, sustainedMs};
    }

    private void decodePaths() {
        // the last path: graphs + GEMV with programmatic dependent launches and the fused SwiGLU off (the reference
        // for what they save)
        String[] names = {"eager_cublas", "eager_gemv", "graphs_gemv", "graphs_gemv_unfused"};
        boolean[][] modes = {{false, false}, {false, true}, {true, true}, {true, true}};
        for (int m = 0; m < modes.length; m++) {
            be.setDecodePaths(modes[m][0], modes[m][1]);
            be.setFusion(m < 3, m < 3);
            for (int seqs : new int[] {1, 8, 32}) {
                double[] r = decodeSteps(seqs, 128, seqs == 1 ? 64 : 32);
                kv("decode_" + names[m] + "_b" + seqs + "_wall_ms", r[0]);
                kv("decode_" + names[m] + "_b" + seqs + "_device_ms", r[1]);
                kv("decode_" + names[m] + "_b" + seqs + "_idle_frac", Math.max(0, 1 - r[1] / r[0]));
            }
        }
        be.setDecodePaths(true, true);
        be.setFusion(true, true);
    }

    /**
     * Decode steps at large batches through the graphs: wall with every logits row copied to the host (what the
     * engine's host sampling needs), wall with the argmax on the device (its plain path), and device time; the gap
     * between wall and device is the host's share of a step.
     */
    private void largeDecodeSteps(int maxSeqs) {
        be.setDecodePaths(true, true);
        int defaultMinBatch = CudaBackend.singleSplitMinBatch(be.maxDecodeSplits());
        // the defaults; the one-token decode attention kernel + reduce (before decode_attention_items.cu); the items
        // kernel with 1, 2, 4 tokens per CTA; its 3-stage K/V ring; the split plan at every batch (partials + reduce).
        // GpuBench.decodeVariants (comma list of suffixes, "-" for the defaults) picks some of them.
        // _nowarp: the automatic choice without decode_attention_warp.cu (the default before it); _warpN: its variant N
        // (AttentionKernels.DECODE_WARP_VARIANTS; 3 = the plain tile step) for every decode attention; _gateup16: the
        // gate|up GEMM writing the run dtype for silu_mul16 (Projections.DEFAULT_GATE_UP_16, off by default).
        String[] variants = {"", "_nowarp", "_oldattn", "_items1", "_items2", "_items4", "_stages3", "_multisplit", "_warp0",
            "_warp1", "_warp2", "_warp3", "_gateup16"};
        String pick = System.getProperty("GpuBench.decodeVariants");
        if (pick != null) {
            variants = java.util.Arrays.stream(pick.split(",")).map(x -> x.equals("-") ? "" : x).toArray(String[]::new);
        }
        for (String v : variants) {
            be.setDecodeItemStages(v.equals("_stages3") ? 3 : AttentionKernels.DEFAULT_DECODE_ITEM_STAGES);
            be.setDecodeItemsPerCta(v.equals("_oldattn") ? AttentionKernels.DECODE_ITEMS_OLD
                    : v.startsWith("_items") ? Integer.parseInt(v.substring(6)) : AttentionKernels.DECODE_ITEMS_AUTO);
            be.setSingleSplitMinBatch(v.equals("_multisplit") ? Integer.MAX_VALUE : defaultMinBatch);
            be.setDecodeWarpVariant(v.startsWith("_warp") ? Integer.parseInt(v.substring(5))
                    : v.equals("_nowarp") ? AttentionKernels.DECODE_WARP_OFF : AttentionKernels.DECODE_WARP_AUTO);
            be.setGateUp16(v.equals("_gateup16"));
            for (int seqs : new int[] {64, 128, 256, 512}) {
                if (seqs > maxSeqs) {
                    continue;
                }
                double[] r = decodeSteps(seqs, 128, 24);
                String tag = "decode_graphs" + v + "_b" + seqs;
                kv(tag + "_wall_ms", r[0]);
                kv(tag + "_device_ms", r[1]);
                kv(tag + "_greedy_wall_ms", r[2]);
                kv(tag + "_host_frac", Math.max(0, 1 - r[1] / r[0]));
                kv(tag + "_greedy_host_frac", Math.max(0, 1 - r[1] / r[2]));
                kv(tag + "_sustained_device_ms", r[3]);
                kv(tag + "_greedy_host_frac_sustained", Math.max(0, 1 - r[3] / r[2]));
            }
        }
        be.setDecodeItemsPerCta(AttentionKernels.DECODE_ITEMS_AUTO);
        be.setDecodeItemStages(AttentionKernels.DEFAULT_DECODE_ITEM_STAGES);
        be.setDecodeWarpVariant(AttentionKernels.DECODE_WARP_AUTO);
        be.setGateUp16(Projections.DEFAULT_GATE_UP_16);
        be.setSingleSplitMinBatch(defaultMinBatch);
    }

    /**
     * Device ms per kind of operation of one eager decode step at batch 64..512 after 128-token prompts (median of three
     * steps by total; queued behind a spin kernel, so launch cost does not count), with the default kernels and with the
     * decode attention of before decode_attention_warp.cu; then one 8192-token prefill step of 64 prompts of 128 tokens (the fill phase)
     * when the budget allows. Keys {@code step_ops[_nowarp]_b<N>_<op>_ms} (_nowarp: the automatic choice without the
     * warp-per-task kernel), {@code step_ops_prefill8192_<op>_ms}; totals in {@code _total_ms}.
     */
    private void stepOps(int maxSeqs, int maxTokens) {
        StepProfile p = new StepProfile(ctx, 12 * c.numLayers() + 8);
        be.setDecodePaths(false, true);
        try {
            for (boolean multi : new boolean[] {false, true}) { // defaults, then without decode_attention_warp.cu
                be.setDecodeWarpVariant(multi ? AttentionKernels.DECODE_WARP_OFF : AttentionKernels.DECODE_WARP_AUTO);
                for (int seqs : new int[] {64, 128, 256, 512}) {
                    if (seqs <= maxSeqs && seqs <= maxTokens) {
                        int[][] tables = tables(seqs, 128 + 16);
                        prefillSeqs(tables, seqs, 128, new Random(seqs));
                        ForwardBatch fb = new ForwardBatch(Math.max(2048, seqs), Math.max(256, seqs));
                        // context 129..132: the split plan runs 2 splits, one of them 1-4 keys
                        profileSteps(p, "step_ops" + (multi ? "_nowarp" : "") + "_b" + seqs, i -> decodeBatch(fb, tables, seqs,
                                128 + i, new int[] {17}), fb);
                    }
                }
            }
            be.setDecodeWarpVariant(AttentionKernels.DECODE_WARP_AUTO);
            if (maxTokens >= 8192) {
                int seqs = 64;
                int[][] tables = tables(seqs, 128);
                Random r = new Random(5);
                ForwardBatch fb = new ForwardBatch(8192, Math.max(256, seqs));
                profileSteps(p, "step_ops_prefill8192", i -> {
                    fb.clear();
                    for (int s = 0; s < seqs; s++) {
                        fb.addSequence(random(r, 128), 0, 128, 0, tables[s], ForwardBatch.Logits.LAST);
                    }
                }, fb);
            }
        } finally {
            be.setProfile(null);
            be.setDecodePaths(true, true);
            p.close();
        }
    }

    private void profileSteps(StepProfile p, String tag, java.util.function.IntConsumer fill, ForwardBatch fb) {
        List<java.util.Map<StepProfile.Op, Double>> runs = new ArrayList<>();
        List<Double> totals = new ArrayList<>();
        for (int i = 0; i < 4; i++) { // the first is a warm-up
            fill.accept(i);
            be.kernels().spin(40_000_000L); // the host queues the whole step (and its events) meanwhile
            be.setProfile(p);
            be.run(fb);
            be.setProfile(null);
            ctx.synchronize();
            if (i > 0) {
                runs.add(p.millis());
                totals.add(p.totalMillis());
            }
        }
        List<Double> sorted = new ArrayList<>(totals);
        sorted.sort(null);
        int median = totals.indexOf(sorted.get(sorted.size() / 2));
        runs.get(median).forEach((op, ms) -> kv(tag + "_" + op.name().toLowerCase(java.util.Locale.ROOT) + "_ms", ms));
        kv(tag + "_total_ms", totals.get(median));
    }

    // ---- prefill and kernels ----

    private void prefill() {
        int[][] tables = tables(1, 2048);
        int[] tokens = random(new Random(7), 2048);
        ForwardBatch fb = new ForwardBatch(2048, 256);
        double[] ms = new double[5];
        for (int i = 0; i < ms.length + 1; i++) {
            fb.clear();
            fb.addSequence(tokens, 0, 2048, 0, tables[0], ForwardBatch.Logits.LAST);
            long t0 = System.nanoTime();
            be.forward(fb);
            if (i > 0) {
                ms[i - 1] = (System.nanoTime() - t0) / 1e6;
            }
        }
        Arrays.sort(ms);
        kv("prefill_2048_ttft_ms", ms[ms.length / 2]);
        // the step state stays: the last layer's q and KV of these 2048 tokens, for the attention timing below
    }

    private double time(Runnable work, int reps) {
        work.run();
        return QueuedTimer.msPerCall(ctx, be.kernels(), 0, work, reps);
    }

    /**
     * Device ms per call of {@code work} with the launches queued behind a 20 ms spin kernel, so the calls run back to
     * back and the host's ~9 µs per launch does not count (short kernels, such as decode attention at 1k context).
     */
    private double timeQueued(Runnable work, int reps) {
        work.run();
        return QueuedTimer.msPerCall(ctx, be.kernels(), 20_000_000L, work, reps);
    }

    private void kernels() {
        be.run(prefillBatch());
        AttentionKernels attention = be.attention();
        int chosen = attention.prefillVariant();
        for (int v = 0; v < attention.prefillVariantCount(); v++) { // the tensor-core kernels' variants (v4+: Hopper wgmma)
            attention.setPrefillVariant(v);
            kv("attn_prefill_2048_v" + v + "_ms", timeQueued(be::repeatPrefillAttention, 20));
            kv("attn_prefill_v" + v + "_ctas_per_sm", attention.prefillCtasPerSm(v, c.headDim()));
        }
        attention.setPrefillVariant(chosen);
        kv("attn_prefill_variant", chosen);
        double att = timeQueued(be::repeatPrefillAttention, 20);
        double flops = 4.0 * c.numHeads() * c.headDim() * (2048.0 * 2049 / 2); // causal: QK^T and PV
        kv("attn_prefill_2048_ms", att);
        kv("attn_prefill_2048_tflops", flops / att / 1e9);
        long[] scratch = be.gemmScratch();
        String[] names = {"qkv", "o", "gate_up", "down", "lm_head"};
        for (DeviceMatrix m : be.weights().shapes()) {
            if (m.shape() != CudaWeights.SHAPE_LM_HEAD) {
                double g = time(() -> be.cublasGemm().linear(scratch[0], m.data(), scratch[1], 2048, m.cols(), m.rows(), true), 10);
                kv("gemm_" + names[m.shape()] + "_m2048_ms", g);
                kv("gemm_" + names[m.shape()] + "_m2048_tflops", 2.0 * 2048 * m.cols() * m.rows() / g / 1e9);
            }
        }
        ProjectionBench.sweep(be, new int[] {1, 2, 4, 8, 16, 32, 64}, "");
    }

    private ForwardBatch prefillBatch() {
        ForwardBatch fb = new ForwardBatch(2048, 256);
        fb.addSequence(random(new Random(7), 2048), 0, 2048, 0, tables(1, 2048)[0], ForwardBatch.Logits.LAST);
        return fb;
    }

    /** Batch-1 decode ms per token after a prompt of each length (graphs + GEMV); {@code tag} prefixes the keys. */
    private void longContext(int[] contexts, String tag) {
        for (int len : contexts) {
            if (len + 64 > be.maxContextTokens()) {
                kv(tag + "itl_ctx" + len + "_ms", "skipped (context " + be.maxContextTokens() + ")");
                continue;
            }
            long t0 = System.nanoTime();
            double[] r = decodeSteps(1, len, 32);
            kv(tag + "itl_ctx" + len + "_ms", r[0]);
            kv(tag + "itl_ctx" + len + "_device_ms", r[1]);
            kv(tag + "itl_ctx" + len + "_total_s", (System.nanoTime() - t0) / 1e9);
            // the last step's decode attention alone (one layer: split kernel + reduce), against its KV bytes
            double us = timeQueued(be::repeatDecodeAttention, 50) * 1e3;
            // K/V bytes (scales included) of the last step's context, prompt + 43 decodes, in one layer
            double kvBytes = (double) (len + 3 + 32 + 8) * be.kvLayout().bytesPerBlock() / c.numLayers() / blockSize;
            kv(tag + "attn_decode_ctx" + len + "_us", us);
            kv(tag + "attn_decode_ctx" + len + "_gbs", kvBytes / us / 1e3);
        }
    }

    // ---- engine ----

    /**
     * N requests of {@code in} random tokens, {@code out} greedy tokens each, all at once through an {@link Engine} of
     * N seats and a step budget of {@code budget} tokens (the default prefill cap, so the fill phase admits the
     * burst); also the share of the wall time spent inside the backend ({@link TimedBackend}), the rest being the
     * engine thread's host work between steps.
     */
    private void engine(int[] concurrencies, int in, int out, int budget) throws Exception {
        engine(concurrencies, in, out, budget, "");
    }

    /** {@code variant}: a suffix of the keys ("_nowarp" ...) for a run with a switch changed. */
    private void engine(int[] concurrencies, int in, int out, int budget, String variant) throws Exception {
        SamplingParams params = SamplingParams.builder().temperature(0).maxTokens(out).ignoreEos(true).build();
        for (int n : concurrencies) {
            TimedBackend timed = new TimedBackend(be);
            try (Engine engine = new Engine(model, timed, EngineConfig.defaults().withMaxNumSeqs(n).withMaxNumBatchedTokens(budget).withPrefixCaching(false))) {
                Random r = new Random(n);
                run(engine, List.of(random(r, in)), params, null); // warm-up
                List<int[]> prompts = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    prompts.add(random(r, in));
                }
                List<Double> gaps = new ArrayList<>();
                long busy0 = timed.forwardNanos();
                long steps0 = timed.forwardCalls();
                long t0 = System.nanoTime();
                double ttft = run(engine, prompts, params, gaps);
                long wallNs = System.nanoTime() - t0;
                double s = wallNs / 1e9;
                String tag = "engine" + variant + "_" + in + "_" + out + "_c" + n + (budget == 2048 ? "" : "_t" + budget);
                kv(tag + "_tok_s", (double) n * out / s);
                kv(tag + "_backend_busy", (double) (timed.forwardNanos() - busy0) / wallNs);
                kv(tag + "_steps", timed.forwardCalls() - steps0);
                kv(tag + "_ttft_mean_ms", ttft * 1e3);
                double[] g = gaps.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                if (g.length > 0) {
                    kv(tag + "_itl_p50_ms", g[g.length / 2] * 1e3);
                    kv(tag + "_itl_p99_ms", g[(int) (g.length * 0.99)] * 1e3);
                }
                engineSteps(tag, timed.stepTimes().byPrefillTokens(t0, t0 + wallNs + 1, ENGINE_STEP_GROUPS));
            }
        }
    }

    /** Prompt tokens a step carried besides its decodes: groups 0 (pure decode), 1-1023, 1024-4095 and 4096+. */
    private static final int[] ENGINE_STEP_GROUPS = {1, 1024, 4096};

    /**
     * Where an engine run's wall time went: per group of steps (by prompt work carried, see {@link StepTimes}) their
     * count, mean wall ms and summed seconds, to hold against the graph decode step and the prefill step timed alone.
     */
    private static void engineSteps(String tag, List<StepTimes.Group> groups) {
        for (StepTimes.Group g : groups) {
            String key = tag + "_steps_prefill_" + g.label().replace("+", "plus");
            kv(key + "_n", g.steps());
            kv(key + "_mean_ms", g.meanMs());
            kv(key + "_sum_s", g.steps() * g.meanMs() / 1e3);
        }
    }

    /** Submits all at once, waits; returns the mean time to first token (s); inter-token gaps into {@code gaps}. */
    private static double run(Engine engine, List<int[]> prompts, SamplingParams params, List<Double> gaps)
            throws Exception {
        int n = prompts.size();
        long[] last = new long[n];
        double[] ttft = new double[n];
        List<List<Double>> perRequest = new ArrayList<>();
        List<CompletableFuture<Void>> done = new ArrayList<>();
        long submit = System.nanoTime();
        for (int i = 0; i < n; i++) {
            int index = i;
            List<Double> mine = new ArrayList<>();
            perRequest.add(mine);
            CompletableFuture<Void> f = new CompletableFuture<>();
            engine.submit(prompts.get(i), params, (TokenChunk ch) -> {
                long now = System.nanoTime();
                if (last[index] == 0) {
                    ttft[index] = (now - submit) / 1e9;
                } else {
                    mine.add((now - last[index]) / 1e9);
                }
                last[index] = now;
                if (ch.isLast()) {
                    f.complete(null);
                }
            });
            done.add(f);
        }
        CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).get(300, TimeUnit.SECONDS);
        if (gaps != null) {
            perRequest.forEach(gaps::addAll);
        }
        return Arrays.stream(ttft).average().orElse(0);
    }
}
