package io.llmcluster.http;

/** The two generation endpoints; they differ in input (prompt or messages) and in response format. */
public enum Endpoint {
    /** {@code POST /v1/completions}. */
    COMPLETIONS("cmpl-", "text_completion", "text_completion"),
    /** {@code POST /v1/chat/completions}. */
    CHAT("chatcmpl-", "chat.completion", "chat.completion.chunk");

    final String idPrefix;
    final String object;
    final String chunkObject;

    Endpoint(String idPrefix, String object, String chunkObject) {
        this.idPrefix = idPrefix;
        this.object = object;
        this.chunkObject = chunkObject;
    }
}
