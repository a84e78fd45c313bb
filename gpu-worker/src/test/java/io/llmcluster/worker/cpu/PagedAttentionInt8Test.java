package io.llmcluster.worker.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.backend.Int8Kv;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The CPU's INT8 KV cache: {@link PagedAttentionInt8#writeKv} stores exactly {@link Int8Kv}'s bytes and scales, and
 * {@link PagedAttentionInt8#attendGroup} equals {@link PagedAttention#attendGroup} run on the dequantized FP32 cache
 * (random data, shuffled block tables, group sizes with tails, head dims with a scalar tail).
 */
class PagedAttentionInt8Test {
    @Test
    void shouldWriteTheTwinsBytesAndScales() {
        int nkv = 3;
        int hd = 20;
        Random r = new Random(3);
        try (Arena arena = Arena.ofConfined()) {
            KvCacheArena kv = new KvCacheArena(1, 4, 4, nkv, hd, true, arena);
            MemorySegment k = arena.allocate(4L * nkv * hd);
            MemorySegment v = arena.allocate(4L * nkv * hd);
            float[] kf = new float[nkv * hd];
            float[] vf = new float[nkv * hd];
            for (int i = 0; i < kf.length; i++) {
                kf[i] = (float) r.nextGaussian() * (1 + i / hd);
                vf[i] = (float) r.nextGaussian() * 0.1f;
                k.setAtIndex(ValueLayout.JAVA_FLOAT, i, kf[i]);
                v.setAtIndex(ValueLayout.JAVA_FLOAT, i, vf[i]);
            }
            PagedAttentionInt8.writeKv(kv.keys(0), kv.values(0), kv.keyScales(0), kv.valueScales(0), 9, k, 0, v, 0, nkv, hd);
            byte[] expected = new byte[hd];
            for (int h = 0; h < nkv; h++) {
                long row = 9L * nkv + h;
                float ks = Int8Kv.quantize(kf, h * hd, hd, expected, 0);
                assertArrayEquals(expected, kv.keys(0).asSlice(row * hd, hd).toArray(ValueLayout.JAVA_BYTE), "K head " + h);
                assertEquals(ks, kv.keyScales(0).getAtIndex(ValueLayout.JAVA_FLOAT, row));
                float vs = Int8Kv.quantize(vf, h * hd, hd, expected, 0);
                assertArrayEquals(expected, kv.values(0).asSlice(row * hd, hd).toArray(ValueLayout.JAVA_BYTE), "V head " + h);
                assertEquals(vs, kv.valueScales(0).getAtIndex(ValueLayout.JAVA_FLOAT, row));
            }
        }
    }

    @Test
    void shouldEqualTheFp32AttentionOnTheDequantizedCache() {
        int[][] shapes = {{1, 1, 16}, {3, 2, 20}, {4, 2, 64}, {5, 1, 128}, {8, 2, 32}}; // {group, kv heads, head dim}
        Random r = new Random(7);
        double worst = 0;
        for (int[] shape : shapes) {
            for (int contextLen : new int[] {1, 17, 100}) {
                worst = Math.max(worst, attentionCase(r, shape[0], shape[1], shape[2], contextLen));
            }
        }
        System.out.printf("[cpu] INT8 KV attention vs FP32 on the dequantized cache: worst rel err %.2e%n", worst);
    }

    private static double attentionCase(Random r, int group, int nkv, int hd, int contextLen) {
        int blockSize = 7;
        int blocks = (contextLen + blockSize - 1) / blockSize + 3;
        List<Integer> ids = new ArrayList<>();
        for (int b = 0; b < blocks; b++) {
            ids.add(b);
        }
        Collections.shuffle(ids, r);
        int[] table = ids.stream().mapToInt(Integer::intValue).toArray();
        int slots = blocks * blockSize;
        int kvDim = nkv * hd;
        try (Arena arena = Arena.ofConfined()) {
            KvCacheArena kv8 = new KvCacheArena(1, blocks, blockSize, nkv, hd, true, arena);
            KvCacheArena kv32 = new KvCacheArena(1, blocks, blockSize, kvDim, arena);
            MemorySegment k = arena.allocate(4L * kvDim);
            MemorySegment v = arena.allocate(4L * kvDim);
            for (int p = 0; p < contextLen; p++) {
                for (int i = 0; i < kvDim; i++) {
                    k.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian() * (1 + i % 3));
                    v.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
                }
                int slot = kv8.slot(table, p);
                PagedAttentionInt8.writeKv(kv8.keys(0), kv8.values(0), kv8.keyScales(0), kv8.valueScales(0), slot, k, 0, v,
                        0, nkv, hd);
            }
            for (int s = 0; s < slots; s++) { // the FP32 twin cache: what the bytes and scales stand for
                for (int h = 0; h < nkv; h++) {
                    long row = (long) s * nkv + h;
                    float ks = kv8.keyScales(0).getAtIndex(ValueLayout.JAVA_FLOAT, row);
                    float vs = kv8.valueScales(0).getAtIndex(ValueLayout.JAVA_FLOAT, row);
                    for (int i = 0; i < hd; i++) {
                        kv32.keys(0).setAtIndex(ValueLayout.JAVA_FLOAT, row * hd + i,
                                Int8Kv.dequantize(kv8.keys(0).get(ValueLayout.JAVA_BYTE, row * hd + i), ks));
                        kv32.values(0).setAtIndex(ValueLayout.JAVA_FLOAT, row * hd + i,
                                Int8Kv.dequantize(kv8.values(0).get(ValueLayout.JAVA_BYTE, row * hd + i), vs));
                    }
                }
            }
            int heads = group * nkv;
            MemorySegment q = arena.allocate(4L * heads * hd);
            for (int i = 0; i < heads * hd; i++) {
                q.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            }
            MemorySegment got = arena.allocate(4L * heads * hd);
            MemorySegment want = arena.allocate(4L * heads * hd);
            got.fill((byte) 0x7f); // NaN-free poison: a head not written keeps 3.4e38 and fails
            float[] scratch = new float[group * contextLen];
            float scale = (float) (1 / Math.sqrt(hd));
            for (int h = 0; h < nkv; h++) {
                PagedAttentionInt8.attendGroup(q, 0, h, group, kv8.keys(0), kv8.values(0), kv8.keyScales(0),
                        kv8.valueScales(0), table, blockSize, contextLen, nkv, hd, scale, got, 0, scratch);
                PagedAttention.attendGroup(q, 0, h, group, kv32.keys(0), kv32.values(0), table, blockSize, contextLen, nkv,
                        hd, scale, want, 0, scratch);
            }
            float[] g = got.toArray(ValueLayout.JAVA_FLOAT);
            float[] w = want.toArray(ValueLayout.JAVA_FLOAT);
            double worst = 0;
            for (int h = 0; h < heads; h++) {
                double diff = 0;
                double norm = 0;
                for (int i = 0; i < hd; i++) {
                    double d = (double) g[h * hd + i] - w[h * hd + i];
                    diff += d * d;
                    norm += (double) w[h * hd + i] * w[h * hd + i];
                }
                double e = Math.sqrt(diff / norm);
                assertTrue(e <= 1e-5, "group " + group + " kv " + nkv + " hd " + hd + " ctx " + contextLen + " head " + h
                        + ": rel err " + e + " " + Arrays.toString(Arrays.copyOfRange(g, h * hd, h * hd + 4)));
                worst = Math.max(worst, e);
            }
            return worst;
        }
    }
}
