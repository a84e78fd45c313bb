package io.llmcluster.http;

/**
 * An error as OpenAI's API reports it: {@code {"error": {"message", "type", "param", "code"}}} with an HTTP
 * status. Every failure a client can cause, and every refusal, becomes one of these; never a stack trace.
 *
 * @param status       the HTTP status
 * @param type         OpenAI's error type, e.g. {@code invalid_request_error}
 * @param code         a stable machine-readable code, e.g. {@code invalid_value}, {@code queue_full}
 * @param param        the request field at fault, or null
 * @param retryAfterMs for 429 and 503: how long to wait (sent as {@code Retry-After}, whole seconds); 0 = none
 */
public record ApiError(int status, String type, String code, String param, String message, long retryAfterMs) {
    static final String INVALID_REQUEST = "invalid_request_error";

    public static ApiError invalidJson(String message) {
        return new ApiError(400, INVALID_REQUEST, "invalid_json", null, message, 0);
    }

    public static ApiError badRequest(String message) {
        return new ApiError(400, INVALID_REQUEST, "bad_request", null, message, 0);
    }

    public static ApiError invalidType(String param, String message) {
        return new ApiError(400, INVALID_REQUEST, "invalid_type", param, message, 0);
    }

    public static ApiError invalidValue(String param, String message) {
        return new ApiError(400, INVALID_REQUEST, "invalid_value", param, message, 0);
    }

    public static ApiError missing(String param) {
        return new ApiError(400, INVALID_REQUEST, "missing_required_parameter", param, "'" + param + "' is required", 0);
    }

    public static ApiError unsupported(String param, String message) {
        return new ApiError(400, INVALID_REQUEST, "unsupported_parameter", param, message, 0);
    }

    public static ApiError contextLengthExceeded(String param, String message) {
        return new ApiError(400, INVALID_REQUEST, "context_length_exceeded", param, message, 0);
    }

    public static ApiError modelNotFound(String model) {
        return new ApiError(404, INVALID_REQUEST, "model_not_found", "model",
                "The model '" + model + "' does not exist", 0);
    }

    public static ApiError notFound(String path) {
        return new ApiError(404, INVALID_REQUEST, "not_found", null, "no such endpoint: " + path, 0);
    }

    public static ApiError methodNotAllowed(String method, String path) {
        return new ApiError(405, INVALID_REQUEST, "method_not_allowed", null, method + " is not allowed on " + path, 0);
    }

    public static ApiError tooLarge(long maxBytes) {
        return new ApiError(413, INVALID_REQUEST, "request_too_large", null,
                "the request body is larger than the limit of " + maxBytes + " bytes", 0);
    }

    public static ApiError queueFull(String message, long retryAfterMs) {
        return new ApiError(429, "rate_limit_error", "queue_full", null, message, retryAfterMs);
    }

    public static ApiError draining(String message, long retryAfterMs) {
        return new ApiError(503, "service_unavailable_error", "draining", null, message, retryAfterMs);
    }

    public static ApiError notReady(String message, long retryAfterMs) {
        return new ApiError(503, "service_unavailable_error", "not_ready", null, message, retryAfterMs);
    }

    /** No worker can take the request (none available, every one draining). */
    public static ApiError noWorker(String message, long retryAfterMs) {
        return new ApiError(503, "service_unavailable_error", "no_worker_available", null, message, retryAfterMs);
    }

    /** The worker serving the request was lost (its node left, crashed or became unreachable). */
    public static ApiError workerLost(String message) {
        return new ApiError(503, "service_unavailable_error", "worker_lost", null, message, 0);
    }

    public static ApiError timeout(String message) {
        return new ApiError(504, "timeout_error", "timeout", null, message, 0);
    }

    public static ApiError internal(String message) {
        return new ApiError(500, "internal_error", "internal_error", null, message, 0);
    }

    public static ApiError unauthorized(String message) {
        return new ApiError(401, "authentication_error", "invalid_api_key", null, message, 0);
    }

    public static ApiError adminDisabled() {
        return new ApiError(403, "permission_error", "admin_disabled", null,
                "the admin API is disabled: no admin token is configured (llmcluster.http.admin-token or LLMC_ADMIN_TOKEN)", 0);
    }

    /** Whole seconds for {@code Retry-After}, at least 1 when there is anything to wait. */
    public long retryAfterSeconds() {
        return retryAfterMs <= 0 ? 0 : Math.max(1, (retryAfterMs + 999) / 1000);
    }

    public ApiException exception() {
        return new ApiException(this);
    }
}
