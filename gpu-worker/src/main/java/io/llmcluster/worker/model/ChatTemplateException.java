package io.llmcluster.worker.model;

/** A conversation the model's chat template rejects (its {@code raise_exception}) or cannot render. */
public final class ChatTemplateException extends RuntimeException {
    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
