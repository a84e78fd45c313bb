package io.llmcluster.node;

import com.typesafe.config.Config;
import java.util.List;

/**
 * The node's place in the Pekko Cluster ({@code llmcluster.node.*} in {@code reference.conf}).
 *
 * @param roles            {@code gateway}, {@code worker} or both (the single-node default)
 * @param host             the address other nodes reach this one at (Artery's canonical host)
 * @param port             Artery's port; 0 picks a free one (tests)
 * @param seedNodes        {@code pekko://llmc@host:port} of the seed nodes; empty = this node joins itself (alone)
 * @param reportIntervalMs how often a worker node publishes each worker's load report
 * @param directoryTickMs  how often a gateway's KV directory asks again for awaited snapshots, measures events/s
 */
public record ClusterSettings(List<String> roles, String host, int port, List<String> seedNodes,
                              long reportIntervalMs, long directoryTickMs) {
    public ClusterSettings {
        roles = List.copyOf(roles);
        seedNodes = List.copyOf(seedNodes);
        for (String r : roles) {
            if (!r.equals("gateway") && !r.equals("worker")) {
                throw new IllegalArgumentException("llmcluster.node.roles: gateway or worker, got " + r);
            }
        }
        if (roles.isEmpty()) {
            throw new IllegalArgumentException("llmcluster.node.roles must name gateway, worker or both");
        }
    }

    static ClusterSettings from(Config node) {
        return new ClusterSettings(node.getStringList("roles"), node.getString("host"), node.getInt("port"),
                node.getStringList("seed-nodes"), node.getDuration("report-interval").toMillis(),
                node.getDuration("directory-tick").toMillis());
    }

    public boolean isGateway() {
        return roles.contains("gateway");
    }

    public boolean isWorker() {
        return roles.contains("worker");
    }

    public ClusterSettings withHost(String h) {
        return new ClusterSettings(roles, h, port, seedNodes, reportIntervalMs, directoryTickMs);
    }

    public ClusterSettings withPort(int p) {
        return new ClusterSettings(roles, host, p, seedNodes, reportIntervalMs, directoryTickMs);
    }

    public ClusterSettings withRoles(List<String> r) {
        return new ClusterSettings(r, host, port, seedNodes, reportIntervalMs, directoryTickMs);
    }

    public ClusterSettings withSeedNodes(List<String> s) {
        return new ClusterSettings(roles, host, port, s, reportIntervalMs, directoryTickMs);
    }
}
