package io.llmcluster.worker.actor;

/**
 * Limits of one {@link GpuWorker}.
 *
 * @param workerId      its name in logs, metrics and the admin API
 * @param maxInFlight   sequences admitted at once (running plus waiting); a request that would pass it is
 *                      refused as queue full
 * @param retryAfterMs  what a refusal tells the client to wait before retrying
 */
public record WorkerSettings(String workerId, int maxInFlight, long retryAfterMs) {
    public WorkerSettings {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be >= 1, got " + maxInFlight);
        }
        if (retryAfterMs < 0) {
            throw new IllegalArgumentException("retryAfterMs must be >= 0, got " + retryAfterMs);
        }
    }
}
