package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.worker.actor.WorkerLoad;
import io.llmcluster.worker.actor.WorkerState;
import io.llmcluster.worker.engine.EngineStats;
import org.junit.jupiter.api.Test;

class ServingMetricsTest {
    @Test
    void shouldExposeHistogramsCountersAndGaugesInPrometheusText() {
        ServingMetrics m = new ServingMetrics();
        m.observeTimeToFirstToken(0.03);
        m.observeInterTokenLatency(0.002);
        m.observeRequestEnd(0.2, 12, 5);
        m.countFinish(FinishReason.STOP);
        m.countError(ApiError.queueFull("full", 1000));
        m.updateLoad(new WorkerLoad("w", WorkerState.READY, 3, 8, 256, "cpu", null,
                new EngineStats(2, 1, 100, 75, 25, 0.5, 40, 20, 0, 9, 0, 0, 0, 0), 0, -1, 1, 16));
        String text = m.scrape();
        for (String line : new String[] {
            "llmc_time_to_first_token_seconds_bucket{le=\"0.04\"} 1",
            "llmc_inter_token_latency_seconds_count 1",
            "llmc_e2e_request_latency_seconds_count 1",
            "llmc_prompt_tokens_total 12.0",
            "llmc_generation_tokens_total 5.0",
            "llmc_request_finished_total{finish_reason=\"stop\"} 1.0",
            "llmc_request_finished_total{finish_reason=\"abort\"} 0.0",
            "llmc_request_errors_total{code=\"queue_full\",status=\"429\"} 1.0",
            "llmc_num_requests_running 2.0",
            "llmc_num_requests_waiting 1.0",
            "llmc_kv_cache_usage_percent 25.0",
            "llmc_prefix_cache_hit_rate 0.5"}) {
            assertTrue(text.contains(line), line + " missing from\n" + text);
        }
    }
}
