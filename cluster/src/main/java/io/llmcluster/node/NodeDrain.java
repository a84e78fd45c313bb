package io.llmcluster.node;

import io.llmcluster.cluster.gateway.Gateway;
import io.llmcluster.cluster.worker.Batcher;
import io.llmcluster.http.ResponsesInFlight;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.WorkerLoad;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * A node's drain, the first phase of its coordinated shutdown (SIGTERM, {@code POST /admin/nodes/leave}): the
 * gateway stops accepting requests (503) and the worker's batcher stops admitting (its queued requests go back to
 * their gateways, which route them elsewhere; gateways skip the worker from its next report, sent at once); then it
 * waits until the worker's engine and the gateway's sessions have finished what they were doing, for at most
 * {@code timeout}. What is still running afterwards is cut by the shutdown.
 */
final class NodeDrain {
    private NodeDrain() {}

    /**
     * @param http the HTTP API's responses in flight, or null on a node without one: the drain ends once the last
     *             response is written (after the gateway's sessions, which end a moment before)
     */
    static CompletionStage<Done> run(ActorSystem<?> system, Node.Parts parts, ResponsesInFlight http, Duration timeout) {
        if (parts.gateway() != null) {
            parts.gateway().tell(Gateway.StopAccepting.INSTANCE);
        }
        CompletableFuture<?> worker = CompletableFuture.completedFuture(null);
        if (parts.batcher() != null) {
            parts.batcher().tell(new Batcher.Drain(system.ignoreRef()));
            worker = AskPattern.<GpuWorker.Command, WorkerLoad>ask(parts.worker(), GpuWorker.Drain::new, timeout,
                    system.scheduler()).toCompletableFuture();
        }
        CompletableFuture<?> gateway = parts.gateway() == null ? CompletableFuture.completedFuture(null)
                : AskPattern.<Gateway.Command, Gateway.Idle>ask(parts.gateway(), Gateway.AwaitIdle::new, timeout,
                        system.scheduler()).toCompletableFuture();
        CompletableFuture<?> sessions = CompletableFuture.allOf(worker.exceptionally(e -> null),
                gateway.exceptionally(e -> null));
        return sessions.thenCompose(v -> http == null ? CompletableFuture.completedFuture(null)
                        : http.awaitNone(system, timeout).toCompletableFuture().exceptionally(e -> null))
                .thenApply(v -> Done.getInstance());
    }
}
