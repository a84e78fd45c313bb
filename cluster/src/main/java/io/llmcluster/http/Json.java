package io.llmcluster.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The server's JSON: one Jackson mapper that reads request bodies strictly (valid UTF-8, no trailing
 * data, no duplicate keys, bounded nesting and number sizes) but accepts {@code NaN} and {@code Infinity}
 * so that such values are reported as out of range for their field rather than as malformed JSON.
 */
public final class Json {
    public static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    static {
        MAPPER.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxNestingDepth(64)
                .maxNumberLength(64)
                .maxStringLength(64 << 20)
                .build());
    }

    private Json() {}

    /** The body as a JSON object, or an {@link ApiException} saying what is wrong with it. */
    public static ObjectNode parseObject(byte[] body) {
        if (body.length == 0) {
            throw ApiError.invalidJson("the request body is empty; expected a JSON object").exception();
        }
        String text;
        try { // strictly: overlong forms, surrogates and truncated sequences are errors, not replacement characters
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body)).toString();
        } catch (CharacterCodingException e) {
            throw ApiError.invalidJson("the request body is not valid UTF-8").exception();
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw ApiError.invalidJson("the request body is not valid JSON: " + e.getOriginalMessage()).exception();
        } catch (IOException | RuntimeException e) {
            throw ApiError.invalidJson("the request body is not valid JSON: " + e.getMessage()).exception();
        }
        if (node == null || !node.isObject()) {
            throw ApiError.invalidJson("the request body must be a JSON object, got "
                    + (node == null ? "nothing" : kind(node))).exception();
        }
        return (ObjectNode) node;
    }

    /** A JSON node's kind for messages: "a string", "an array", ... */
    static String kind(JsonNode n) {
        return switch (n.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> "a " + n.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
        };
    }

    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    public static String write(JsonNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
