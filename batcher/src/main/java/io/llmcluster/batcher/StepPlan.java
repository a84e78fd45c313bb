package io.llmcluster.batcher;

import io.llmcluster.kv.KvBlocks;
import org.agrona.collections.LongArrayList;

/**
 * What one step computes, made by {@link Scheduler#schedule()} for the model runner: for each entry
 * {@code i < numEntries()}, compute the {@link #numNewTokens(int)} tokens of {@link #request(int)} starting at
 * token position {@link #startPosition(int)}, writing their KV into the slots of {@link #blocks(int)}, and
 * sample a token from the logits at its last token when {@link #sampleAfter(int)}. Entries list the running
 * requests first (in running order), then the ones admitted in this step.
 *
 * <p>One object, owned by the scheduler and refilled by every {@code schedule()}: read it before the next
 * call, and do not keep it. Its arrays are sized {@code maxNumSeqs} at construction, so scheduling allocates
 * nothing. The block tables are live views of the KV manager's tables: valid until the request is freed.
 */
public final class StepPlan {
    private final Request[] requests;
    private final int[] numNewTokens;
    private final int[] startPositions;
    private final KvBlocks[] blocks;
    private final boolean[] sampleAfter;
    private final LongArrayList preemptedIds;
    private int numEntries;
    private int totalTokens;
    private int numSampled;
    private int numWaiting;
    private int numRunning;
    private long step;

    StepPlan(int maxNumSeqs) {
        requests = new Request[maxNumSeqs];
        numNewTokens = new int[maxNumSeqs];
        startPositions = new int[maxNumSeqs];
        blocks = new KvBlocks[maxNumSeqs];
        sampleAfter = new boolean[maxNumSeqs];
        preemptedIds = new LongArrayList(maxNumSeqs, Long.MIN_VALUE);
    }

    /** Scheduled requests in this step. */
    public int numEntries() {
        return numEntries;
    }

    public boolean isEmpty() {
        return numEntries == 0;
    }

    public Request request(int entry) {
        check(entry);
        return requests[entry];
    }

    public long requestId(int entry) {
        check(entry);
        return requests[entry].id();
    }

    /** Tokens of this entry computed in this step: 1 for a decode, up to a whole prompt for a prefill chunk. */
    public int numNewTokens(int entry) {
        check(entry);
        return numNewTokens[entry];
    }

    /** Position of the entry's first new token: its {@code numComputedTokens} before the step. */
    public int startPosition(int entry) {
        check(entry);
        return startPositions[entry];
    }

    /** The entry's block table: block {@code b} holds positions {@code [b * blockSize, (b + 1) * blockSize)}. */
    public KvBlocks blocks(int entry) {
        check(entry);
        return blocks[entry];
    }

    /**
     * Whether this chunk computes the request's last token, so the runner samples the next token from its
     * logits; false for a chunk in the middle of a (re)computed prompt.
     */
    public boolean sampleAfter(int entry) {
        check(entry);
        return sampleAfter[entry];
    }

    /** Tokens computed in this step, over all entries; at most {@code maxNumBatchedTokens}. */
    public int totalTokens() {
        return totalTokens;
    }

    /** Entries whose {@link #sampleAfter(int)} is true. */
    public int numSampled() {
        return numSampled;
    }

    /** Requests preempted (KV freed, back to waiting) while this plan was made. */
    public int numPreempted() {
        return preemptedIds.size();
    }

    public long preemptedId(int index) {
        return preemptedIds.getLong(index);
    }

    /** Waiting requests after scheduling. */
    public int numWaiting() {
        return numWaiting;
    }

    /** Running requests after scheduling (some may have no entry when the token budget ran out). */
    public int numRunning() {
        return numRunning;
    }

    /** The scheduler's step number of this plan (0 for the first step). */
    public long step() {
        return step;
    }

    void clear(long newStep) {
        for (int i = 0; i < numEntries; i++) {
            requests[i] = null;
            blocks[i] = null;
        }
        numEntries = 0;
        totalTokens = 0;
        numSampled = 0;
        preemptedIds.clear();
        step = newStep;
    }

    void add(Request request, int newTokens, KvBlocks table) {
        int start = request.numComputedTokens;
        boolean sample = start + newTokens == request.numTokens();
        requests[numEntries] = request;
        numNewTokens[numEntries] = newTokens;
        startPositions[numEntries] = start;
        blocks[numEntries] = table;
        sampleAfter[numEntries] = sample;
        numEntries++;
        totalTokens += newTokens;
        numSampled += sample ? 1 : 0;
    }

    /** Drops the entry of {@code request} (preempted after being scheduled); returns its tokens, or 0. */
    int remove(Request request) {
        for (int i = 0; i < numEntries; i++) {
            if (requests[i] == request) {
                int tokens = numNewTokens[i];
                totalTokens -= tokens;
                numSampled -= sampleAfter[i] ? 1 : 0;
                int tail = numEntries - i - 1;
                System.arraycopy(requests, i + 1, requests, i, tail);
                System.arraycopy(numNewTokens, i + 1, numNewTokens, i, tail);
                System.arraycopy(startPositions, i + 1, startPositions, i, tail);
                System.arraycopy(blocks, i + 1, blocks, i, tail);
                System.arraycopy(sampleAfter, i + 1, sampleAfter, i, tail);
                numEntries--;
                requests[numEntries] = null;
                blocks[numEntries] = null;
                return tokens;
            }
        }
        return 0;
    }

    void addPreempted(long requestId) {
        preemptedIds.addLong(requestId);
    }

    void setQueueSizes(int waiting, int running) {
        numWaiting = waiting;
        numRunning = running;
    }

    private void check(int entry) {
        if (entry < 0 || entry >= numEntries) {
            throw new IndexOutOfBoundsException("entry " + entry + " of " + numEntries);
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("StepPlan[step=").append(step).append(", tokens=").append(totalTokens);
        for (int i = 0; i < numEntries; i++) {
            sb.append(", ").append(requests[i].id()).append('@').append(startPositions[i]).append('+')
                    .append(numNewTokens[i]).append(sampleAfter[i] ? "*" : "");
        }
        return sb.append(", preempted=").append(preemptedIds).append(']').toString();
    }
}
