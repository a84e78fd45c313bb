package io.llmcluster.node;

import com.typesafe.config.Config;
import io.llmcluster.batcher.SchedulingPolicy;
import io.llmcluster.cluster.gateway.GatewaySettings;
import io.llmcluster.cluster.worker.BatcherSettings;
import io.llmcluster.http.ApiLimits;
import io.llmcluster.http.HttpSettings;
import io.llmcluster.worker.actor.WorkerSettings;
import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.engine.EngineConfig;
import java.time.Duration;
import java.util.Locale;

/**
 * A serving node's settings, read from HOCON ({@code llmcluster.*} in reference.conf, where every key is
 * described; application.conf, {@code -D} properties and the environment variables named there override).
 *
 * @param model a model directory, or empty for the embedded default
 */
public record NodeSettings(String model, HttpSettings http, WorkerSettings worker, EngineConfig engine,
                           CpuBackendOptions cpu, ClusterSettings cluster, GatewaySettings gateway,
                           BatcherSettings batcher) {

    public static NodeSettings from(Config root) {
        Config c = root.getConfig("llmcluster");
        Config h = c.getConfig("http");
        Config w = c.getConfig("worker");
        Config cpu = c.getConfig("cpu");
        ApiLimits limits = new ApiLimits(h.getInt("max-n"), h.getInt("max-prompts"), h.getInt("max-stop-strings"),
                millis(h, "request-timeout"));
        HttpSettings http = new HttpSettings(h.getString("host"), h.getInt("port"), h.getBytes("max-request-body"),
                limits, h.getString("admin-token").trim(), millis(h, "drain-timeout"));
        WorkerSettings worker = new WorkerSettings(w.getString("id"), w.getInt("max-in-flight"), millis(w, "retry-after"));
        SchedulingPolicy policy = SchedulingPolicy.valueOf(w.getString("scheduling-policy").toUpperCase(Locale.ROOT));
        EngineConfig engine = new EngineConfig(w.getInt("max-num-seqs"), w.getInt("max-num-batched-tokens"),
                w.getBoolean("enable-prefix-caching"), policy,
                EngineConfig.parsePrefillCap(w.getString("max-prefill-tokens-while-decoding")));
        int threads = cpu.getInt("threads") > 0 ? cpu.getInt("threads") : Runtime.getRuntime().availableProcessors();
        String quantize = cpu.getString("quantize").toLowerCase(Locale.ROOT);
        if (!quantize.equals("none") && !quantize.equals("int8")) {
            throw new IllegalArgumentException("llmcluster.cpu.quantize must be none or int8, got " + quantize);
        }
        CpuBackendOptions options = new CpuBackendOptions(threads, engine.maxNumBatchedTokens(), engine.maxNumSeqs(),
                cpu.getInt("kv-block-size"), cpu.getBytes("kv-cache-size"), cpu.getDouble("kv-memory-fraction"),
                quantize.equals("int8"), kvCacheDtype(w));
        ClusterSettings cluster = ClusterSettings.from(c.getConfig("node"));
        Config g = c.getConfig("gateway");
        GatewaySettings gateway = new GatewaySettings(GatewaySettings.RouterKind.parse(g.getString("router")),
                g.getInt("max-queued"), millis(g, "queue-timeout"), millis(g, "retry-interval"), millis(g, "retry-after"),
                options.kvBlockSize());
        BatcherSettings batcher = new BatcherSettings(worker.maxInFlight(), w.getInt("max-queued"),
                w.getInt("stream-window"), cluster.reportIntervalMs(), worker.retryAfterMs());
        return new NodeSettings(c.getString("model"), http, worker, engine, options, cluster, gateway, batcher);
    }

    private static KvCacheDtype kvCacheDtype(Config worker) {
        try {
            return KvCacheDtype.parse(worker.getString("kv-cache-dtype"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("llmcluster.worker." + e.getMessage(), e);
        }
    }

    private static long millis(Config c, String key) {
        Duration d = c.getDuration(key);
        return d.toMillis();
    }

    public NodeSettings withHttp(HttpSettings h) {
        return new NodeSettings(model, h, worker, engine, cpu, cluster, gateway, batcher);
    }

    public NodeSettings withModel(String dir) {
        return new NodeSettings(dir, http, worker, engine, cpu, cluster, gateway, batcher);
    }

    public NodeSettings withCpu(CpuBackendOptions o) {
        return new NodeSettings(model, http, worker, engine, o, cluster, gateway, batcher);
    }

    public NodeSettings withCluster(ClusterSettings c) {
        return new NodeSettings(model, http, worker, engine, cpu, c, gateway, batcher);
    }

    public NodeSettings withEngine(EngineConfig e) {
        return new NodeSettings(model, http, worker, e, cpu, cluster, gateway, batcher);
    }

    public NodeSettings withWorker(WorkerSettings w) {
        return new NodeSettings(model, http, w, engine, cpu, cluster, gateway, batcher);
    }

    public NodeSettings withGateway(GatewaySettings g) {
        return new NodeSettings(model, http, worker, engine, cpu, cluster, g, batcher);
    }
}
