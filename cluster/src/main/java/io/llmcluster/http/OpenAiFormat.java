package io.llmcluster.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llmcluster.worker.engine.TokenChunk;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * OpenAI's JSON shapes for one request: completion and chat responses, their streamed chunks (as
 * Server-Sent Events, {@code data: {...}\n\n}), logprobs in the completions form ({@code tokens},
 * {@code token_logprobs}, {@code top_logprobs}, {@code text_offset}) and the chat form ({@code content}
 * entries with {@code token}, {@code logprob}, {@code bytes}, {@code top_logprobs}), usage and errors.
 */
public final class OpenAiFormat {
    /** The event that ends every stream. */
    public static final String DONE = "data: [DONE]\n\n";

    private final Endpoint endpoint;
    private final String id;
    private final long created;
    private final String model;
    private final ServedModel served;
    private final boolean usageField;

    /** @param usageField streamed chunks carry {@code "usage": null} (when the client asked for usage) */
    public OpenAiFormat(Endpoint endpoint, String id, long createdEpochS, ServedModel served, boolean usageField) {
        this.endpoint = endpoint;
        this.id = id;
        this.created = createdEpochS;
        this.model = served.id();
        this.served = served;
        this.usageField = usageField;
    }

    public static String newId(Endpoint endpoint) {
        return endpoint.idPrefix + java.util.UUID.randomUUID().toString().replace("-", "");
    }

    static String sse(JsonNode body) {
        return "data: " + Json.write(body) + "\n\n";
    }

    private ObjectNode envelope(String object) {
        ObjectNode o = Json.object();
        o.put("id", id);
        o.put("object", object);
        o.put("created", created);
        o.put("model", model);
        return o;
    }

    private String chunk(ObjectNode choice) {
        ObjectNode o = envelope(endpoint.chunkObject);
        o.putArray("choices").add(choice);
        if (usageField) {
            o.putNull("usage");
        }
        return sse(o);
    }

    String completionChunk(int index, String text, ObjectNode logprob, String finishReason) {
        ObjectNode c = Json.object();
        c.put("index", index);
        c.put("text", text);
        if (logprob == null) {
            c.putNull("logprobs");
        } else {
            c.set("logprobs", completionLogprobs(List.<JsonNode>of(logprob)));
        }
        c.put("finish_reason", finishReason);
        return chunk(c);
    }

    String chatRoleChunk(int index) {
        ObjectNode c = Json.object();
        c.put("index", index);
        c.putObject("delta").put("role", "assistant").put("content", "");
        c.putNull("logprobs");
        c.putNull("finish_reason");
        return chunk(c);
    }

    String chatChunk(int index, String text, ObjectNode logprob, String finishReason) {
        ObjectNode c = Json.object();
        c.put("index", index);
        ObjectNode delta = c.putObject("delta");
        if (!text.isEmpty() || finishReason == null) {
            delta.put("content", text);
        }
        if (logprob == null) {
            c.putNull("logprobs");
        } else {
            c.putObject("logprobs").putArray("content").add(logprob);
        }
        c.put("finish_reason", finishReason);
        return chunk(c);
    }

    String usageChunk(ObjectNode usage) {
        ObjectNode o = envelope(endpoint.chunkObject);
        o.putArray("choices");
        o.set("usage", usage);
        return sse(o);
    }

    ObjectNode completionChoice(int index, String text, ArrayNode logprobs, String finishReason, boolean withLogprobs) {
        ObjectNode c = Json.object();
        c.put("index", index);
        c.put("text", text);
        if (withLogprobs) {
            c.set("logprobs", completionLogprobs(logprobs));
        } else {
            c.putNull("logprobs");
        }
        c.put("finish_reason", finishReason);
        return c;
    }

    ObjectNode chatChoice(int index, String text, ArrayNode logprobs, String finishReason, boolean withLogprobs) {
        ObjectNode c = Json.object();
        c.put("index", index);
        c.putObject("message").put("role", "assistant").put("content", text);
        if (withLogprobs) {
            c.putObject("logprobs").set("content", logprobs);
        } else {
            c.putNull("logprobs");
        }
        c.put("finish_reason", finishReason);
        return c;
    }

    ObjectNode response(List<ObjectNode> choices, ObjectNode usage) {
        ObjectNode o = envelope(endpoint.object);
        ArrayNode a = o.putArray("choices");
        choices.forEach(a::add);
        o.set("usage", usage);
        return o;
    }

    static ObjectNode usage(int promptTokens, int completionTokens) {
        ObjectNode u = Json.object();
        u.put("prompt_tokens", promptTokens);
        u.put("completion_tokens", completionTokens);
        u.put("total_tokens", promptTokens + completionTokens);
        return u;
    }

    /** One token's logprobs, chat form: {@code {"token", "logprob", "bytes", "top_logprobs": [...]}}. */
    ObjectNode chatLogprob(TokenChunk chunk) {
        ObjectNode e = tokenLogprob(chunk.tokenId(), chunk.logprob());
        ArrayNode top = e.putArray("top_logprobs");
        for (int k = 0; k < chunk.topTokenIds().length; k++) {
            top.add(tokenLogprob(chunk.topTokenIds()[k], chunk.topLogprobs()[k]));
        }
        return e;
    }

    private ObjectNode tokenLogprob(int tokenId, float logprob) {
        String token = served.tokenText(tokenId);
        ObjectNode e = Json.object();
        e.put("token", token);
        e.put("logprob", finite(logprob));
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xff);
        }
        return e;
    }

    /**
     * One token's logprobs, completions form, kept as an entry {@code {"token", "logprob", "top", "offset"}}
     * until {@link #completionLogprobs} lays the entries out as OpenAI's parallel arrays.
     */
    ObjectNode completionLogprob(TokenChunk chunk, int textOffset) {
        ObjectNode e = Json.object();
        e.put("token", served.tokenText(chunk.tokenId()));
        e.put("logprob", finite(chunk.logprob()));
        ObjectNode top = e.putObject("top");
        for (int k = 0; k < chunk.topTokenIds().length; k++) {
            top.put(served.tokenText(chunk.topTokenIds()[k]), finite(chunk.topLogprobs()[k]));
        }
        e.put("offset", textOffset);
        return e;
    }

    static ObjectNode completionLogprobs(Iterable<? extends JsonNode> entries) {
        ObjectNode l = Json.object();
        ArrayNode tokens = l.putArray("tokens");
        ArrayNode logprobs = l.putArray("token_logprobs");
        ArrayNode top = l.putArray("top_logprobs");
        ArrayNode offsets = l.putArray("text_offset");
        for (JsonNode e : entries) {
            tokens.add(e.get("token"));
            logprobs.add(e.get("logprob"));
            top.add(e.get("top"));
            offsets.add(e.get("offset"));
        }
        return l;
    }

    /** JSON has no -Infinity: a token the model gives no mass reports OpenAI's floor of -9999. */
    private static double finite(float logprob) {
        return Float.isFinite(logprob) ? logprob : -9999.0;
    }

    /** {@code {"error": {"message", "type", "param", "code"}}}. */
    public static ObjectNode errorBody(ApiError e) {
        ObjectNode root = Json.object();
        ObjectNode err = root.putObject("error");
        err.put("message", e.message());
        err.put("type", e.type());
        err.put("param", e.param());
        err.put("code", e.code());
        return root;
    }
}
