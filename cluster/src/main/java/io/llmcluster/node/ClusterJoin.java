package io.llmcluster.node;

import com.typesafe.config.Config;
import java.util.Locale;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.javadsl.PekkoManagement;

/**
 * How a starting node finds its cluster ({@code llmcluster.node.join}):
 * <ul>
 *   <li>{@code seed-nodes} (default): Pekko joins the configured seed nodes by itself; with none, the node joins
 *       itself and forms a cluster of one.</li>
 *   <li>{@code bootstrap}: Pekko Management's HTTP endpoint (port {@code pekko.management.http.port}, with the
 *       {@code /health} readiness and {@code /alive} liveness checks) and its cluster bootstrap, which discovers
 *       the other nodes' management endpoints ({@code kubernetes-api} discovery by default: the pods that carry
 *       the service's label) and joins them, or forms the cluster when this node has the lowest address of the
 *       contact points found. Seed nodes must then be empty: bootstrap and seeds do not mix.</li>
 * </ul>
 */
final class ClusterJoin {
    private ClusterJoin() {}

    enum Method { SEED_NODES, BOOTSTRAP }

    /** The method named by {@code llmcluster.node.join}; a clear error for any other word, or seeds with bootstrap. */
    static Method method(Config config, ClusterSettings cluster) {
        String name = config.hasPath("llmcluster.node.join") ? config.getString("llmcluster.node.join") : "seed-nodes";
        Method m = switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "seed-nodes" -> Method.SEED_NODES;
            case "bootstrap" -> Method.BOOTSTRAP;
            default -> throw new IllegalArgumentException("llmcluster.node.join must be seed-nodes or bootstrap, got " + name);
        };
        if (m == Method.BOOTSTRAP && !cluster.seedNodes().isEmpty()) {
            throw new IllegalArgumentException("llmcluster.node.join = bootstrap finds the other nodes itself: leave "
                    + "llmcluster.node.seed-nodes empty (it is " + cluster.seedNodes() + ")");
        }
        return m;
    }

    /** Starts joining; the node becomes a member in the background (watch the cluster's member events). */
    static void start(ActorSystem<?> system, Method method, ClusterSettings cluster) {
        switch (method) {
            case SEED_NODES -> {
                if (cluster.seedNodes().isEmpty()) { // alone: form a cluster of one
                    Cluster c = Cluster.get(system);
                    c.manager().tell(Join.create(c.selfMember().address()));
                } // else Pekko joins the seed nodes of pekko.cluster.seed-nodes by itself
            }
            case BOOTSTRAP -> {
                PekkoManagement.get(system).start();
                ClusterBootstrap.get(system).start();
            }
        }
    }
}
