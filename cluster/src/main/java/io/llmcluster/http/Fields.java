package io.llmcluster.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * Typed, checked access to a request's JSON fields: a field of the wrong type or out of range becomes a 400
 * naming the field ({@code param}), its expected type or range and what was sent. An absent field or JSON
 * null reads as absent. Integers may be written as integral numbers ({@code 10.0}), as Python clients do.
 */
final class Fields {
    private final ObjectNode json;

    Fields(ObjectNode json) {
        this.json = json;
    }

    ObjectNode json() {
        return json;
    }

    boolean has(String name) {
        JsonNode n = json.get(name);
        return n != null && !n.isNull();
    }

    JsonNode node(String name) {
        JsonNode n = json.get(name);
        return n == null || n.isNull() ? null : n;
    }

    String string(String name) {
        JsonNode n = node(name);
        if (n == null) {
            return null;
        }
        if (!n.isTextual()) {
            throw wrongType(name, "a string", n);
        }
        return n.asText();
    }

    boolean bool(String name, boolean defaultValue) {
        JsonNode n = node(name);
        if (n == null) {
            return defaultValue;
        }
        if (!n.isBoolean()) {
            throw wrongType(name, "a boolean", n);
        }
        return n.booleanValue();
    }

    /** An integer in [min, max]. */
    OptionalInt integer(String name, int min, int max) {
        OptionalLong v = longValue(name, min, max);
        return v.isPresent() ? OptionalInt.of((int) v.getAsLong()) : OptionalInt.empty();
    }

    OptionalLong longValue(String name, long min, long max) {
        JsonNode n = node(name);
        if (n == null) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(integerOf(name, n, min, max));
    }

    /** A finite number in [min, max]; NaN and infinities are out of range. */
    OptionalDouble number(String name, double min, double max) {
        JsonNode n = node(name);
        if (n == null) {
            return OptionalDouble.empty();
        }
        if (!n.isNumber()) {
            throw wrongType(name, "a number", n);
        }
        double v = n.doubleValue();
        if (!(v >= min && v <= max)) { // false for NaN
            throw outOfRange(name, "a number in [" + fmt(min) + ", " + fmt(max) + "]", n.asText());
        }
        return OptionalDouble.of(v);
    }

    /** A string or a list of strings (OpenAI's {@code stop}), as a list. */
    List<String> stringOrList(String name, int maxItems) {
        JsonNode n = node(name);
        if (n == null) {
            return List.of();
        }
        if (n.isTextual()) {
            return List.of(n.asText());
        }
        if (!n.isArray()) {
            throw wrongType(name, "a string or an array of strings", n);
        }
        if (n.size() > maxItems) {
            throw outOfRange(name, "at most " + maxItems + " strings", n.size() + " strings");
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n.size(); i++) {
            if (!n.get(i).isTextual()) {
                throw wrongType(name + "[" + i + "]", "a string", n.get(i));
            }
            out.add(n.get(i).asText());
        }
        return out;
    }

    /** An array of integers each in [min, max]. */
    List<Integer> intList(String name, int min, int max, int maxItems) {
        JsonNode n = node(name);
        if (n == null) {
            return List.of();
        }
        if (!n.isArray()) {
            throw wrongType(name, "an array of integers", n);
        }
        if (n.size() > maxItems) {
            throw outOfRange(name, "at most " + maxItems + " items", n.size() + " items");
        }
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < n.size(); i++) {
            out.add((int) integerOf(name + "[" + i + "]", n.get(i), min, max));
        }
        return out;
    }

    static long integerOf(String name, JsonNode n, long min, long max) {
        if (!n.isNumber()) {
            throw wrongType(name, "an integer", n);
        }
        String range = "an integer in [" + min + ", " + max + "]";
        if (n.isIntegralNumber()) {
            if (!n.canConvertToLong() || n.longValue() < min || n.longValue() > max) {
                throw outOfRange(name, range, n.asText());
            }
            return n.longValue();
        }
        double d = n.doubleValue();
        if (Double.isFinite(d) && d != Math.rint(d)) {
            throw ApiError.invalidType(name, "'" + name + "' must be an integer, got " + n.asText()).exception();
        }
        if (!(d >= min && d <= max)) { // NaN, infinities, out of range
            throw outOfRange(name, range, n.asText());
        }
        return (long) d;
    }

    static ApiException wrongType(String name, String expected, JsonNode got) {
        return ApiError.invalidType(name, "'" + name + "' must be " + expected + ", got " + Json.kind(got)).exception();
    }

    static ApiException outOfRange(String name, String expected, String got) {
        return ApiError.invalidValue(name, "'" + name + "' must be " + expected + ", got " + got).exception();
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
