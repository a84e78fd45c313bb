package io.llmcluster.worker.model;

/** A model directory that cannot be loaded; the message names the file and the problem for the user. */
public final class ModelLoadException extends RuntimeException {
    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
