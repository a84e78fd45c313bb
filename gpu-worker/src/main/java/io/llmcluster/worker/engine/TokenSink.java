package io.llmcluster.worker.engine;

/**
 * Receives a request's chunks, called in order on the engine's emitter thread (one thread for all of an engine's
 * requests, not the step loop's): implementations hand the chunk on (to a queue, an actor, a stream) and return at
 * once; a slow sink delays every request's chunks.
 */
@FunctionalInterface
public interface TokenSink {
    /** A chunk; the last one carries the finish reason. */
    void onChunk(TokenChunk chunk);
}
