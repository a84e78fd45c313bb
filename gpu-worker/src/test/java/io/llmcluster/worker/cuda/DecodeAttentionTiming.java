package io.llmcluster.worker.cuda;

import io.llmcluster.worker.cuda.CudaKernelsTest.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/**
 * Times the 16-bit decode attention kernels on the throughput benchmark's shape without a model: 32 query heads, 8 kv
 * heads, head dim 128, FP16, 16-slot blocks of a shuffled pool, random data, one decode token per sequence at a random
 * context of 129..152 (what 128-token prompts reach in GpuBench's decode_large), batches 64..512, one split (as the
 * backend runs them at large batch), plus 64 and 256 sequences at 1000..1100 keys. Variants: the one-token kernel + reduce
 * ({@code old}), the items kernel's default pick ({@code items}, the default before decode_attention_warp.cu), 1 and
 * 2 tokens a CTA, and each warp-kernel variant ({@code warpN}, AttentionKernels.DECODE_WARP_VARIANTS). Each output is compared with {@code items}' (max
 * |difference|, relative L2 error), then timed with events: 20 launches queued behind a spin kernel, median of 5.
 * Prints {@code key=value} lines: {@code dattn_b<N>_c<ctx>_<variant>_us} (per layer), {@code _gbs} (K/V bytes read /
 * time), {@code _relerr}. Usage: {@code DecodeAttentionTiming [time|ncu]}; {@code ncu} launches each variant once at
 * batch 256 (for Nsight Compute, no timing).
 */
public final class DecodeAttentionTiming {
    private static final int NH = 32;
    private static final int NKV = 8;
    private static final int HD = 128;
    private static final int BS = 16;
    private static final String[] VARIANTS = {"items", "old", "items1", "items2", "warp0", "warp1", "warp2", "warp3"};

    private DecodeAttentionTiming() {
    }

    public static void main(String[] args) {
        boolean ncu = args.length > 0 && args[0].equals("ncu");
        try (CudaContext ctx = CudaContext.open(0)) {
            System.out.println("device=" + ctx.deviceName() + " cc " + ctx.computeCapability());
            if (ncu) {
                run(ctx, 256, 129, 24, true);
                return;
            }
            for (int b : new int[] {64, 128, 256, 512}) {
                run(ctx, b, 129, 24, false);
            }
            run(ctx, 64, 1000, 100, false);
            run(ctx, 256, 1000, 100, false);
        }
    }

    private static void run(CudaContext ctx, int batch, int ctxMin, int ctxSpread, boolean ncu) {
        CudaDtype dt = CudaDtype.F16;
        String key = "dattn_b" + batch + "_c" + ctxMin;
        Random r = new Random(batch * 31L + ctxMin);
        int[] start = new int[batch];
        int[] ones = new int[batch];
        long kvBytes = 0;
        for (int s = 0; s < batch; s++) {
            int len = ctxMin + r.nextInt(ctxSpread);
            start[s] = len - 1;
            ones[s] = 1;
            kvBytes += (long) len * NKV * HD * 2 * 2;
        }
        Layout lay = Layout.of(r, BS, start, ones);
        long slots = (long) lay.numBlocks() * BS;
        long elems = slots * NKV * HD;
        try (Dev d = new Dev(ctx, dt, 4 * elems + (64L << 20) + 4L * batch * NH * HD * (4 + 2 * VARIANTS.length))) {
            long kCache = randomHalfs(d, r, elems);
            long vCache = randomHalfs(d, r, elems);
            long q = d.halfs(Dev.random(r, batch * NH * HD, 1f));
            int[] decodes = new int[2 * batch];
            for (int t = 0; t < batch; t++) {
                decodes[2 * t] = t;
                decodes[2 * t + 1] = t;
            }
            long dec = d.ints(decodes);
            long pos = d.ints(lay.positions());
            long tables = d.ints(lay.flatTables());
            long partO = d.poisoned(4L * batch * NH * HD);
            long partMl = d.poisoned(4L * batch * NH * 2);
            CudaKernels k = new CudaKernels(ctx, dt);
            try (AttentionKernels att = new AttentionKernels(ctx, new CudaKernels(ctx, dt))) {
                float[] ref = null;
                for (String v : VARIANTS) {
                    att.setDecodeItemsPerCta(v.equals("old") ? AttentionKernels.DECODE_ITEMS_OLD
                            : v.startsWith("items") && v.length() > 5 ? Integer.parseInt(v.substring(5)) : AttentionKernels.DECODE_ITEMS_AUTO);
                    att.setDecodeWarpVariant(v.startsWith("warp") ? Integer.parseInt(v.substring(4)) : AttentionKernels.DECODE_WARP_OFF);
                    long out = d.poisoned(2L * batch * NH * HD);
                    Runnable launch = () -> att.decode(q, kCache, vCache, partO, partMl, out, dec, batch, pos, tables, lay.stride(),
                            NH, NKV, HD, BS, 1 << 16, 1, true);
                    launch.run();
                    ctx.synchronize();
                    if (ncu) {
                        continue;
                    }
                    float[] o = d.readHalfs(out, batch * NH * HD);
                    if (ref == null) {
                        ref = o;
                    }
                    OutputDiff diff = OutputDiff.of(o, ref);
                    double ms = QueuedTimer.medianMsPerCall(ctx, k, 5_000_000L, launch, 20);
                    String vk = key + "_" + v;
                    System.out.printf("%s_us=%.2f %s_gbs=%.0f %s_maxdiff=%.3g %s_relerr=%.3g %s_nan=%d%n", vk, ms * 1e3, vk,
                            kvBytes / ms / 1e6, vk, diff.maxAbs(), vk, Dev.relErr(o, 0, ref, 0, o.length), vk, diff.nans());
                }
            }
        }
    }

    /** {@code elems} random 16-bit values on the device, uploaded from one 4M-element pattern (timing needs no more). */
    private static long randomHalfs(Dev d, Random r, long elems) {
        int chunk = 1 << 22;
        float[] f = Dev.random(r, chunk, 1f);
        MemorySegment s = Arena.ofAuto().allocate(2L * chunk, 64);
        for (int i = 0; i < chunk; i++) {
            s.setAtIndex(ValueLayout.JAVA_SHORT, i, d.dt.encode(f[i]));
        }
        long a = d.arena.take(2 * elems, "kv cache");
        for (long off = 0; off < elems; off += chunk) {
            long n = Math.min(chunk, elems - off);
            d.ctx.copyToDevice(s.asSlice(0, 2 * n), d.arena, a + 2 * off);
        }
        return a;
    }
}
