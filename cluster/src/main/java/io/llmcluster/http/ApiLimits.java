package io.llmcluster.http;

/**
 * Limits on what one request may ask for (HOCON {@code llmcluster.http}).
 *
 * @param maxN             most choices ({@code n}) per prompt
 * @param maxPrompts       most prompts in one completions request (a list of prompts)
 * @param maxStopStrings   most stop strings
 * @param requestTimeoutMs a request still generating after this long is cancelled (0 = never)
 */
public record ApiLimits(int maxN, int maxPrompts, int maxStopStrings, long requestTimeoutMs) {
    public static ApiLimits defaults() {
        return new ApiLimits(16, 64, 16, 600_000);
    }
}
