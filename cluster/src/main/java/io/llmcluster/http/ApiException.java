package io.llmcluster.http;

/** Carries an {@link ApiError} out of request parsing and validation; no stack trace (it is not a bug). */
public final class ApiException extends RuntimeException {
    private final ApiError error;

    public ApiException(ApiError error) {
        super(error.message(), null, false, false);
        this.error = error;
    }

    public ApiError error() {
        return error;
    }
}
