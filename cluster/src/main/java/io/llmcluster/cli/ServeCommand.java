package io.llmcluster.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.llmcluster.cluster.gateway.GatewaySettings;
import io.llmcluster.http.ServedModel;
import io.llmcluster.node.BackendEngineFactory;
import io.llmcluster.node.ClusterSettings;
import io.llmcluster.node.DeviceChoice;
import io.llmcluster.node.NodeSettings;
import io.llmcluster.node.ServingNode;
import io.llmcluster.worker.actor.WorkerSettings;
import io.llmcluster.worker.backend.KvCacheDtype;
import io.llmcluster.worker.cuda.CudaQuantization;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.model.ModelDirectory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code llmc serve}: the OpenAI-compatible HTTP server on one engine. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a model over an OpenAI-compatible HTTP API (completions, chat, streaming), with",
            "/health, /metrics and /admin/*, as one node of a Pekko cluster (docs/operations.md): a gateway routes",
            "each request to the best worker of the cluster. Settings: llmcluster.* in HOCON (see reference.conf);",
            "the options below override them."})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (default: llmcluster.model, else the embedded tiny Llama)")
    Path model;

    @Option(names = "--host", description = "Interface to listen on (default: llmcluster.http.host, 127.0.0.1)")
    String host;

    @Option(names = "--port", description = "Port; 0 picks a free one (default: llmcluster.http.port, 8000)")
    Integer port;

    @Option(names = "--threads", description = "CPU threads (default: llmcluster.cpu.threads, 0 = all cores)")
    Integer threads;

    @Option(names = "--device", defaultValue = "auto", description = "auto | cuda | cpu (auto: CUDA when usable, says which)")
    String device;

    @Option(names = "--roles", split = ",", paramLabel = "ROLE",
            description = "gateway,worker (default) | gateway (HTTP + routing, no engine) | worker (engine, no HTTP)"
                    + " (llmcluster.node.roles)")
    List<String> roles;

    @Option(names = "--seed-nodes", split = ",", paramLabel = "ADDRESS",
            description = "pekko://llmc@HOST:PORT of the cluster's seed nodes, comma-separated; none: this node forms"
                    + " a cluster of its own (llmcluster.node.seed-nodes)")
    List<String> seedNodes;

    @Option(names = "--cluster-host", description = "the address other nodes reach this one at (llmcluster.node.host)")
    String clusterHost;

    @Option(names = "--cluster-port", description = "the cluster (Artery TCP) port; 0 = any free one (llmcluster.node.port, 25520)")
    Integer clusterPort;

    @Option(names = "--worker-id", description = "this node's worker id, unique in the cluster (llmcluster.worker.id)")
    String workerId;

    @Option(names = "--router", description = "kv (KV-aware, load-aware; default) | round-robin (llmcluster.gateway.router)")
    String router;

    @Option(names = "--max-prefill-tokens-while-decoding", paramLabel = "auto|off|N",
            description = "Prompt tokens per engine step while streams decode (default: "
                    + "llmcluster.worker.max-prefill-tokens-while-decoding, auto = 256 on CUDA, off on the CPU)")
    String maxPrefillTokensWhileDecoding;

    @Option(names = "--kv-cache-dtype", paramLabel = "auto|int8",
            description = "KV cache storage: auto = the run dtype (FP32 on the CPU, FP16/BF16 on CUDA); int8 = a byte "
                    + "per element plus an FP32 scale per token and kv head: ~2x the KV blocks (~4x on the CPU) (default: llmcluster.worker.kv-cache-dtype, auto)")
    String kvCacheDtype;

    @Option(names = "--max-num-seqs", paramLabel = "N",
            description = "Sequences in one engine step (default: llmcluster.worker.max-num-seqs, 64)")
    Integer maxNumSeqs;

    @Option(names = "--max-num-batched-tokens", paramLabel = "N",
            description = "Tokens in one engine step; longer prompts go in chunks (default: "
                    + "llmcluster.worker.max-num-batched-tokens, 512)")
    Integer maxNumBatchedTokens;

    @Option(names = "--quantize", paramLabel = "int8|w8a8", description = "Quantize at load: int8 (weight-only, per "
            + "output channel, CPU and CUDA; as llmcluster.cpu.quantize = int8) or w8a8 (CUDA only: SmoothQuant, INT8 "
            + "weights and activations, INT8 tensor-core GEMMs; calibrated at load, docs/int8.md)")
    String quantize;

    @Mixin
    QuantizeOptions w8a8Options;

    @Override
    public Integer call() throws Exception {
        DeviceChoice choice = DeviceChoice.parse(device);
        Config config = ConfigFactory.load();
        NodeSettings settings = overrides(NodeSettings.from(config));
        CudaQuantization quantization = quantization(settings); // a clear error before anything loads
        if (quantization.int8() && !quantization.isW8a8()) {
            settings = settings.withCpu(settings.cpu().withQuantizeInt8(true)); // the CPU backend quantizes too
        }
        try (ModelDirectory dir = settings.model().isEmpty() ? ModelDirectory.openDefault() : ModelDirectory.open(Path.of(settings.model()))) {
            ServingNode node = ServingNode.start(settings, ServedModel.of(dir),
                    new BackendEngineFactory(dir, choice, settings.cpu(), settings.engine(), quantization), config);
            announce(node, dir, settings);
            boolean ready = node.awaitReady(Duration.ofDays(365));
            if (ready && node.worker() != null) {
                var load = node.load();
                System.err.println("[llmc] ready: " + load.backendDescription() + ", " + load.maxModelLen()
                        + " tokens per sequence");
            }
            node.whenTerminated().toCompletableFuture().join();
            if (!ready) {
                System.err.println("error: the engine could not start (see the log above)");
                return 1;
            }
        }
        return 0;
    }

    /** --quantize and its w8a8 options, else llmcluster.cpu.quantize (int8 per output channel, or none). */
    private CudaQuantization quantization(NodeSettings settings) {
        if (quantize == null && !w8a8Options.anyGiven()) {
            return settings.cpu().quantizeInt8() ? CudaQuantization.int8PerChannel() : CudaQuantization.NONE;
        }
        return w8a8Options.parse(quantize, 0, device);
    }

    private NodeSettings overrides(NodeSettings s) {
        var http = s.http();
        if (host != null) {
            http = http.withHost(host);
        }
        if (port != null) {
            http = http.withPort(port);
        }
        s = s.withHttp(http);
        if (model != null) {
            s = s.withModel(model.toString());
        }
        if (threads != null) {
            s = s.withCpu(s.cpu().withThreads(threads));
        }
        if (kvCacheDtype != null) {
            s = s.withCpu(s.cpu().withKvCacheDtype(KvCacheDtype.parse(kvCacheDtype)));
        }
        if (maxNumSeqs != null) { // the CPU backend's buffers follow the engine's limits, as in NodeSettings.from
            s = s.withEngine(s.engine().withMaxNumSeqs(maxNumSeqs)).withCpu(s.cpu().withMaxSequences(maxNumSeqs));
        }
        if (maxNumBatchedTokens != null) {
            s = s.withEngine(s.engine().withMaxNumBatchedTokens(maxNumBatchedTokens))
                    .withCpu(s.cpu().withMaxBatchTokens(maxNumBatchedTokens));
        }
        if (maxPrefillTokensWhileDecoding != null) {
            s = s.withEngine(s.engine().withMaxPrefillTokensWhileDecoding(
                    EngineConfig.parsePrefillCap(maxPrefillTokensWhileDecoding)));
        }
        return clusterOverrides(s);
    }

    private NodeSettings clusterOverrides(NodeSettings s) {
        ClusterSettings c = s.cluster();
        if (roles != null) {
            c = c.withRoles(roles.stream().map(String::trim).filter(r -> !r.isEmpty()).toList());
        }
        if (seedNodes != null) {
            c = c.withSeedNodes(seedNodes.stream().map(String::trim).filter(a -> !a.isEmpty()).toList());
        }
        if (clusterHost != null) {
            c = c.withHost(clusterHost);
        }
        if (clusterPort != null) {
            c = c.withPort(clusterPort);
        }
        s = s.withCluster(c);
        if (workerId != null) {
            s = s.withWorker(new WorkerSettings(workerId, s.worker().maxInFlight(), s.worker().retryAfterMs()));
        }
        if (router != null) {
            s = s.withGateway(s.gateway().withRouter(GatewaySettings.RouterKind.parse(router)));
        }
        return s;
    }

    private static void announce(ServingNode node, ModelDirectory dir, NodeSettings s) {
        System.err.println("[llmc] cluster node " + node.clusterAddress() + ", roles " + s.cluster().roles()
                + (s.cluster().seedNodes().isEmpty() ? ", alone (joined itself)" : ", seed nodes " + s.cluster().seedNodes()));
        if (!s.cluster().isGateway()) {
            System.err.println("[llmc] worker node " + s.worker().workerId() + ": no HTTP server; model \""
                    + dir.modelId() + "\" loading");
            return;
        }
        System.err.println("[llmc] gateway: router " + s.gateway().router().configName()
                + (s.cluster().isWorker() ? ", with a local worker " + s.worker().workerId() : ", no local worker"));
        String url = node.baseUrl();
        System.err.println("[llmc] serving model \"" + dir.modelId() + "\" (" + dir.config().architecture().hfClassName()
                + ") at " + url + " — loading, /health says ready when it is");
        System.err.println("[llmc] admin API " + (s.http().adminEnabled() ? "enabled at " + url + "/admin/engine (bearer token)"
                : "disabled: no admin token configured (set LLMC_ADMIN_TOKEN or llmcluster.http.admin-token)"));
        System.out.println(url);
        System.out.println("try:  curl " + url + "/v1/completions -H 'Content-Type: application/json' -d '{\"model\": \""
                + dir.modelId() + "\", \"prompt\": \"The capital of France is\", \"max_tokens\": 16}'");
        System.out.flush();
    }
}
