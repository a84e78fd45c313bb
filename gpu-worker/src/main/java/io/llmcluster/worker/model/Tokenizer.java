package io.llmcluster.worker.model;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The model's tokenizer.json run by Hugging Face's tokenizers library (through DJL). Truncation and padding
 * are off: DJL's default cuts at 512 tokens, which would silently shorten long prompts.
 */
public final class Tokenizer implements AutoCloseable {
    private final HuggingFaceTokenizer hf;

    private Tokenizer(HuggingFaceTokenizer hf) {
        this.hf = hf;
    }

    static {
        // DJL picks a CUDA build of its tokenizer library when it sees a GPU and downloads it (the jar carries only
        // the CPU build); tokenization needs no GPU, and GPU machines may be offline. An explicit setting wins.
        if (System.getenv("RUST_FLAVOR") == null && System.getProperty("RUST_FLAVOR") == null) {
            System.setProperty("RUST_FLAVOR", "cpu");
        }
    }

    public static Tokenizer open(Path dir) {
        Path json = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(json)) {
            throw new ModelLoadException("missing tokenizer.json in " + dir);
        }
        try {
            return new Tokenizer(HuggingFaceTokenizer.builder()
                    .optTokenizerPath(json)
                    .optTruncation(false)
                    .optPadding(false)
                    .optAddSpecialTokens(true)
                    .build());
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException("cannot load " + json + ": " + e.getMessage(), e);
        }
    }

    /** Token ids of {@code text}, with the special tokens the tokenizer's post-processor adds (e.g. BOS). */
    public int[] encode(String text) {
        return toInts(hf.encode(text, true, false).getIds());
    }

    /** Token ids of {@code text} exactly as written (for text that already holds its special tokens). */
    public int[] encodeNoSpecial(String text) {
        return toInts(hf.encode(text, false, false).getIds());
    }

    public String decode(int[] ids, int from, int to, boolean skipSpecialTokens) {
        long[] longs = new long[to - from];
        for (int i = from; i < to; i++) {
            longs[i - from] = ids[i];
        }
        return hf.decode(longs, skipSpecialTokens);
    }

    public String decode(int[] ids) {
        return decode(ids, 0, ids.length, true);
    }

    private static int[] toInts(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public void close() {
        hf.close();
    }
}
