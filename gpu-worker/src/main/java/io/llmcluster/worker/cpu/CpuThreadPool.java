package io.llmcluster.worker.cpu;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A fork-join loop for the CPU backend: {@link #parallelFor} splits {@code [0, n)} into chunks and runs them on
 * {@code threads - 1} persistent daemon workers plus the calling thread, returning when every chunk is done.
 *
 * <p>Chunks are handed out dynamically (an atomic counter), so a thread that was descheduled on a shared machine
 * simply takes fewer. A call allocates nothing. Idle workers spin with {@link Thread#onSpinWait} for
 * {@code spinNs} (the gaps between the kernels of one forward pass are short) and then park; the caller does the
 * same while waiting for the last chunk.
 *
 * <p>One caller at a time (the engine thread): a concurrent or nested {@code parallelFor} throws
 * IllegalStateException instead of deadlocking. Segments that tasks touch must be reachable from every thread:
 * allocate them from a shared, global or automatic arena (also for memory-mapped weights), not a confined one.
 *
 * <p>Protocol: {@code ctl} holds {@code generation << 32 | nextChunk}. A call first moves to the next generation
 * with the chunk word {@code CLOSED}, so a worker still holding the previous generation can no longer claim,
 * then publishes the job fields and opens chunk 0. A worker claims a chunk by CAS on the exact word it read, so a
 * successful claim proves the job fields it read belong to that generation.
 */
public final class CpuThreadPool implements AutoCloseable {
    /** Chunk word while a job is being published. */
    private static final int CLOSED = Integer.MAX_VALUE;
    /** At most this many chunks per thread: enough to even out a late or preempted thread. */
    private static final int CHUNKS_PER_THREAD = 8;
    /** How long an idle thread spins before parking, by default. */
    public static final long DEFAULT_SPIN_NS = 200_000;

    private final int threads;
    private final long spinNs;
    private final Worker[] workers;
    private final AtomicLong ctl = new AtomicLong();
    private final AtomicInteger remainingChunks = new AtomicInteger();
    private final AtomicBoolean busy = new AtomicBoolean();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile RangeTask task;
    private volatile int n;
    private volatile int grain;
    private volatile int units;
    private volatile int numChunks;
    private volatile Thread waiter;
    private volatile boolean shutdown;

    /** A pool with {@link Runtime#availableProcessors()} threads (the caller included). */
    public CpuThreadPool() {
        this(Runtime.getRuntime().availableProcessors());
    }

    /** A pool of {@code threads} threads, the caller included ({@code threads - 1} workers are started). */
    public CpuThreadPool(int threads) {
        this(threads, DEFAULT_SPIN_NS);
    }

    /** As {@link #CpuThreadPool(int)}, spinning {@code spinNs} before an idle thread parks. */
    public CpuThreadPool(int threads, long spinNs) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1: " + threads);
        }
        this.threads = threads;
        this.spinNs = Math.max(0, spinNs);
        this.workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i + 1);
            Thread t = Thread.ofPlatform().daemon().name("llmc-cpu-" + (i + 1)).unstarted(workers[i]);
            workers[i].thread = t;
            t.start();
        }
    }

    /** Threads that run chunks, the caller included. */
    public int threads() {
        return threads;
    }

    /**
     * Runs {@code task} over {@code [0, n)} split into chunks of at least {@code grain} indices (fewer only when
     * {@code n < grain}); every chunk boundary but {@code n} is a multiple of {@code grain}. Returns when all
     * chunks are done; the first exception thrown by a chunk is rethrown here after the others finished.
     */
    public void parallelFor(int n, int grain, RangeTask task) {
        if (n <= 0) {
            return;
        }
        int g = Math.max(1, grain);
        int u = Math.max(1, n / g);
        int chunks = Math.min(u, threads * CHUNKS_PER_THREAD);
        if (chunks == 1 || threads == 1) {
            task.run(0, 0, n);
            return;
        }
        if (shutdown) {
            throw new IllegalStateException("CpuThreadPool is closed");
        }
        if (!busy.compareAndSet(false, true)) {
            throw new IllegalStateException("CpuThreadPool.parallelFor called concurrently or from inside a task");
        }
        try {
            long gen = ((ctl.get() >>> 32) + 1) & 0xFFFF_FFFFL;
            ctl.set(gen << 32 | CLOSED);
            this.task = task;
            this.n = n;
            this.grain = g;
            this.units = u;
            this.numChunks = chunks;
            remainingChunks.set(chunks);
            ctl.set(gen << 32);
            wakeParkedWorkers();
            runChunks(0, gen);
            awaitAllChunks();
            rethrowFailure();
        } finally {
            busy.set(false);
        }
    }

    /** Stops the workers (they are daemons, so this is only tidiness). */
    @Override
    public void close() {
        shutdown = true;
        for (Worker w : workers) {
            LockSupport.unpark(w.thread);
        }
        for (Worker w : workers) {
            try {
                w.thread.join(TimeUnit.SECONDS.toMillis(1));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void wakeParkedWorkers() {
        for (Worker w : workers) {
            if (w.parked) {
                LockSupport.unpark(w.thread);
            }
        }
    }

    /** Claims and runs chunks of generation {@code gen} until none is left. */
    private void runChunks(int workerIndex, long gen) {
        while (true) {
            long s = ctl.get();
            if ((s >>> 32) != gen) {
                return;
            }
            int c = (int) s;
            int chunks = numChunks;
            if (c >= chunks) {
                return;
            }
            RangeTask t = task;
            int total = n;
            int g = grain;
            int u = units;
            if (!ctl.compareAndSet(s, s + 1)) {
                continue;
            }
            int start = (int) ((long) c * u / chunks) * g;
            int end = c == chunks - 1 ? total : (int) ((long) (c + 1) * u / chunks) * g;
            try {
                t.run(workerIndex, start, end);
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
            if (remainingChunks.decrementAndGet() == 0) {
                Thread w = waiter;
                if (w != null) {
                    LockSupport.unpark(w);
                }
            }
        }
    }

    private void awaitAllChunks() {
        long deadline = 0;
        for (int spins = 1; remainingChunks.get() != 0; spins++) {
            if ((spins & 63) == 0) {
                long now = System.nanoTime();
                if (deadline == 0) {
                    deadline = now + spinNs;
                } else if (now - deadline > 0) {
                    parkUntilAllChunks();
                    return;
                }
            }
            Thread.onSpinWait();
        }
    }

    private void parkUntilAllChunks() {
        waiter = Thread.currentThread();
        while (remainingChunks.get() != 0) {
            LockSupport.park(this);
        }
        waiter = null;
    }

    private void rethrowFailure() {
        Throwable f = failure.getAndSet(null);
        if (f == null) {
            return;
        }
        if (f instanceof RuntimeException r) {
            throw r;
        }
        if (f instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("parallelFor task failed", f);
    }

    private final class Worker implements Runnable {
        final int index;
        Thread thread;
        volatile boolean parked;

        Worker(int index) {
            this.index = index;
        }

        @Override
        public void run() {
            long seenGen = 0;
            while (!shutdown) {
                long s = ctl.get();
                if (isNewJob(s, seenGen)) {
                    seenGen = s >>> 32;
                    runChunks(index, seenGen);
                } else {
                    idle(seenGen);
                }
            }
        }

        private boolean isNewJob(long s, long seenGen) {
            return (s >>> 32) != seenGen && (int) s != CLOSED;
        }

        /** Spins for spinNs, then parks, until a new job (or shutdown) appears. */
        private void idle(long seenGen) {
            long deadline = System.nanoTime() + spinNs;
            for (int spins = 1; ; spins++) {
                if (isNewJob(ctl.get(), seenGen) || shutdown) {
                    return;
                }
                if ((spins & 63) == 0 && System.nanoTime() - deadline > 0) {
                    break;
                }
                Thread.onSpinWait();
            }
            parked = true;
            if (!isNewJob(ctl.get(), seenGen) && !shutdown) {
                LockSupport.park(CpuThreadPool.this);
            }
            parked = false;
        }
    }
}
