package io.llmcluster.worker.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Jinja2 behaviours that Hugging Face chat templates rely on, rendered by jinjava. */
class ChatTemplateTest {
    private static final Map<String, String> TOKENS = Map.of("bos_token", "<s>", "eos_token", "</s>");
    private static final String ALTERNATING = "{{ bos_token }}{% for m in messages %}"
            + "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "[{{ m['role'] }}]{{ m['content'] | trim }}{{ eos_token }}{% endfor %}";

    private static List<Map<String, String>> chat(String... roleContent) {
        List<Map<String, String>> out = new java.util.ArrayList<>();
        for (int i = 0; i < roleContent.length; i += 2) {
            out.add(Map.of("role", roleContent[i], "content", roleContent[i + 1]));
        }
        return out;
    }

    @Test
    void shouldRaiseTheTemplatesOwnMessageFromRaiseException() {
        ChatTemplate t = new ChatTemplate(ALTERNATING, TOKENS);
        assertEquals("<s>[user]a</s>[assistant]b</s>", t.render(chat("user", " a ", "assistant", "b"), false));
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> t.render(chat("user", "a", "user", "b"), false));
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
    }

    @Test
    void shouldTrimBlocksAndLstripBlocksLikeTransformers() {
        String src = "{% for m in messages %}\n    {% if m.role == 'user' %}\nU:{{ m.content }}\n    {% endif %}\n{% endfor %}";
        assertEquals("U:x\n", new ChatTemplate(src, TOKENS).render(chat("user", "x"), false));
    }

    @Test
    void shouldBindFiltersTighterThanPlus() {
        String src = "{{ '<' + messages[0]['content'] | trim + '>' }}";
        assertEquals("<hi>", new ChatTemplate(src, TOKENS).render(chat("user", "  hi  "), false));
    }

    @Test
    void shouldSupportTheLlama31ConstructsSlicingNamespaceDefinedAndStrftimeNow() {
        String src = """
                {{- bos_token }}
                {%- if not date_string is defined %}
                    {%- set date_string = strftime_now("%d %b %Y") %}
                {%- endif %}
                {%- if messages[0]['role'] == 'system' %}
                    {%- set system_message = messages[0]['content']|trim %}
                    {%- set messages = messages[1:] %}
                {%- else %}
                    {%- set system_message = "" %}
                {%- endif %}
                {%- set ns = namespace(users=0) %}
                {%- for message in messages %}
                    {%- if message.role == 'user' %}{% set ns.users = ns.users + 1 %}{% endif %}
                {%- endfor %}
                {{- "S:" + system_message + "|D:" + date_string + "|N:" + ns.users|string }}
                {%- for message in messages %}
                    {{- '|' + message['role'] + ':' + message['content'] | trim }}
                {%- endfor %}
                {%- if add_generation_prompt %}{{- '|assistant:' }}{%- endif %}
                """;
        String today = DateTimeFormatter.ofPattern("dd MMM yyyy", Locale.ROOT).format(LocalDate.now());
        String out = new ChatTemplate(src, TOKENS).render(chat("system", " be brief ", "user", "hi", "assistant", "yo",
                "user", "bye"), true);
        assertEquals("<s>S:be brief|D:" + today + "|N:2|user:hi|assistant:yo|user:bye|assistant:", out);
    }

    @Test
    void shouldReportABrokenTemplateAsAChatTemplateException() {
        ChatTemplate t = new ChatTemplate("{% for m in messages %}{{ m.content ", TOKENS);
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> t.render(chat("user", "x"), false));
        assertTrue(e.getMessage().startsWith("the chat template failed"), e.getMessage());
    }
}
