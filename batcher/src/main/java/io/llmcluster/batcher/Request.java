package io.llmcluster.batcher;

import io.llmcluster.kv.TokenSequence;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * One generation request as the {@link Scheduler} sees it: its tokens (the prompt, then the output tokens
 * sampled so far, read in place by the KV manager as a {@link TokenSequence}), its {@link SamplingParams}, its
 * priority and arrival, and counters. It has no prefill or decode phase: {@link #numComputedTokens()} (tokens
 * whose KV is in its blocks) against {@link #numTokens()} says what is left to compute.
 *
 * <p>Only the scheduler changes it, on the engine thread; everyone else reads. The output buffer grows by
 * doubling, so appending a token copies nothing per step.
 */
public final class Request implements TokenSequence {
    /** {@link #priority()} unless given: lower values are served first under {@link SchedulingPolicy#PRIORITY}. */
    public static final int DEFAULT_PRIORITY = 0;
    private static final int INITIAL_OUTPUT_CAPACITY = 32;

    private final long id;
    private final int[] promptTokenIds;
    private final SamplingParams params;
    private final int priority;
    private final long arrivalNanos;
    private final int[] stopTokenIds;
    private int[] outputTokenIds;
    private int numOutputTokens;

    // Scheduler state, package-private: changed only by the Scheduler.
    long arrivalSeq = -1;
    int numComputedTokens;
    int numCachedTokens;
    int numPreemptions;
    long preemptedAtSchedule = -1;
    RequestStatus status = RequestStatus.WAITING;
    FinishReason finishReason;

    /**
     * A request of {@code priority} that arrived at {@code arrivalNanos} ({@link System#nanoTime()} time base,
     * for latency metrics; the scheduler orders by the sequence of {@link Scheduler#add} calls). The prompt is
     * copied.
     */
    public Request(long id, int[] promptTokenIds, SamplingParams params, int priority, long arrivalNanos) {
        this.id = id;
        this.promptTokenIds = Objects.requireNonNull(promptTokenIds, "promptTokenIds").clone();
        this.params = Objects.requireNonNull(params, "params");
        this.priority = priority;
        this.arrivalNanos = arrivalNanos;
        this.stopTokenIds = toArray(params.stopTokenIds());
        this.outputTokenIds = new int[Math.min(params.maxTokens(), INITIAL_OUTPUT_CAPACITY)];
    }

    /** A request of {@link #DEFAULT_PRIORITY} arriving now. */
    public Request(long id, int[] promptTokenIds, SamplingParams params) {
        this(id, promptTokenIds, params, DEFAULT_PRIORITY, System.nanoTime());
    }

    public long id() {
        return id;
    }

    public SamplingParams params() {
        return params;
    }

    /** Lower values are served first under {@link SchedulingPolicy#PRIORITY}. */
    public int priority() {
        return priority;
    }

    public long arrivalNanos() {
        return arrivalNanos;
    }

    /** Prompt plus output tokens. */
    @Override
    public int numTokens() {
        return promptTokenIds.length + numOutputTokens;
    }

    @Override
    public int tokenAt(int index) {
        int numPrompt = promptTokenIds.length;
        if (index < numPrompt) {
            return promptTokenIds[index];
        }
        if (index - numPrompt >= numOutputTokens) {
            throw new IndexOutOfBoundsException("token " + index + " of " + numTokens());
        }
        return outputTokenIds[index - numPrompt];
    }

    public int numPromptTokens() {
        return promptTokenIds.length;
    }

    public int numOutputTokens() {
        return numOutputTokens;
    }

    /** Output token {@code index}, {@code 0 <= index < numOutputTokens()}. */
    public int outputTokenAt(int index) {
        if (index < 0 || index >= numOutputTokens) {
            throw new IndexOutOfBoundsException("output token " + index + " of " + numOutputTokens);
        }
        return outputTokenIds[index];
    }

    /** A copy of the prompt (not per step). */
    public int[] promptTokenIds() {
        return promptTokenIds.clone();
    }

    /** A copy of the output tokens so far (not per step). */
    public int[] outputTokenIds() {
        return Arrays.copyOf(outputTokenIds, numOutputTokens);
    }

    /** Leading tokens whose KV is computed and held in the request's blocks; 0 while waiting. */
    public int numComputedTokens() {
        return numComputedTokens;
    }

    /** Prompt tokens found in the prefix cache at the first admission (reported as cached prompt tokens). */
    public int numCachedTokens() {
        return numCachedTokens;
    }

    /** How often the request was preempted (its KV freed, to be recomputed). */
    public int numPreemptions() {
        return numPreemptions;
    }

    public RequestStatus status() {
        return status;
    }

    public boolean isFinished() {
        return status == RequestStatus.FINISHED;
    }

    /** Why it finished, or null while not finished. */
    public FinishReason finishReason() {
        return finishReason;
    }

    /** Whether {@code token} is one of {@link SamplingParams#stopTokenIds()} (no boxing). */
    boolean isStopTokenId(int token) {
        for (int stop : stopTokenIds) {
            if (stop == token) {
                return true;
            }
        }
        return false;
    }

    void appendOutputToken(int token) {
        if (numOutputTokens == outputTokenIds.length) {
            int capacity = Math.min(Math.max(8, 2 * outputTokenIds.length), params.maxTokens());
            outputTokenIds = Arrays.copyOf(outputTokenIds, capacity);
        }
        outputTokenIds[numOutputTokens++] = token;
    }

    private static int[] toArray(List<Integer> ids) {
        int[] array = new int[ids.size()];
        for (int i = 0; i < array.length; i++) {
            array[i] = ids.get(i);
        }
        return array;
    }

    @Override
    public String toString() {
        return "Request[id=" + id + ", status=" + status + ", tokens=" + numTokens() + " (prompt "
                + promptTokenIds.length + "), computed=" + numComputedTokens + ", priority=" + priority
                + (finishReason == null ? "" : ", finish=" + finishReason) + "]";
    }
}
