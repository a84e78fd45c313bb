package io.llmcluster.http;

/**
 * The HTTP server's settings (HOCON {@code llmcluster.http}).
 *
 * @param port            0 picks a free port
 * @param maxRequestBytes larger bodies get 413
 * @param adminToken      bearer token of {@code /admin/*}; empty = admin API disabled
 * @param drainTimeoutMs  how long a shutdown lets requests in flight finish before cancelling them
 */
public record HttpSettings(String host, int port, long maxRequestBytes, ApiLimits limits, String adminToken,
                           long drainTimeoutMs) {
    public boolean adminEnabled() {
        return !adminToken.isEmpty();
    }

    public HttpSettings withPort(int p) {
        return new HttpSettings(host, p, maxRequestBytes, limits, adminToken, drainTimeoutMs);
    }

    public HttpSettings withHost(String h) {
        return new HttpSettings(h, port, maxRequestBytes, limits, adminToken, drainTimeoutMs);
    }

    public HttpSettings withAdminToken(String token) {
        return new HttpSettings(host, port, maxRequestBytes, limits, token, drainTimeoutMs);
    }
}
