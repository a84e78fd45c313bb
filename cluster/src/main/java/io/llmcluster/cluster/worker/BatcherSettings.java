package io.llmcluster.cluster.worker;

/**
 * A {@link Batcher}'s limits ({@code llmcluster.worker.*} and {@code llmcluster.node.report-interval}).
 *
 * @param maxInFlight      sequences admitted at once (running plus waiting in the engine)
 * @param maxQueued        requests that may wait for room on this worker; more are refused (their gateway routes
 *                         them elsewhere or queues them); 0 = none waits here
 * @param streamWindow     chunk batches of one request sent to its gateway and not yet acknowledged
 * @param reportIntervalMs how often the worker's load report is published
 * @param retryAfterMs     the {@code Retry-After} a refusal suggests
 */
public record BatcherSettings(int maxInFlight, int maxQueued, int streamWindow, long reportIntervalMs,
                              long retryAfterMs) {
    public BatcherSettings {
        if (maxInFlight < 1 || maxQueued < 0 || streamWindow < 1 || reportIntervalMs < 1 || retryAfterMs < 0) {
            throw new IllegalArgumentException("llmcluster.worker: max-in-flight >= 1, max-queued >= 0, "
                    + "stream-window >= 1 required");
        }
    }
}
