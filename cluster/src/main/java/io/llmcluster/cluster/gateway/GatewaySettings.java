package io.llmcluster.cluster.gateway;

import java.util.Locale;

/**
 * How a gateway routes and queues ({@code llmcluster.gateway.*} in {@code reference.conf}).
 *
 * @param router          {@code kv} (the KV-aware, load-aware {@code Router}) or {@code round-robin}
 * @param maxQueued       requests the gateway holds while every worker is full; one more is answered 429 at once
 * @param queueTimeoutMs  how long a request may wait for room before it is answered 429
 * @param retryIntervalMs how often a waiting request asks the router again
 * @param retryAfterMs    the {@code Retry-After} of the gateway's 429 and 503 answers
 * @param blockSizeTokens tokens per block of the prompt hashes the gateway looks up in its KV directory (the
 *                        workers' KV block size)
 */
public record GatewaySettings(RouterKind router, int maxQueued, long queueTimeoutMs, long retryIntervalMs,
                              long retryAfterMs, int blockSizeTokens) {
    /** The routing policies a gateway can run. */
    public enum RouterKind {
        KV, ROUND_ROBIN;

        /** {@code kv} or {@code round-robin}; anything else is a clear error. */
        public static RouterKind parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "kv" -> KV;
                case "round-robin", "round_robin", "roundrobin" -> ROUND_ROBIN;
                default -> throw new IllegalArgumentException("router must be kv or round-robin, got \"" + s + "\"");
            };
        }

        public String configName() {
            return this == KV ? "kv" : "round-robin";
        }
    }

    public GatewaySettings {
        if (maxQueued < 0 || queueTimeoutMs < 0 || retryIntervalMs < 1 || retryAfterMs < 0 || blockSizeTokens < 1) {
            throw new IllegalArgumentException("llmcluster.gateway: max-queued, queue-timeout and retry-after must be"
                    + " >= 0, retry-interval >= 1 ms, the KV block size >= 1");
        }
    }

    public GatewaySettings withRouter(RouterKind r) {
        return new GatewaySettings(r, maxQueued, queueTimeoutMs, retryIntervalMs, retryAfterMs, blockSizeTokens);
    }
}
