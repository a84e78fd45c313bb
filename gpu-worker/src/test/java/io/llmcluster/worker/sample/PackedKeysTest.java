package io.llmcluster.worker.sample;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PackedKeysTest {

    @Test
    void shouldOrderKeysByValueDescendingThenIdAscending() {
        assertTrue(PackedKeys.key(2f, 5) < PackedKeys.key(1f, 0));
        assertTrue(PackedKeys.key(-1f, 5) < PackedKeys.key(-2f, 0));
        assertTrue(PackedKeys.key(1f, 3) < PackedKeys.key(1f, 4));
        assertTrue(PackedKeys.key(Float.NEGATIVE_INFINITY, 0) > PackedKeys.key(-Float.MAX_VALUE, 9));
        assertEquals(PackedKeys.key(0f, 1), PackedKeys.key(-0f, 1));
    }

    @Test
    void shouldRoundTripValueAndId() {
        for (float v : new float[] {0f, 1.5f, -3.25f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NEGATIVE_INFINITY}) {
            long k = PackedKeys.key(v, 123_456);
            assertEquals(v, PackedKeys.value(k));
            assertEquals(123_456, PackedKeys.id(k));
        }
    }

    @Test
    void shouldSortLikeArraysSort() {
        SplittableRandom r = new SplittableRandom(1);
        for (int n : new int[] {0, 1, 2, 5, 24, 25, 100, 1000, 50_000}) {
            long[] a = new long[n];
            for (int i = 0; i < n; i++) {
                a[i] = r.nextInt(4) == 0 ? r.nextLong(10) : r.nextLong(); // duplicates too
            }
            long[] want = a.clone();
            Arrays.sort(want);
            PackedKeys.sort(a, 0, n);
            assertArrayEquals(want, a, "n=" + n);
        }
    }

    @Test
    void shouldSortSortedAndReversedInput() {
        long[] a = new long[10_000];
        for (int i = 0; i < a.length; i++) {
            a[i] = a.length - i;
        }
        PackedKeys.sort(a, 0, a.length);
        for (int i = 0; i < a.length; i++) {
            assertEquals(i + 1, a[i]);
        }
        PackedKeys.sort(a, 0, a.length);
        assertEquals(1, a[0]);
    }

    @Test
    void shouldSelectTheTopKBestFirstWithTiesToTheLowestId() {
        SplittableRandom r = new SplittableRandom(2);
        float[] values = new float[5000];
        for (int i = 0; i < values.length; i++) {
            values[i] = r.nextInt(300) / 7f; // many ties
        }
        int[] ranking = Reference.ranking(values);
        long[] out = new long[values.length];
        for (int k : new int[] {1, 2, 50, 1024, 5000, 9000}) {
            int n = PackedKeys.selectTop(values, values.length, k, out);
            assertEquals(Math.min(k, values.length), n);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = PackedKeys.id(out[i]);
            }
            assertArrayEquals(Arrays.copyOf(ranking, n), ids, "k=" + k);
        }
    }
}
