package io.llmcluster.worker.sample;

/**
 * A (float value, token id) pair packed into one {@code long} whose ascending order is value descending, then
 * id ascending: sorting keys ranks tokens best first with ties to the lowest id, and needs no boxing or
 * comparator. Holds the allocation-free sort and top-k selection the sampler uses. NaN must not be packed.
 */
final class PackedKeys {
    private static final int INSERTION_SORT_MAX = 24;

    private PackedKeys() {}

    /** The key of {@code value} for token {@code id >= 0}; -0.0 and 0.0 get the same rank. */
    static long key(float value, int id) {
        return ((long) ~sortableBits(value + 0.0f) << 32) | id;
    }

    static int id(long key) {
        return (int) key;
    }

    static float value(long key) {
        int s = ~(int) (key >> 32);
        return Float.intBitsToFloat(s ^ ((s >> 31) & 0x7FFFFFFF));
    }

    /** An int whose signed order is the float order (an involution on the bits). */
    private static int sortableBits(float f) {
        int bits = Float.floatToRawIntBits(f);
        return bits ^ ((bits >> 31) & 0x7FFFFFFF);
    }

    /**
     * Writes the keys of the {@code min(k, n)} largest of {@code values[0, n)} into {@code out}, best first (ties
     * to the lowest id), and returns how many. O(n log k) worst case, about n comparisons when k is small.
     */
    static int selectTop(float[] values, int n, int k, long[] out) {
        k = Math.min(k, n);
        if (k <= 0) {
            return 0;
        }
        for (int i = 0; i < k; i++) {
            out[i] = key(values[i], i);
        }
        for (int i = k / 2 - 1; i >= 0; i--) {
            siftDown(out, i, k);
        }
        float worst = value(out[0]);
        for (int i = k; i < n; i++) {
            float v = values[i];
            if (v > worst) { // ties lose: every id in the heap is lower than i
                out[0] = key(v, i);
                siftDown(out, 0, k);
                worst = value(out[0]);
            }
        }
        for (int end = k - 1; end > 0; end--) {
            swap(out, 0, end);
            siftDown(out, 0, end);
        }
        return k;
    }

    /** Sorts {@code a[from, to)} ascending in place: quicksort, insertion sort for short ranges, heapsort guard. */
    static void sort(long[] a, int from, int to) {
        int depthLimit = 2 * (32 - Integer.numberOfLeadingZeros(Math.max(1, to - from)));
        introsort(a, from, to, depthLimit);
    }

    private static void introsort(long[] a, int lo, int hi, int depthLimit) {
        while (hi - lo > INSERTION_SORT_MAX) {
            if (depthLimit-- == 0) {
                heapsort(a, lo, hi);
                return;
            }
            int p = partition(a, lo, hi);
            if (p - lo < hi - p - 1) { // recurse on the smaller side: stack depth O(log n)
                introsort(a, lo, p, depthLimit);
                lo = p + 1;
            } else {
                introsort(a, p + 1, hi, depthLimit);
                hi = p;
            }
        }
        insertionSort(a, lo, hi);
    }

    /** Median-of-three Lomuto-free (Hoare style) partition; returns the pivot's final index. */
    private static int partition(long[] a, int lo, int hi) {
        int mid = (lo + hi) >>> 1;
        int last = hi - 1;
        if (a[mid] < a[lo]) swap(a, mid, lo);
        if (a[last] < a[lo]) swap(a, last, lo);
        if (a[last] < a[mid]) swap(a, last, mid);
        swap(a, mid, last - 1); // pivot parked at last - 1; a[lo] <= pivot <= a[last]
        long pivot = a[last - 1];
        int i = lo;
        int j = last - 1;
        while (true) {
            while (a[++i] < pivot) { }
            while (a[--j] > pivot) { }
            if (i >= j) {
                break;
            }
            swap(a, i, j);
        }
        swap(a, i, last - 1);
        return i;
    }

    private static void insertionSort(long[] a, int lo, int hi) {
        for (int i = lo + 1; i < hi; i++) {
            long x = a[i];
            int j = i - 1;
            while (j >= lo && a[j] > x) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = x;
        }
    }

    private static void heapsort(long[] a, int lo, int hi) {
        int n = hi - lo;
        for (int i = n / 2 - 1; i >= 0; i--) {
            siftDown(a, lo, i, n);
        }
        for (int end = n - 1; end > 0; end--) {
            swap(a, lo, lo + end);
            siftDown(a, lo, 0, end);
        }
    }

    /** Max-heap sift of element {@code i} in {@code heap[0, n)}. */
    private static void siftDown(long[] heap, int i, int n) {
        siftDown(heap, 0, i, n);
    }

    private static void siftDown(long[] heap, int base, int i, int n) {
        long x = heap[base + i];
        while (true) {
            int child = 2 * i + 1;
            if (child >= n) {
                break;
            }
            if (child + 1 < n && heap[base + child + 1] > heap[base + child]) {
                child++;
            }
            if (heap[base + child] <= x) {
                break;
            }
            heap[base + i] = heap[base + child];
            i = child;
        }
        heap[base + i] = x;
    }

    private static void swap(long[] a, int i, int j) {
        long t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
