package io.llmcluster.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.model.ChatTemplateException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * Turns the JSON of {@code /v1/completions} and {@code /v1/chat/completions} into an {@link OpenAiRequest}:
 * every field type- and range-checked with OpenAI's names, the model checked, chat messages rendered with
 * the model's chat template, prompts tokenized. Parameters OpenAI defines that this server cannot honour
 * ({@code suffix}, {@code logit_bias}, {@code tools}, non-text {@code response_format}, {@code best_of} other
 * than {@code n}, {@code echo} with {@code logprobs}) are refused with a 400 rather than silently ignored.
 */
public final class RequestParser {
    private static final Map<String, String> PARAM_OF_FIELD = Map.ofEntries(
            Map.entry("temperature", "temperature"), Map.entry("topK", "top_k"), Map.entry("topP", "top_p"),
            Map.entry("minP", "min_p"), Map.entry("repetitionPenalty", "repetition_penalty"),
            Map.entry("presencePenalty", "presence_penalty"), Map.entry("frequencyPenalty", "frequency_penalty"),
            Map.entry("maxTokens", "max_tokens"), Map.entry("minTokens", "min_tokens"),
            Map.entry("stopTokenIds", "stop_token_ids"), Map.entry("stopStrings", "stop"),
            Map.entry("logprobs", "logprobs"));

    private final ServedModel model;
    private final ApiLimits limits;

    public RequestParser(ServedModel model, ApiLimits limits) {
        this.model = model;
        this.limits = limits;
    }

    public OpenAiRequest completion(ObjectNode json) {
        Fields f = new Fields(json);
        String modelName = checkModel(f);
        refuseUnsupported(f);
        String suffix = f.string("suffix");
        if (suffix != null && !suffix.isEmpty()) {
            throw ApiError.unsupported("suffix", "'suffix' is not supported").exception();
        }
        int logprobs = f.integer("logprobs", 0, SamplingParams.MAX_LOGPROBS).orElse(-1);
        boolean echo = f.bool("echo", false);
        if (echo && logprobs >= 0) {
            throw ApiError.unsupported("echo", "'echo' together with 'logprobs' is not supported (prompt logprobs are not computed)").exception();
        }
        List<PromptInput> prompts = completionPrompts(f);
        return common(f, Endpoint.COMPLETIONS, modelName, prompts, echo, logprobs);
    }

    public OpenAiRequest chat(ObjectNode json) {
        Fields f = new Fields(json);
        String modelName = checkModel(f);
        refuseUnsupported(f);
        boolean wantLogprobs = f.bool("logprobs", false);
        OptionalInt top = f.integer("top_logprobs", 0, SamplingParams.MAX_LOGPROBS);
        if (top.isPresent() && !wantLogprobs) {
            throw ApiError.invalidValue("top_logprobs", "'top_logprobs' needs 'logprobs' set to true").exception();
        }
        PromptInput prompt = chatPrompt(f);
        return common(f, Endpoint.CHAT, modelName, List.of(prompt), false, wantLogprobs ? top.orElse(0) : -1);
    }

    private OpenAiRequest common(Fields f, Endpoint endpoint, String modelName, List<PromptInput> prompts,
                                 boolean echo, int logprobs) {
        int n = f.integer("n", 1, limits.maxN()).orElse(1);
        OptionalInt bestOf = f.integer("best_of", 1, limits.maxN());
        if (bestOf.isPresent() && bestOf.getAsInt() != n) {
            throw ApiError.unsupported("best_of", "'best_of' other than 'n' is not supported").exception();
        }
        OptionalInt maxTokens = f.integer("max_tokens", 1, Integer.MAX_VALUE);
        if (maxTokens.isEmpty()) {
            maxTokens = f.integer("max_completion_tokens", 1, Integer.MAX_VALUE);
        }
        boolean stream = f.bool("stream", false);
        boolean includeUsage = streamOptions(f, stream);
        f.string("user"); // accepted (type-checked) and not used
        int priority = f.integer("priority", -1_000_000, 1_000_000).orElse(0);
        SamplingParams sampling = sampling(f, logprobs);
        return new OpenAiRequest(endpoint, modelName, prompts, n, sampling, maxTokens, priority, stream, includeUsage,
                echo, logprobs);
    }

