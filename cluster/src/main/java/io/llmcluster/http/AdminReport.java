package io.llmcluster.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llmcluster.worker.actor.WorkerLoad;
import io.llmcluster.worker.engine.EngineConfig;
import io.llmcluster.worker.engine.EngineStats;

/** The body of {@code GET /admin/engine}: the model, the engine's configuration, its load and the KV pool. */
final class AdminReport {
    private AdminReport() {}

    static ObjectNode of(WorkerLoad load, ServedModel model, HttpSettings http) {
        ObjectNode root = Json.object();
        root.put("worker", load.workerId());
        root.put("state", load.state().name().toLowerCase(java.util.Locale.ROOT));
        root.put("backend", load.backendDescription());
        ObjectNode m = root.putObject("model");
        m.put("id", model.id());
        m.put("architecture", model.architecture());
        m.put("path", model.path());
        m.put("vocab_size", model.vocabSize());
        m.put("max_model_len", load.maxModelLen());
        m.put("chat_template", model.chatTemplate().isPresent());
        EngineConfig c = load.config();
        ObjectNode config = root.putObject("engine_config");
        if (c != null) {
            config.put("max_num_seqs", c.maxNumSeqs());
            config.put("max_num_batched_tokens", c.maxNumBatchedTokens());
            config.put("enable_prefix_caching", c.enablePrefixCaching());
            config.put("scheduling_policy", c.policy().name().toLowerCase(java.util.Locale.ROOT));
            if (c.maxPrefillTokensWhileDecoding() == EngineConfig.PREFILL_CAP_AUTO) {
                config.put("max_prefill_tokens_while_decoding", "auto");
            } else {
                config.put("max_prefill_tokens_while_decoding", c.maxPrefillTokensWhileDecoding());
            }
        }
        EngineStats s = load.engine();
        ObjectNode l = root.putObject("load");
        l.put("in_flight", load.inFlight());
        l.put("max_in_flight", load.maxInFlight());
        l.put("running", s.running());
        l.put("waiting", s.waiting());
        l.put("preemptions", s.preemptions());
        l.put("steps", s.steps());
        l.put("prefill_tokens_per_second", s.prefillTokensPerSecond());
        l.put("decode_tokens_per_second", s.decodeTokensPerSecond());
        l.put("prompt_tokens", s.promptTokens());
        l.put("generated_tokens", s.generatedTokens());
        ObjectNode kv = root.putObject("kv_pool");
        kv.put("total_blocks", s.totalBlocks());
        kv.put("free_blocks", s.freeBlocks());
        kv.put("used_blocks", s.usedBlocks());
        kv.put("usage_percent", 100.0 * s.kvUsage());
        kv.put("prefix_hit_rate", s.prefixHitRate());
        ObjectNode h = root.putObject("http");
        h.put("max_request_bytes", http.maxRequestBytes());
        h.put("request_timeout_ms", http.limits().requestTimeoutMs());
        h.put("max_n", http.limits().maxN());
        h.put("max_prompts", http.limits().maxPrompts());
        return root;
    }
}
