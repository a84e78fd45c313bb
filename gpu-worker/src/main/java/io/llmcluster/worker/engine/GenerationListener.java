package io.llmcluster.worker.engine;

/** Receives a generation's output as it is produced. */
public interface GenerationListener {
    /**
     * A sampled token and the text it completed (empty while a multi-byte character or a possible stop string
     * is still forming); token -1 carries the held-back text released when the sequence ends.
     */
    void onToken(int tokenId, String textDelta);
}
