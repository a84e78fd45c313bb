package io.llmcluster.worker.actor;

/** A worker's engine could not start (model load, memory, warm-up); the worker stops with it. */
public final class EngineStartException extends RuntimeException {
    public EngineStartException(String message, Throwable cause) {
        super(message, cause);
    }
}
