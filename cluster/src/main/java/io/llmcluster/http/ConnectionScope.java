package io.llmcluster.http;

import java.util.LinkedHashSet;
import java.util.Set;
import org.apache.pekko.http.javadsl.model.AttributeKey;

/**
 * What one client connection has in flight: each request registers how to cancel itself, and when the
 * connection closes (the client went away, even in the middle of a non-streamed request) the cancels run.
 * Its requests may run on several threads, so it is synchronized.
 */
public final class ConnectionScope {
    /** The request attribute that carries the connection's scope to the routes. */
    public static final AttributeKey<ConnectionScope> KEY = AttributeKey.create("llmc-connection", ConnectionScope.class);

    private final Set<Runnable> onClose = new LinkedHashSet<>();
    private boolean closed;

    /** Registers a cancel; it runs at once if the connection is already closed. */
    public void register(Runnable cancel) {
        synchronized (this) {
            if (!closed) {
                onClose.add(cancel);
                return;
            }
        }
        cancel.run();
    }

    public synchronized void unregister(Runnable cancel) {
        onClose.remove(cancel);
    }

    /** The connection closed: runs every cancel still registered. */
    public void close() {
        Runnable[] cancels;
        synchronized (this) {
            closed = true;
            cancels = onClose.toArray(Runnable[]::new);
            onClose.clear();
        }
        for (Runnable c : cancels) {
            c.run();
        }
    }

    public synchronized int inFlight() {
        return onClose.size();
    }
}
