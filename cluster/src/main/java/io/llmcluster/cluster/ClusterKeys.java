package io.llmcluster.cluster;

import io.llmcluster.cluster.worker.WorkerReport;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.cluster.worker.Batcher;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/** The names nodes find each other by: the Receptionist's worker key, the pub-sub topics, the roles. */
public final class ClusterKeys {
    private ClusterKeys() {}

    /** Role of nodes that take HTTP traffic and hold a KV directory replica. */
    public static final String GATEWAY = "gateway";
    /** Role of nodes that run engines. */
    public static final String WORKER = "worker";

    /**
     * Every worker of the cluster registers its {@link Batcher} (the entry point gateways submit to) under this
     * key; the batcher's actor name is the worker id. A node that joins is listed, and gets traffic, at once.
     */
    public static final ServiceKey<Batcher.Command> WORKERS = ServiceKey.create(Batcher.Command.class, "gpu-worker");

    /** The topic of the workers' KV event batches (one per engine step with events). */
    public static Behavior<Topic.Command<KvEventBatch>> kvEventsTopic() {
        return Topic.create(KvEventBatch.class, "kv-events");
    }

    /** The topic of the workers' periodic load reports. */
    public static Behavior<Topic.Command<WorkerReport>> reportsTopic() {
        return Topic.create(WorkerReport.class, "worker-reports");
    }
}
