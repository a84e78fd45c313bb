package io.llmcluster.worker.cuda;

import io.llmcluster.worker.cuda.CudaKernelsTest.Layout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Times every prefill attention variant ({@link AttentionKernels#prefillVariantCount}: mma.sync v0-v3, on Hopper the
 * wgmma kernel v4+) on the benchmark's shape without a model: 32 query heads, 8 kv heads, head dim 128, causal,
 * K/V paged in 16-slot blocks of a shuffled pool, random data: 1 sequence of 2048 tokens, and in FP16 also 8 of them
 * (b8), a varlen batch with cached prefixes and a batch of 8 prompts of mixed lengths (32 to 2048 tokens). Each
 * variant's output is first compared with variant 2's (max |difference|, relative L2 error) on the same inputs, then
 * timed with events, 20 launches queued behind a spin kernel, median of 5 such runs. Prints {@code key=value} lines
 * that deploy/gpu/fa3-bench.sh sets beside torch SDPA. Usage: {@code PrefillAttentionTiming [f16|bf16 ...]}; the
 * system properties {@code prefill.variants} and {@code prefill.shapes} (comma lists, e.g. {@code 10,14} and
 * {@code b8}) restrict the run, for example to one kernel under Nsight Compute (v2, the reference, always runs first).
 */
public final class PrefillAttentionTiming {
    private PrefillAttentionTiming() {
    }

    public static void main(String[] args) {
        try (CudaContext ctx = CudaContext.open(0)) {
            System.out.println("device=" + ctx.deviceName() + " cc " + ctx.computeCapability());
            for (String name : args.length > 0 ? args : new String[] {"f16", "bf16"}) {
                CudaDtype dt = name.equals("bf16") ? CudaDtype.BF16 : CudaDtype.F16;
                if (shape("2048")) {
                    run(ctx, dt, "2048", new int[] {0}, new int[] {2048});
                }
                if (dt == CudaDtype.F16) { // the other shapes in FP16 only: the dtype changes little, the call's time is scarce
                    if (shape("b8")) {
                        run(ctx, dt, "b8", new int[8], new int[] {2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048});
                    }
                    if (shape("varlen")) {
                        run(ctx, dt, "varlen", new int[] {0, 1000, 3000, 0}, new int[] {512, 512, 512, 512});
                    }
                    if (shape("mixed")) {
                        run(ctx, dt, "mixed", new int[8], new int[] {2048, 64, 1024, 200, 2048, 512, 32, 1500});
                    }
                }
            }
        }
    }

    private static void run(CudaContext ctx, CudaDtype dt, String label, int[] start, int[] count) {
        int nh = 32;
        int nkv = 8;
        int hd = 128;
        String key = "attn_" + label + "_" + dt.suffix();
        try (Dev d = new Dev(ctx, dt, 4L << 30)) {
            Random r = new Random(42);
            Layout lay = Layout.of(r, 16, start, count);
            int n = lay.tokens();
            long slots = (long) lay.numBlocks() * lay.blockSize();
            long kCache = d.halfs(Dev.random(r, (int) (slots * nkv * hd), 1f));
            long vCache = d.halfs(Dev.random(r, (int) (slots * nkv * hd), 1f));
            long q = d.halfs(Dev.random(r, n * nh * hd, 1f));
            int[] tiles = tiles(lay, AttentionKernels.prefillTokensPerTile(nh / nkv, hd));
            long tilesA = d.ints(tiles);
            long pos = d.ints(lay.positions());
            long tables = d.ints(lay.flatTables());
            CudaKernels k = new CudaKernels(ctx, dt);
            try (AttentionKernels att = new AttentionKernels(ctx, new CudaKernels(ctx, dt))) {
                int chosen = att.prefillVariant();
                double flops = 0;
                for (int p : lay.positions()) {
                    flops += 4.0 * nh * hd * (p + 1);
                }
                float[] ref = null;
                for (int v : order(att.prefillVariantCount())) {
                    att.setPrefillVariant(v);
                    long out = d.poisoned(2L * n * nh * hd);
                    Runnable launch = () -> att.prefill(q, kCache, vCache, out, tilesA, tiles.length / 4, pos, tables,
                            lay.stride(), nh, nkv, hd, lay.blockSize());
                    launch.run();
                    float[] o = d.readHalfs(out, n * nh * hd);
                    if (ref == null) {
                        ref = o;
                    }
                    OutputDiff diff = OutputDiff.of(o, ref);
                    double ms = QueuedTimer.medianMsPerCall(ctx, k, 5_000_000L, launch, 20);
                    String vk = key + "_v" + v;
                    System.out.printf("%s_ms=%.4f%n%s_tflops=%.1f%n%s_maxdiff_vs_v2=%.3g%n%s_relerr_vs_v2=%.3g%n%s_nan=%d%n", vk,
                            ms, vk, flops / ms / 1e9, vk, diff.maxAbs(), vk, Dev.relErr(o, 0, ref, 0, o.length), vk, diff.nans());
                    System.out.printf("%s_ctas_per_sm=%d%n", vk, att.prefillCtasPerSm(v, hd));
                }
                System.out.println(key + "_default_variant=" + chosen);
            }
        }
    }

    /** Whether shape {@code label} runs (property {@code prefill.shapes}, default all). */
    private static boolean shape(String label) {
        String only = System.getProperty("prefill.shapes", "");
        return only.isEmpty() || List.of(only.split(",")).contains(label);
    }

    /** Variant 2 (the mma.sync default, the reference) first, then the others (property {@code prefill.variants}). */
    private static List<Integer> order(int count) {
        String only = System.getProperty("prefill.variants", "");
        List<Integer> o = new ArrayList<>(List.of(AttentionKernels.DEFAULT_PREFILL_VARIANT));
        for (int v = 0; v < count; v++) {
            if (v != AttentionKernels.DEFAULT_PREFILL_VARIANT
                    && (only.isEmpty() || List.of(only.split(",")).contains(Integer.toString(v)))) {
                o.add(v);
            }
        }
        return o;
    }

    private static int[] tiles(Layout lay, int perTile) {
        List<Integer> t = new ArrayList<>();
        int first = 0;
        for (int s = 0; s < lay.start().length; s++) {
            for (int i = 0; i < lay.count()[s]; i += perTile) {
                t.addAll(List.of(first + i, Math.min(perTile, lay.count()[s] - i), s, 0));
            }
            first += lay.count()[s];
        }
        return t.stream().mapToInt(Integer::intValue).toArray();
    }
}
