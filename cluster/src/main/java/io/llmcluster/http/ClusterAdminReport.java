package io.llmcluster.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llmcluster.cluster.gateway.WorkerDirectory;
import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.cluster.worker.WorkerReport;
import io.llmcluster.kv.KvIndexStats;
import java.util.Locale;
import java.util.Set;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;

/** The bodies of {@code GET /admin/cluster}, {@code /admin/workers} and {@code /admin/kv}. */
final class ClusterAdminReport {
    private ClusterAdminReport() {}

    /** Members (address, roles, status, reachable), the leader, this node. */
    static ObjectNode cluster(ClusterEvent.CurrentClusterState state, Member self) {
        ObjectNode root = Json.object();
        root.put("self", self.address().toString());
        Address leader = state.getLeader();
        root.put("leader", leader == null ? null : leader.toString());
        Set<Member> unreachable = state.getUnreachable();
        ArrayNode members = root.putArray("members");
        for (Member m : state.getMembers()) {
            ObjectNode o = members.addObject();
            o.put("address", m.address().toString());
            ArrayNode roles = o.putArray("roles");
            m.getRoles().stream().filter(r -> !r.startsWith("dc-")).sorted().forEach(roles::add);
            o.put("status", m.status().toString().toLowerCase(Locale.ROOT));
            o.put("reachable", !unreachable.contains(m));
        }
        return root;
    }

    /** Each member worker's latest report: load, KV usage, hit rate, measured rates. */
    static ObjectNode workers(WorkerDirectory.DirectoryView view) {
        ObjectNode root = Json.object();
        ArrayNode workers = root.putArray("workers");
        for (WorkerReport r : view.reports()) {
            WorkerLoad l = r.load();
            ObjectNode o = workers.addObject();
            o.put("id", l.workerId());
            o.put("node", view.workerNodes().get(l.workerId()));
            o.put("state", r.state());
            o.put("backend", r.backend());
            o.put("in_flight", r.inFlight());
            o.put("max_in_flight", r.maxInFlight());
            o.put("running", l.running());
            o.put("waiting", l.waiting());
            o.put("draining", l.draining());
            o.put("free_blocks", l.freeBlocks());
            o.put("reserved_blocks", r.reservedBlocks());
            o.put("queued", r.queued());
            o.put("max_model_len", r.maxModelLen());
            o.put("used_blocks", r.usedBlocks());
            o.put("total_blocks", l.totalBlocks());
            o.put("kv_usage_percent", l.totalBlocks() == 0 ? 0 : 100.0 * r.usedBlocks() / l.totalBlocks());
            o.put("prefix_hit_rate", r.prefixHitRate());
            o.put("prefill_tokens_per_second", l.prefillTokensPerSecond());
            o.put("decode_tokens_per_second", l.decodeTokensPerSecond());
            o.put("steps", r.steps());
            o.put("directory_blocks", view.workerBlocks().getOrDefault(l.workerId(), 0));
            o.put("directory_sync", view.syncStatus().getOrDefault(l.workerId(), "unknown"));
        }
        return root;
    }

    /** The directory replica: size, events/s, gaps, snapshots, per-worker sync. */
    static ObjectNode kv(WorkerDirectory.DirectoryView view) {
        KvIndexStats s = view.stats();
        ObjectNode root = Json.object();
        root.put("workers", s.workers());
        root.put("distinct_hashes", s.distinctHashes());
        root.put("entries", s.entries());
        root.put("events_per_second", view.eventsPerSecond());
        root.put("events_applied", s.eventsApplied());
        root.put("stale_events", s.staleEvents());
        root.put("gaps", s.gaps());
        root.put("epoch_changes", s.epochChanges());
        root.put("snapshots_applied", s.snapshotsApplied());
        root.put("workers_awaiting_snapshot", s.workersAwaitingSnapshot());
        root.put("workers_removed", s.workersRemoved());
        root.put("dropped_messages", view.droppedMessages());
        ObjectNode per = root.putObject("per_worker");
        view.workerNodes().forEach((id, node) -> per.putObject(id)
                .put("node", node)
                .put("blocks", view.workerBlocks().getOrDefault(id, 0))
                .put("sync", view.syncStatus().getOrDefault(id, "unknown")));
        return root;
    }
}
