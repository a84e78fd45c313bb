package io.llmcluster.worker.actor;

import io.llmcluster.worker.engine.Engine;
import io.llmcluster.worker.engine.EngineConfig;

/**
 * An engine that has loaded its model and warmed up, with what must close after it (backend, model).
 *
 * @param backendDescription one line for logs and the admin API, e.g. the backend's {@code describe()}
 * @param resources          closed after the engine, e.g. the backend and the model directory
 */
public record LoadedEngine(Engine engine, String backendDescription, EngineConfig config, AutoCloseable resources)
        implements AutoCloseable {

    /** Stops the engine thread (requests in flight end with ABORT), then closes the resources. */
    @Override
    public void close() throws Exception {
        try {
            engine.close();
        } finally {
            resources.close();
        }
    }
}