    private SamplingParams sampling(Fields f, int logprobs) {
        SamplingParams.Builder b = SamplingParams.builder().maxTokens(Integer.MAX_VALUE);
        f.number("temperature", 0, 2).ifPresent(b::temperature);
        OptionalDouble topP = f.number("top_p", 0, 1);
        if (topP.isPresent() && topP.getAsDouble() <= 0) {
            throw Fields.outOfRange("top_p", "a number in (0, 1]", f.node("top_p").asText());
        }
        topP.ifPresent(b::topP);
        f.integer("top_k", -1, Integer.MAX_VALUE).ifPresent(b::topK);
        f.number("min_p", 0, 1).ifPresent(b::minP);
        f.number("presence_penalty", -2, 2).ifPresent(b::presencePenalty);
        f.number("frequency_penalty", -2, 2).ifPresent(b::frequencyPenalty);
        OptionalDouble rep = f.number("repetition_penalty", 0, 100);
        if (rep.isPresent() && rep.getAsDouble() <= 0) {
            throw Fields.outOfRange("repetition_penalty", "a number in (0, 100]", f.node("repetition_penalty").asText());
        }
        rep.ifPresent(b::repetitionPenalty);
        OptionalLong seed = f.longValue("seed", Long.MIN_VALUE, Long.MAX_VALUE);
        seed.ifPresent(b::seed);
        List<String> stop = f.stringOrList("stop", limits.maxStopStrings());
        for (int i = 0; i < stop.size(); i++) {
            if (stop.get(i).isEmpty()) {
                throw ApiError.invalidValue("stop", "'stop' strings must not be empty").exception();
            }
        }
        b.stopStrings(stop);
        b.stopTokenIds(f.intList("stop_token_ids", 0, model.vocabSize() - 1, 1024));
        f.integer("min_tokens", 0, Integer.MAX_VALUE).ifPresent(b::minTokens);
        b.ignoreEos(f.bool("ignore_eos", false));
        b.logprobs(logprobs);
        return build(b);
    }

