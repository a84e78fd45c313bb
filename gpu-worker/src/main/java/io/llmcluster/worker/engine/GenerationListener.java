package io.llmcluster.worker.engine;

/** Receives a generation's output as it is produced. */
public interface GenerationListener {
    /** A sampled token and the text it completed (empty while a multi-byte character is still forming). */
    void onToken(int tokenId, String textDelta);
}
