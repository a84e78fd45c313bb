package io.llmcluster.worker.engine;

/**
 * Receives a request's chunks, called on the engine thread: implementations hand the chunk on (to a queue,
 * an actor, a stream) and return at once; they never block the step loop.
 */
@FunctionalInterface
public interface TokenSink {
    /** A chunk; the last one carries the finish reason. */
    void onChunk(TokenChunk chunk);
}
