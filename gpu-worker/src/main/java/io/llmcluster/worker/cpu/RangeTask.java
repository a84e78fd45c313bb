package io.llmcluster.worker.cpu;

/**
 * A piece of a {@link CpuThreadPool#parallelFor} loop: handles indices {@code [start, end)}.
 *
 * <p>{@code workerIndex} is in {@code [0, pool.threads())}; it is unique among the threads running one
 * {@code parallelFor} at a time, so a task may index per-thread scratch with it. Implementations on hot paths are
 * allocated once (a field), never a lambda capturing per-call values.
 */
@FunctionalInterface
public interface RangeTask {
    void run(int workerIndex, int start, int end);
}
