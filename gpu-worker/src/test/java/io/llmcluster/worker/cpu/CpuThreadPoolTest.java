package io.llmcluster.worker.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(60)
class CpuThreadPoolTest {

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void shouldRunEveryIndexExactlyOnceForManySizesAndGrains(int threads) {
        try (CpuThreadPool pool = new CpuThreadPool(threads)) {
            for (int n : new int[] {0, 1, 2, 3, 5, 7, 8, 16, 31, 64, 100, 127, 1000, 4099}) {
                for (int grain : new int[] {0, 1, 2, 3, 4, 7, 16, 64, 5000}) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                    pool.parallelFor(n, grain, (w, start, end) -> {
                        for (int i = start; i < end; i++) {
                            hits.incrementAndGet(i);
                        }
                    });
                    for (int i = 0; i < n; i++) {
                        assertEquals(1, hits.get(i), "n=" + n + " grain=" + grain + " index " + i);
                    }
                }
            }
        }
    }

    @Test
    void shouldCutChunksAtMultiplesOfTheGrainAndNeverSmallerThanIt() {
        try (CpuThreadPool pool = new CpuThreadPool(3)) {
            for (int n : new int[] {5, 17, 100, 1001}) {
                for (int grain : new int[] {1, 4, 6, 40}) {
                    int g = grain;
                    int total = n;
                    pool.parallelFor(n, grain, (w, start, end) -> {
                        assertEquals(0, start % g, "start " + start);
                        assertTrue(end == total || end % g == 0, "end " + end);
                        assertTrue(end - start >= Math.min(g, total), "chunk " + start + ".." + end);
                    });
                }
            }
        }
    }

    @Test
    void shouldGiveConcurrentChunksDistinctWorkerIndices() {
        int threads = 3;
        try (CpuThreadPool pool = new CpuThreadPool(threads)) {
            AtomicIntegerArray inUse = new AtomicIntegerArray(threads);
            AtomicInteger bad = new AtomicInteger();
            for (int rep = 0; rep < 200; rep++) {
                pool.parallelFor(240, 1, (w, start, end) -> {
                    if (w < 0 || w >= threads || !inUse.compareAndSet(w, 0, 1)) {
                        bad.incrementAndGet();
                        return;
                    }
                    Thread.onSpinWait();
                    inUse.set(w, 0);
                });
            }
            assertEquals(0, bad.get());
        }
    }

    @Test
    void shouldPropagateAWorkerExceptionToTheCallerAndStayUsable() {
        try (CpuThreadPool pool = new CpuThreadPool(2)) {
            IllegalStateException thrown = new IllegalStateException("boom");
            for (int rep = 0; rep < 50; rep++) {
                RuntimeException e = assertThrows(RuntimeException.class, () -> pool.parallelFor(64, 1,
                        (w, start, end) -> {
                            if (start <= 40 && 40 < end) {
                                throw thrown;
                            }
                        }));
                assertSame(thrown, e);
            }
            AtomicInteger sum = new AtomicInteger();
            pool.parallelFor(100, 1, (w, start, end) -> sum.addAndGet(end - start));
            assertEquals(100, sum.get());
        }
    }

    @Test
    void shouldPropagateAnErrorThrownInEveryChunk() {
        try (CpuThreadPool pool = new CpuThreadPool(3)) {
            assertThrows(AssertionError.class, () -> pool.parallelFor(30, 1, (w, start, end) -> {
                throw new AssertionError("chunk " + start);
            }));
        }
    }

    @Test
    void shouldRefuseANestedCallInsteadOfDeadlocking() {
        try (CpuThreadPool pool = new CpuThreadPool(2)) {
            assertThrows(IllegalStateException.class,
                    () -> pool.parallelFor(8, 1, (w, s, e) -> pool.parallelFor(8, 1, (w2, s2, e2) -> { })));
        }
    }

    @Test
    void shouldNotLoseWakeupsOverManyCallsWhenWorkersParkAtOnce() {
        try (CpuThreadPool pool = new CpuThreadPool(3, 0)) {
            long[] sums = new long[3 * 8];
            for (int rep = 0; rep < 20_000; rep++) {
                pool.parallelFor(6, 1, (w, start, end) -> sums[w * 8] += end - start);
            }
            assertEquals(20_000L * 6, sums[0] + sums[8] + sums[16]);
        }
    }

    @Test
    void shouldRunOnTheCallerAloneWithOneThread() {
        try (CpuThreadPool pool = new CpuThreadPool(1)) {
            Thread caller = Thread.currentThread();
            pool.parallelFor(1000, 1, (w, start, end) -> {
                assertEquals(0, w);
                assertSame(caller, Thread.currentThread());
            });
            assertEquals(1, pool.threads());
        }
    }
}
