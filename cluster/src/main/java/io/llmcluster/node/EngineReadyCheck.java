package io.llmcluster.node;

import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.actor.WorkerLoad;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * Pekko Management's readiness check of a serving node (its {@code /health} when {@code llmcluster.node.join =
 * bootstrap}, reference.conf): the node is a cluster member that is Up and, on a worker node, its engine has
 * loaded and is not draining. Pekko Management creates it with the classic actor system.
 */
public final class EngineReadyCheck implements Supplier<CompletionStage<Boolean>> {
    private static final Duration ASK = Duration.ofSeconds(1);

    private final org.apache.pekko.actor.typed.ActorSystem<Node.Command> system;

    @SuppressWarnings("unchecked") // the node's actor system has the Node guardian (ServingNode.start)
    public EngineReadyCheck(ActorSystem classic) {
        this.system = (org.apache.pekko.actor.typed.ActorSystem<Node.Command>) (Object) Adapter.toTyped(classic);
    }

    @Override
    public CompletionStage<Boolean> get() {
        if (Cluster.get(system).selfMember().status() != MemberStatus.up()) {
            return CompletableFuture.completedFuture(false);
        }
        return AskPattern.<Node.Command, Node.Parts>ask(system, Node.GetParts::new, ASK, system.scheduler())
                .thenCompose(parts -> parts.worker() == null ? CompletableFuture.completedFuture(true)
                        : AskPattern.<GpuWorker.Command, WorkerLoad>ask(parts.worker(), GpuWorker.GetLoad::new, ASK,
                                system.scheduler()).thenApply(WorkerLoad::isReady));
    }
}
