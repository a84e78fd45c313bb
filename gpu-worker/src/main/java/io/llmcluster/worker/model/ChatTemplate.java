package io.llmcluster.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The model's chat template (the Jinja {@code chat_template} of tokenizer_config.json, or a
 * {@code chat_template.jinja} file beside it) rendered by HubSpot's jinjava the way transformers'
 * {@code apply_chat_template} renders it: {@code trim_blocks} and {@code lstrip_blocks} on, Jinja2's operator
 * precedence (a filter binds tighter than {@code +}), the variables {@code messages},
 * {@code add_generation_prompt}, {@code bos_token}, {@code eos_token} (and the other special tokens the config
 * names), and the functions {@code raise_exception(message)} and {@code strftime_now(format)}.
 *
 * <p>The rendered text already holds the template's special tokens: encode it with
 * {@link Tokenizer#encodeNoSpecial}. Thread-safe.
 */
public final class ChatTemplate {
    private static final List<String> SPECIAL_TOKEN_KEYS = List.of("bos_token", "eos_token", "pad_token", "unk_token");
    private static final Jinjava JINJAVA = newJinjava();

    private final String source;
    private final Map<String, String> specialTokens;

    public ChatTemplate(String source, Map<String, String> specialTokens) {
        this.source = source;
        this.specialTokens = Map.copyOf(specialTokens);
    }

    /**
     * The template of a model directory: {@code chat_template.jinja} when present, else tokenizer_config.json's
     * {@code chat_template} (a string, or a list of named templates of which "default" is taken).
     */
    public static Optional<ChatTemplate> read(Path dir) {
        Path configFile = dir.resolve("tokenizer_config.json");
        Path jinjaFile = dir.resolve("chat_template.jinja");
        try {
            JsonNode config = Files.isRegularFile(configFile) ? new ObjectMapper().readTree(configFile.toFile()) : null;
            Map<String, String> tokens = specialTokens(config);
            if (Files.isRegularFile(jinjaFile)) {
                return Optional.of(new ChatTemplate(Files.readString(jinjaFile), tokens));
            }
            String source = config == null ? null : templateOf(config.get("chat_template"));
            return Optional.ofNullable(source).map(s -> new ChatTemplate(s, tokens));
        } catch (IOException e) {
            throw new ModelLoadException("cannot read the chat template of " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Renders a conversation.
     *
     * @param messages            each a map with at least {@code role} and {@code content}
     * @param addGenerationPrompt end with the header that makes the model answer as the assistant
     * @throws ChatTemplateException when the template rejects the conversation ({@code raise_exception}) or
     *                               fails to render
     */
    public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt) {
        Map<String, Object> vars = new HashMap<>(specialTokens);
        vars.put("messages", messages);
        vars.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result;
        try {
            result = JINJAVA.renderForResult(source, vars);
        } catch (RuntimeException e) {
            throw new ChatTemplateException(rootMessage(e), e);
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new ChatTemplateException(errorMessage(error), error.getException());
            }
        }
        return result.getOutput();
    }

    public String source() {
        return source;
    }

    /** Called by templates as {@code raise_exception('...')}: the conversation is not one the model accepts. */
    public static String raiseException(String message) {
        throw new TemplateRaisedException(message);
    }

    /** Called by templates as {@code strftime_now('%d %b %Y')}: the current local time, Python's format. */
    public static String strftimeNow(String pythonFormat) {
        return DateTimeFormatter.ofPattern(StrftimeFormat.toJavaPattern(pythonFormat), Locale.ROOT)
                .format(ZonedDateTime.now());
    }

    private static Jinjava newJinjava() {
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true) // {{- x -}} trims as in Jinja2
                        .withKeepNullableLoopValues(true)
                        .build())
                .withMaxOutputSize(64L << 20)
                .build();
        Jinjava j = new Jinjava(config);
        j.registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        j.registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplate.class, "strftimeNow", String.class));
        return j;
    }

    private static Map<String, String> specialTokens(JsonNode config) {
        Map<String, String> tokens = new HashMap<>();
        for (String key : SPECIAL_TOKEN_KEYS) {
            JsonNode v = config == null ? null : config.get(key);
            if (v != null && v.isTextual()) {
                tokens.put(key, v.asText());
            } else if (v != null && v.isObject() && v.path("content").isTextual()) { // an AddedToken
                tokens.put(key, v.get("content").asText());
            } else {
                tokens.put(key, "");
            }
        }
        return tokens;
    }

    private static String templateOf(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isArray()) {
            for (JsonNode named : node) {
                if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
                    return named.get("template").asText();
                }
            }
        }
        throw new ModelLoadException("tokenizer_config.json: chat_template is neither a string nor a list with a \"default\" template");
    }

    private static String errorMessage(TemplateError error) {
        Throwable cause = error.getException();
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof TemplateRaisedException r) {
                return r.getMessage();
            }
        }
        return "the chat template failed at line " + error.getLineno() + ": " + error.getMessage();
    }

    private static String rootMessage(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof TemplateRaisedException r) {
                return r.getMessage();
            }
        }
        return "the chat template failed: " + e.getMessage();
    }

    /** What {@code raise_exception} throws; carries the template's own message. */
    private static final class TemplateRaisedException extends RuntimeException {
        TemplateRaisedException(String message) {
            super(message, null, false, false);
        }
    }
}
