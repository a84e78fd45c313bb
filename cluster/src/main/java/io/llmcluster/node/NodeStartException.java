package io.llmcluster.node;

/** The node could not start (e.g. the port is taken); the message says why, for the user. */
public final class NodeStartException extends RuntimeException {
    public NodeStartException(String message, Throwable cause) {
        super(message, cause);
    }
}