    /** Builds, turning the builder's own validation (which names its Java field) into a 400 naming the API field. */
    static SamplingParams build(SamplingParams.Builder b) {
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            String msg = e.getMessage();
            String field = msg.split("[ \\[]", 2)[0];
            String param = PARAM_OF_FIELD.getOrDefault(field, null);
            throw ApiError.invalidValue(param, param == null ? msg : "'" + param + "'" + msg.substring(field.length()))
                    .exception();
        }
    }

    private boolean streamOptions(Fields f, boolean stream) {
        JsonNode opts = f.node("stream_options");
        if (opts == null) {
            return false;
        }
        if (!opts.isObject()) {
            throw Fields.wrongType("stream_options", "an object", opts);
        }
        if (!stream) {
            throw ApiError.invalidValue("stream_options", "'stream_options' is only allowed with 'stream': true").exception();
        }
        return new Fields((ObjectNode) opts).bool("include_usage", false);
    }

    private String checkModel(Fields f) {
        String name = f.string("model");
        if (name != null && !name.equals(model.id())) {
            throw ApiError.modelNotFound(name).exception();
        }
        return model.id();
    }

    private static void refuseUnsupported(Fields f) {
        JsonNode bias = f.node("logit_bias");
        if (bias != null && !(bias.isObject() && bias.isEmpty())) {
            throw ApiError.unsupported("logit_bias", "'logit_bias' is not supported").exception();
        }
        JsonNode tools = f.node("tools");
        if (tools != null && !(tools.isArray() && tools.isEmpty())) {
            throw ApiError.unsupported("tools", "'tools' (function calling) is not supported").exception();
        }
        if (f.has("functions")) {
            throw ApiError.unsupported("functions", "'functions' (function calling) is not supported").exception();
        }
        JsonNode format = f.node("response_format");
        if (format != null && !(format.isObject() && "text".equals(format.path("type").asText()))) {
            throw ApiError.unsupported("response_format", "only 'response_format': {\"type\": \"text\"} is supported").exception();
        }
    }

    private List<PromptInput> completionPrompts(Fields f) {
        JsonNode p = f.node("prompt");
        if (p == null) {
            throw ApiError.missing("prompt").exception();
        }
        if (p.isTextual()) {
            return List.of(textPrompt(p.asText()));
        }
        if (!p.isArray()) {
            throw Fields.wrongType("prompt", "a string, an array of strings or an array of token ids", p);
        }
        if (p.isEmpty()) {
            throw ApiError.invalidValue("prompt", "the prompt is empty").exception();
        }
        if (p.get(0).isNumber()) {
            return List.of(tokenPrompt(p, "prompt"));
        }
        if (p.size() > limits.maxPrompts()) {
            throw Fields.outOfRange("prompt", "at most " + limits.maxPrompts() + " prompts", p.size() + " prompts");
        }
        List<PromptInput> out = new ArrayList<>();
        for (int i = 0; i < p.size(); i++) {
            JsonNode item = p.get(i);
            if (item.isTextual()) {
                out.add(textPrompt(item.asText()));
            } else if (item.isArray()) {
                out.add(tokenPrompt(item, "prompt[" + i + "]"));
            } else {
                throw Fields.wrongType("prompt[" + i + "]", "a string or an array of token ids", item);
            }
        }
        return out;
    }

    private PromptInput textPrompt(String text) {
        if (text.isEmpty()) {
            throw ApiError.invalidValue("prompt", "the prompt is empty").exception();
        }
        return new PromptInput(model.tokenizer().encode(text), text);
    }

    private PromptInput tokenPrompt(JsonNode array, String name) {
        if (array.isEmpty()) {
            throw ApiError.invalidValue(name, "the prompt is empty").exception();
        }
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (int) Fields.integerOf(name + "[" + i + "]", array.get(i), 0, model.vocabSize() - 1);
        }
        return new PromptInput(ids, model.tokenizer().decode(ids, 0, ids.length, false));
    }

    private PromptInput chatPrompt(Fields f) {
        JsonNode messages = f.node("messages");
        if (messages == null) {
            throw ApiError.missing("messages").exception();
        }
        if (!messages.isArray()) {
            throw Fields.wrongType("messages", "an array of messages", messages);
        }
        if (messages.isEmpty()) {
            throw ApiError.invalidValue("messages", "'messages' is empty").exception();
        }
        List<Map<String, Object>> conversation = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            conversation.add(message(messages.get(i), "messages[" + i + "]"));
        }
        var template = model.chatTemplate().orElseThrow(() -> ApiError.invalidValue("messages",
                "the model '" + model.id() + "' has no chat template; use /v1/completions").exception());
        String rendered;
        try {
            rendered = template.render(conversation, f.bool("add_generation_prompt", true));
        } catch (ChatTemplateException e) {
            throw ApiError.invalidValue("messages", e.getMessage()).exception();
        }
        return new PromptInput(model.tokenizer().encodeNoSpecial(rendered), rendered);
    }

    private static Map<String, Object> message(JsonNode m, String name) {
        if (!m.isObject()) {
            throw Fields.wrongType(name, "an object with 'role' and 'content'", m);
        }
        Fields f = new Fields((ObjectNode) m);
        String role = f.string("role");
        if (role == null || role.isEmpty()) {
            throw ApiError.invalidValue(name + ".role", "'" + name + ".role' is required").exception();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("role", role);
        out.put("content", content(f.node("content"), name + ".content"));
        String speaker = f.string("name");
        if (speaker != null) {
            out.put("name", speaker);
        }
        return out;
    }

    /** A string, null (empty), or text parts joined by newlines. */
    private static String content(JsonNode c, String name) {
        if (c == null) {
            return "";
        }
        if (c.isTextual()) {
            return c.asText();
        }
        if (!c.isArray()) {
            throw Fields.wrongType(name, "a string or an array of content parts", c);
        }
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < c.size(); i++) {
            JsonNode part = c.get(i);
            if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                throw ApiError.unsupported(name + "[" + i + "]", "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported").exception();
            }
            texts.add(part.get("text").asText());
        }
        return String.join("\n", texts);
    }
}
