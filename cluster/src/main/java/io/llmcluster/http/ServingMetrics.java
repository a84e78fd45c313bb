package io.llmcluster.http;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.worker.actor.WorkerLoad;
import io.llmcluster.worker.engine.EngineStats;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The server's Prometheus metrics (names prefixed {@code llmc_}), in a registry of its own: latency
 * histograms (time to first token, inter-token latency, end-to-end), token counters, requests by finish
 * reason and errors by status and code, and gauges of the engine's load read from the worker at each scrape.
 * Thread-safe (the prometheus client's collectors are).
 */
public final class ServingMetrics {
    private static final double[] TTFT_BUCKETS_S = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
        1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
    private static final double[] ITL_BUCKETS_S = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
        0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0};
    private static final double[] E2E_BUCKETS_S = {0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0,
        20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final Histogram timeToFirstToken = histogram("llmc_time_to_first_token_seconds",
            "Time from a request's arrival to its first generated token, per choice", TTFT_BUCKETS_S);
    private final Histogram interTokenLatency = histogram("llmc_inter_token_latency_seconds",
            "Time between consecutive generated tokens of one choice", ITL_BUCKETS_S);
    private final Histogram e2eLatency = histogram("llmc_e2e_request_latency_seconds",
            "Time from a request's arrival to its last token", E2E_BUCKETS_S);
    private final Counter promptTokens = counter("llmc_prompt_tokens", "Prompt tokens of finished requests");
    private final Counter generationTokens = counter("llmc_generation_tokens", "Tokens generated for finished requests");
    private final Counter finished = Counter.builder().name("llmc_request_finished")
            .help("Finished choices (engine sequences) by finish reason: stop, length, abort, error")
            .labelNames("finish_reason").register(registry);
    private final Counter errors = Counter.builder().name("llmc_request_errors")
            .help("Requests answered with an error, by HTTP status and error code")
            .labelNames("status", "code").register(registry);
    private final Gauge running = gauge("llmc_num_requests_running", "Sequences the engine is running");
    private final Gauge waiting = gauge("llmc_num_requests_waiting", "Sequences waiting in the engine's queue");
    private final Gauge kvUsedPercent = gauge("llmc_kv_cache_usage_percent", "KV cache blocks in use, percent of the pool");
    private final Gauge kvUsed = gauge("llmc_kv_cache_blocks_used", "KV cache blocks in use");
    private final Gauge kvTotal = gauge("llmc_kv_cache_blocks_total", "KV cache blocks in the pool");
    private final Gauge prefixHitRate = gauge("llmc_prefix_cache_hit_rate",
            "Prompt tokens served from the prefix cache / prompt tokens looked up (0..1)");

    public ServingMetrics() {
        for (FinishReason r : FinishReason.values()) { // every series exists from the start, at zero
            finished.labelValues(r.apiName());
        }
    }

    private Histogram histogram(String name, String help, double[] bucketsS) {
        return Histogram.builder().name(name).help(help).unit(Unit.SECONDS).classicOnly()
                .classicUpperBounds(bucketsS).withoutExemplars().register(registry);
    }

    private Counter counter(String name, String help) {
        return Counter.builder().name(name).help(help).withoutExemplars().register(registry);
    }

    private Gauge gauge(String name, String help) {
        return Gauge.builder().name(name).help(help).register(registry);
    }

    public void observeTimeToFirstToken(double seconds) {
        timeToFirstToken.observe(seconds);
    }

    public void observeInterTokenLatency(double seconds) {
        interTokenLatency.observe(seconds);
    }

    /** A request's last choice finished. */
    public void observeRequestEnd(double e2eSeconds, int prompt, int generated) {
        e2eLatency.observe(e2eSeconds);
        promptTokens.inc(prompt);
        generationTokens.inc(generated);
    }

    public void countFinish(FinishReason reason) {
        finished.labelValues(reason.apiName()).inc();
    }

    public void countError(ApiError error) {
        errors.labelValues(Integer.toString(error.status()), error.code()).inc();
    }

    /** Copies the worker's load into the gauges (called before each scrape). */
    public void updateLoad(WorkerLoad load) {
        EngineStats s = load.engine();
        running.set(s.running());
        waiting.set(s.waiting());
        kvUsedPercent.set(100.0 * s.kvUsage());
        kvUsed.set(s.usedBlocks());
        kvTotal.set(s.totalBlocks());
        prefixHitRate.set(s.prefixHitRate());
    }

    /** The Prometheus text exposition format (version 0.0.4). */
    public String scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writer.write(out, registry.scrape(), EscapingScheme.UNDERSCORE_ESCAPING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    public String contentType() {
        return writer.getContentType();
    }
}
