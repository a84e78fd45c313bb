package io.llmcluster.http;

import io.llmcluster.worker.model.ChatTemplate;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.model.Tokenizer;
import java.util.Optional;

/**
 * The model as the API serves it: the name clients use, the tokenizer and chat template the HTTP layer
 * prepares prompts with, the vocabulary size token-id prompts are checked against.
 *
 * @param architecture  the Hugging Face class, e.g. LlamaForCausalLM (admin API)
 * @param path          the model directory (admin API)
 * @param createdEpochS reported by {@code /v1/models}: when the server started serving it
 */
public record ServedModel(String id, Tokenizer tokenizer, Optional<ChatTemplate> chatTemplate, int vocabSize,
                          String architecture, String path, long createdEpochS) {
    public static ServedModel of(ModelDirectory dir) {
        return new ServedModel(dir.modelId(), dir.tokenizer(), dir.chatTemplate(), dir.config().vocabSize(),
                dir.config().architecture().hfClassName(), dir.dir().toAbsolutePath().toString(),
                System.currentTimeMillis() / 1000);
    }

    /** One token as text, special tokens included (for logprobs). */
    public String tokenText(int tokenId) {
        return tokenizer.decode(new int[] {tokenId}, 0, 1, false);
    }
}
