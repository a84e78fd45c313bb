package io.llmcluster.batcher;

/** Why a sequence stopped generating; carried by requests and reported to clients as {@link #apiName()}. */
public enum FinishReason {
    /** An EOS token (unless {@code ignoreEos}), one of {@code stopTokenIds}, or a stop string appeared. */
    STOP("stop"),
    /** {@code maxTokens} output tokens were generated (or the model's context is full). */
    LENGTH("length"),
    /** The client cancelled or disconnected, or the request timed out. */
    ABORT("abort"),
    /** The engine failed while serving this request. */
    ERROR("error");

    private final String apiName;

    FinishReason(String apiName) {
        this.apiName = apiName;
    }

    /** The OpenAI / vLLM {@code finish_reason} string. */
    public String apiName() {
        return apiName;
    }
}
