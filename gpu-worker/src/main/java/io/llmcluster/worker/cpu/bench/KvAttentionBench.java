package io.llmcluster.worker.cpu.bench;

import io.llmcluster.worker.cpu.KvCacheArena;
import io.llmcluster.worker.cpu.PagedAttention;
import io.llmcluster.worker.cpu.PagedAttentionInt8;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/**
 * CPU decode attention of one token over a long context, FP32 KV cache vs INT8 KV cache, one thread, the 8B shape
 * (8 kv heads of 128, GQA 4): microseconds per token per layer, each measured for about half a second in five
 * alternating rounds; the best round of each is the result (the development machine is shared, so rounds vary).
 * Usage: {@code KvAttentionBench [contexts, e.g. 1024,8192]}.
 */
public final class KvAttentionBench {
    private static final int HEAD_DIM = 128;
    private static final int KV_HEADS = 8;
    private static final int GROUP = 4;
    private static final int BLOCK = 16;

    private KvAttentionBench() {
    }

    public static void main(String[] args) {
        for (String c : (args.length > 0 ? args[0] : "1024,8192").split(",")) {
            run(Integer.parseInt(c));
        }
    }

    private static void run(int ctx) {
        int blocks = ctx / BLOCK + 1;
        try (Arena arena = Arena.ofShared()) {
            KvCacheArena fp32 = new KvCacheArena(1, blocks, BLOCK, KV_HEADS * HEAD_DIM, arena);
            KvCacheArena int8 = new KvCacheArena(1, blocks, BLOCK, KV_HEADS, HEAD_DIM, true, arena);
            Random r = new Random(1);
            MemorySegment row = arena.allocate(4L * KV_HEADS * HEAD_DIM);
            int[] table = new int[blocks];
            for (int b = 0; b < blocks; b++) {
                table[b] = b; // the sequence's blocks in order
            }
            for (int p = 0; p < ctx; p++) {
                for (int i = 0; i < KV_HEADS * HEAD_DIM; i++) {
                    row.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
                }
                PagedAttention.writeKv(fp32.keys(0), fp32.values(0), p, row, 0, row, 0, KV_HEADS, HEAD_DIM);
                PagedAttentionInt8.writeKv(int8.keys(0), int8.values(0), int8.keyScales(0), int8.valueScales(0), p, row, 0,
                        row, 0, KV_HEADS, HEAD_DIM);
            }
            MemorySegment q = arena.allocate(4L * KV_HEADS * GROUP * HEAD_DIM);
            MemorySegment out = arena.allocate(4L * KV_HEADS * GROUP * HEAD_DIM);
            float[] scores = new float[GROUP * ctx];
            double best32 = Double.MAX_VALUE;
            double best8 = Double.MAX_VALUE;
            for (int round = 0; round < 5; round++) {
                double f32 = perToken(() -> {
                    for (int h = 0; h < KV_HEADS; h++) {
                        PagedAttention.attendGroup(q, 0, h, GROUP, fp32.keys(0), fp32.values(0), table, BLOCK, ctx, KV_HEADS,
                                HEAD_DIM, 0.1f, out, 0, scores);
                    }
                });
                double i8 = perToken(() -> {
                    for (int h = 0; h < KV_HEADS; h++) {
                        PagedAttentionInt8.attendGroup(q, 0, h, GROUP, int8.keys(0), int8.values(0), int8.keyScales(0),
                                int8.valueScales(0), table, BLOCK, ctx, KV_HEADS, HEAD_DIM, 0.1f, out, 0, scores);
                    }
                });
                best32 = Math.min(best32, f32);
                best8 = Math.min(best8, i8);
            }
            System.out.printf("ctx %d, one layer (8 kv heads x GQA 4 x 128), one thread, best of 5: FP32 KV %.0f us, INT8 KV "
                    + "%.0f us (%.2fx faster)%n", ctx, best32, best8, best32 / best8);
        }
    }

    private static double perToken(Runnable work) {
        long t0 = System.nanoTime();
        int n = 0;
        while (System.nanoTime() - t0 < 500_000_000L) {
            work.run();
            n++;
        }
        return (System.nanoTime() - t0) / 1e3 / n;
    }
}
