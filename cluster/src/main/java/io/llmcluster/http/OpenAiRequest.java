package io.llmcluster.http;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * A generation request whose fields are valid and whose prompts are tokenized; {@link #plan} checks the
 * lengths against the serving context and makes one engine sequence per prompt and choice.
 *
 * @param sampling      the sampling parameters except {@code maxTokens} and the per-choice seed
 * @param maxTokens     the client's {@code max_tokens} (or {@code max_completion_tokens}), if given
 * @param logprobs      top logprobs per token, or -1 for none
 * @param includeUsage  {@code stream_options.include_usage}: a last chunk with the usage
 */
public record OpenAiRequest(Endpoint endpoint, String model, List<PromptInput> prompts, int n,
                            SamplingParams sampling, OptionalInt maxTokens, int priority, boolean stream,
                            boolean includeUsage, boolean echo, int logprobs) {
    /** Completions' {@code max_tokens} default (OpenAI's), capped by the room the prompt leaves. */
    static final int DEFAULT_COMPLETION_TOKENS = 16;

    /**
     * The engine sequences, prompt-major: sequence {@code p * n + j} is choice {@code j} of prompt {@code p}
     * (its {@code index} in the response), seeded {@code seed + j} when a seed is given.
     *
     * @throws ApiException for an empty prompt, or a prompt (plus max_tokens) longer than the context
     */
    public List<SequenceSpec> plan(int maxModelLen) {
        List<SequenceSpec> out = new ArrayList<>();
        for (int p = 0; p < prompts.size(); p++) {
            int[] ids = prompts.get(p).tokenIds();
            int tokens = tokensFor(ids.length, maxModelLen);
            for (int j = 0; j < n; j++) {
                SamplingParams.Builder b = sampling.toBuilder().maxTokens(tokens);
                if (sampling.seed().isPresent()) {
                    b.seed(sampling.seed().getAsLong() + j);
                }
                out.add(new SequenceSpec(ids, RequestParser.build(b), priority));
            }
        }
        return out;
    }

    private int tokensFor(int promptTokens, int maxModelLen) {
        String param = endpoint == Endpoint.CHAT ? "messages" : "prompt";
        if (promptTokens == 0) {
            throw ApiError.invalidValue(param, "the prompt is empty").exception();
        }
        if (promptTokens >= maxModelLen) {
            throw ApiError.contextLengthExceeded(param, "This model's maximum context length is " + maxModelLen
                    + " tokens. However, your prompt has " + promptTokens + " tokens, which leaves no room to generate."
                    + " Please shorten the prompt.").exception();
        }
        int room = maxModelLen - promptTokens;
        if (maxTokens.isEmpty()) {
            return endpoint == Endpoint.COMPLETIONS ? Math.min(DEFAULT_COMPLETION_TOKENS, room) : room;
        }
        int requested = maxTokens.getAsInt();
        if (requested > room) {
            throw ApiError.contextLengthExceeded("max_tokens", "This model's maximum context length is " + maxModelLen
                    + " tokens. However, you requested " + ((long) promptTokens + requested) + " tokens (" + promptTokens
                    + " in the prompt, " + requested + " for the completion). Please reduce the prompt or max_tokens.")
                    .exception();
        }
        return requested;
    }

    /** Total prompt tokens, each prompt counted once (the usage's {@code prompt_tokens}). */
    public int promptTokens() {
        return prompts.stream().mapToInt(p -> p.tokenIds().length).sum();
    }
}
