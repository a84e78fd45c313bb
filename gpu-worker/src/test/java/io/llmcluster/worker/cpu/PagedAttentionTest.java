package io.llmcluster.worker.cpu;

import static io.llmcluster.worker.cpu.TestData.FLOAT;
import static io.llmcluster.worker.cpu.TestData.floats;
import static io.llmcluster.worker.cpu.TestData.random;
import static io.llmcluster.worker.cpu.TestData.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Paged attention against its scalar twin and a dense double-precision attention, over block tables that are
 * shuffled and leave holes (unused blocks filled with large garbage that would show if read).
 */
class PagedAttentionTest {
    private static final int NUM_KV_HEADS = 2;
    private static final int MAX_CONTEXT = 40;

    static Stream<Arguments> configs() {
        List<Arguments> configs = new ArrayList<>();
        for (int groupSize : new int[] {1, 2, 3, 4, 5}) {
            for (int blockSize : new int[] {1, 3, 16}) {
                for (int headDim : new int[] {8, 20, 64}) {
                    configs.add(Arguments.of(groupSize, blockSize, headDim));
                }
            }
        }
        return configs.stream();
    }

    /** One sequence of MAX_CONTEXT tokens written through a shuffled block table with holes. */
    private record Sequence(MemorySegment kCache, MemorySegment vCache, int[] blockTable, float[][][] k,
            float[][][] v) {
    }

    private static Sequence sequence(Arena arena, int blockSize, int headDim, long seed) {
        int needed = (MAX_CONTEXT + blockSize - 1) / blockSize;
        int numBlocks = needed * 2 + 1;
        List<Integer> ids = new ArrayList<>();
        for (int b = 0; b < numBlocks; b++) {
            ids.add(b);
        }
        Collections.shuffle(ids, new Random(seed));
        int[] table = ids.subList(0, needed).stream().mapToInt(Integer::intValue).toArray();
        long cacheFloats = (long) numBlocks * blockSize * NUM_KV_HEADS * headDim;
        SplittableRandom r = new SplittableRandom(seed);
        MemorySegment kCache = random(arena, r, 0, cacheFloats, 1000, 2000);
        MemorySegment vCache = random(arena, r, 0, cacheFloats, 1000, 2000);
        float[][][] k = new float[MAX_CONTEXT][NUM_KV_HEADS][headDim];
        float[][][] v = new float[MAX_CONTEXT][NUM_KV_HEADS][headDim];
        MemorySegment kRow = arena.allocate((1 + NUM_KV_HEADS * headDim) * 4L);
        MemorySegment vRow = arena.allocate((2 + NUM_KV_HEADS * headDim) * 4L);
        for (int p = 0; p < MAX_CONTEXT; p++) {
            for (int h = 0; h < NUM_KV_HEADS; h++) {
                for (int d = 0; d < headDim; d++) {
                    k[p][h][d] = (float) r.nextDouble(-1, 1);
                    v[p][h][d] = (float) r.nextDouble(-1, 1);
                    kRow.setAtIndex(FLOAT, 1 + h * headDim + d, k[p][h][d]);
                    vRow.setAtIndex(FLOAT, 2 + h * headDim + d, v[p][h][d]);
                }
            }
            int slot = table[p / blockSize] * blockSize + p % blockSize;
            PagedAttention.writeKv(kCache, vCache, slot, kRow, 1, vRow, 2, NUM_KV_HEADS, headDim);
        }
        return new Sequence(kCache, vCache, table, k, v);
    }

