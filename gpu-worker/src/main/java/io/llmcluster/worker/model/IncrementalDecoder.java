package io.llmcluster.worker.model;

import java.util.Arrays;

/**
 * Turns a growing list of token ids into text deltas for streaming. Byte-level BPE tokens may split a UTF-8
 * character, and decoding a token alone may lose a leading space, so each step decodes a short window
 * (from {@code prefixOffset}) and emits only what the newest tokens added, holding text back while it ends
 * in an incomplete character (U+FFFD) — the method vLLM and text-generation-inference use.
 */
public final class IncrementalDecoder {
    private final Tokenizer tokenizer;
    private int[] ids = new int[64];
    private int size;
    private int prefixOffset;
    private int readOffset;

    /** @param promptIds context the first generated token is decoded against (its last few tokens suffice) */
    public IncrementalDecoder(Tokenizer tokenizer, int[] promptIds) {
        this.tokenizer = tokenizer;
        int keep = Math.min(promptIds.length, 6);
        for (int i = promptIds.length - keep; i < promptIds.length; i++) {
            push(promptIds[i]);
        }
        prefixOffset = 0;
        readOffset = size;
    }

    /** Appends one generated token and returns the text it completes (possibly empty). */
    public String add(int tokenId) {
        push(tokenId);
        String prefix = tokenizer.decode(ids, prefixOffset, readOffset, true);
        String full = tokenizer.decode(ids, prefixOffset, size, true);
        if (full.length() > prefix.length() && !full.endsWith("\uFFFD")) {
            String delta = full.substring(prefix.length());
            prefixOffset = readOffset;
            readOffset = size;
            return delta;
        }
        return "";
    }

    /** The text still held back (an incomplete character at the end); call once when the sequence ends. */
    public String flush() {
        String prefix = tokenizer.decode(ids, prefixOffset, readOffset, true);
        String full = tokenizer.decode(ids, prefixOffset, size, true);
        prefixOffset = readOffset = size;
        return full.length() > prefix.length() ? full.substring(prefix.length()) : "";
    }

    private void push(int id) {
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
        }
        ids[size++] = id;
    }
}
