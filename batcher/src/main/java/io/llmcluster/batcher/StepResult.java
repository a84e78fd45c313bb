package io.llmcluster.batcher;

/**
 * What one {@link Scheduler#update} did, entry by entry in the order of the {@link StepPlan}: the token the
 * request gained ({@link #NO_TOKEN} for a chunk in the middle of a prompt) and whether it finished, and why.
 * Requests finished here have already left the scheduler and freed their KV blocks.
 *
 * <p>One object, owned by the scheduler and refilled by every {@code update()}; sized {@code maxNumSeqs}, so
 * updating allocates nothing. Read it before the next call.
 */
public final class StepResult {
    /** {@link #newToken(int)} of an entry that sampled nothing in this step. */
    public static final int NO_TOKEN = -1;

    private final Request[] requests;
    private final int[] newTokens;
    private final FinishReason[] finishReasons;
    private int numEntries;
    private int numFinished;

    StepResult(int maxNumSeqs) {
        requests = new Request[maxNumSeqs];
        newTokens = new int[maxNumSeqs];
        finishReasons = new FinishReason[maxNumSeqs];
    }

    public int numEntries() {
        return numEntries;
    }

    public long requestId(int entry) {
        return request(entry).id();
    }

    public Request request(int entry) {
        check(entry);
        return requests[entry];
    }

    /** The token appended to the request in this step, or {@link #NO_TOKEN}. */
    public int newToken(int entry) {
        check(entry);
        return newTokens[entry];
    }

    public boolean hasNewToken(int entry) {
        return newToken(entry) != NO_TOKEN;
    }

    /** Whether the request finished in this update (a stop token, or a length limit). */
    public boolean finished(int entry) {
        check(entry);
        return finishReasons[entry] != null;
    }

    /** Why it finished in this update, or null. */
    public FinishReason finishReason(int entry) {
        check(entry);
        return finishReasons[entry];
    }

    /** Entries that finished in this update. */
    public int numFinished() {
        return numFinished;
    }

    void clear() {
        for (int i = 0; i < numEntries; i++) {
            requests[i] = null;
            finishReasons[i] = null;
        }
        numEntries = 0;
        numFinished = 0;
    }

    void add(Request request, int token, FinishReason reason) {
        requests[numEntries] = request;
        newTokens[numEntries] = token;
        finishReasons[numEntries] = reason;
        numEntries++;
        numFinished += reason == null ? 0 : 1;
    }

    private void check(int entry) {
        if (entry < 0 || entry >= numEntries) {
            throw new IndexOutOfBoundsException("entry " + entry + " of " + numEntries);
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("StepResult[");
        for (int i = 0; i < numEntries; i++) {
            sb.append(i == 0 ? "" : ", ").append(requests[i].id()).append("->")
                    .append(newTokens[i] == NO_TOKEN ? "-" : Integer.toString(newTokens[i]));
            if (finishReasons[i] != null) {
                sb.append(' ').append(finishReasons[i]);
            }
        }
        return sb.append(']').toString();
    }
}