    /** softmax(scale * q K^T) V for one query head, dense, in double. */
    private static double[] denseAttention(float[] q, float[][][] k, float[][][] v, int kvHead, int contextLen,
            float scale) {
        int headDim = q.length;
        double[] scores = new double[contextLen];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = 0; p < contextLen; p++) {
            double s = 0;
            for (int d = 0; d < headDim; d++) {
                s += (double) q[d] * k[p][kvHead][d];
            }
            scores[p] = s * scale;
            max = Math.max(max, scores[p]);
        }
        double sum = 0;
        for (int p = 0; p < contextLen; p++) {
            scores[p] = Math.exp(scores[p] - max);
            sum += scores[p];
        }
        double[] out = new double[headDim];
        for (int p = 0; p < contextLen; p++) {
            for (int d = 0; d < headDim; d++) {
                out[d] += scores[p] / sum * v[p][kvHead][d];
            }
        }
        return out;
    }

    @ParameterizedTest(name = "group={0} blockSize={1} headDim={2}")
    @MethodSource("configs")
    void attendGroupShouldMatchItsScalarTwinAndDenseAttentionForEveryContextLength(int groupSize, int blockSize,
            int headDim) {
        int numHeads = NUM_KV_HEADS * groupSize;
        float scale = (float) (1 / Math.sqrt(headDim));
        float[] scratch = new float[groupSize * MAX_CONTEXT];
        try (Arena arena = Arena.ofConfined()) {
            Sequence seq = sequence(arena, blockSize, headDim, groupSize * 100L + blockSize * 10L + headDim);
            for (int contextLen = 1; contextLen <= MAX_CONTEXT; contextLen++) {
                MemorySegment q = random(arena, new SplittableRandom(contextLen), 1, (long) numHeads * headDim,
                        -2, 2);
                MemorySegment vec = arena.allocate((3 + (long) numHeads * headDim) * 4);
                MemorySegment sca = arena.allocate((long) numHeads * headDim * 4);
                for (int kvHead = 0; kvHead < NUM_KV_HEADS; kvHead++) {
                    PagedAttention.attendGroup(q, 1, kvHead, groupSize, seq.kCache(), seq.vCache(),
                            seq.blockTable(), blockSize, contextLen, NUM_KV_HEADS, headDim, scale, vec, 3, scratch);
                    ScalarKernels.attendGroup(q, 1, kvHead, groupSize, seq.kCache(), seq.vCache(),
                            seq.blockTable(), blockSize, contextLen, NUM_KV_HEADS, headDim, scale, sca, 0, scratch);
                }
                for (int h = 0; h < numHeads; h++) {
                    float[] actual = floats(vec, 3 + (long) h * headDim, headDim);
                    float[] twin = floats(sca, (long) h * headDim, headDim);
                    float[] qh = floats(q, 1 + (long) h * headDim, headDim);
                    double[] dense = denseAttention(qh, seq.k(), seq.v(), h / groupSize, contextLen, scale);
                    String where = "context " + contextLen + " head " + h;
                    assertTrue(relErr(actual, twin) <= 1e-5, where + " vs scalar twin");
                    assertTrue(relErr(actual, dense) <= 1e-5, where + " vs dense: " + relErr(actual, dense));
                }
            }
        }
    }

    @Test
    void attendGroupShouldWriteOnlyItsOwnGroupOfHeads() {
        int groupSize = 2;
        int headDim = 8;
        try (Arena arena = Arena.ofConfined()) {
            Sequence seq = sequence(arena, 4, headDim, 7);
            MemorySegment q = random(arena, new SplittableRandom(8), 0, 4L * headDim, -1, 1);
            MemorySegment out = arena.allocate(4L * headDim * 4);
            out.fill((byte) 0x55);
            PagedAttention.attendGroup(q, 0, 1, groupSize, seq.kCache(), seq.vCache(), seq.blockTable(), 4, 9,
                    NUM_KV_HEADS, headDim, 0.3f, out, 0, new float[groupSize * 9]);
            for (int i = 0; i < 4 * headDim; i++) {
                int bits = out.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, i);
                boolean ownGroup = i >= groupSize * headDim;
                assertEquals(!ownGroup, bits == 0x55555555, "element " + i);
            }
        }
    }

    @Test
    void writeKvShouldFillExactlyOneSlotOfEachCache() {
        int headDim = 4;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment kCache = arena.allocate(6L * NUM_KV_HEADS * headDim * 4);
            MemorySegment vCache = arena.allocate(6L * NUM_KV_HEADS * headDim * 4);
            MemorySegment k = random(arena, new SplittableRandom(1), 0, NUM_KV_HEADS * headDim, 1, 2);
            MemorySegment v = random(arena, new SplittableRandom(2), 0, NUM_KV_HEADS * headDim, -2, -1);
            PagedAttention.writeKv(kCache, vCache, 4, k, 0, v, 0, NUM_KV_HEADS, headDim);
            for (int i = 0; i < 6 * NUM_KV_HEADS * headDim; i++) {
                int rel = i - 4 * NUM_KV_HEADS * headDim;
                boolean inSlot = rel >= 0 && rel < NUM_KV_HEADS * headDim;
                assertEquals(inSlot ? k.getAtIndex(FLOAT, rel) : 0f, kCache.getAtIndex(FLOAT, i));
                assertEquals(inSlot ? v.getAtIndex(FLOAT, rel) : 0f, vCache.getAtIndex(FLOAT, i));
            }
        }
    }

    @Test
    void attendGroupShouldRejectAScratchOrBlockTableThatIsTooShort() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(1024);
            assertThrows(IndexOutOfBoundsException.class, () -> PagedAttention.attendGroup(s, 0, 0, 2, s, s,
                    new int[] {0, 1}, 4, 8, 1, 4, 1f, s, 0, new float[15]));
            assertThrows(IndexOutOfBoundsException.class, () -> PagedAttention.attendGroup(s, 0, 0, 1, s, s,
                    new int[] {0}, 4, 5, 1, 4, 1f, s, 0, new float[5]));
        }
    }
}
