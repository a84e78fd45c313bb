package io.llmcluster.batcher;

import io.llmcluster.kv.KvBlocks;
import io.llmcluster.kv.KvCacheManager;
import java.util.Objects;
import org.agrona.collections.Long2ObjectHashMap;

/**
 * Continuous batching for one worker, in the manner of vLLM v1's scheduler: each step it picks which tokens of
 * which requests the model computes, under a token budget ({@code maxNumBatchedTokens}), a sequence cap
 * ({@code maxNumSeqs}) and the room in the KV pool.
 *
 * <p><b>A request carries counters, not phases.</b> It has {@code numTokens()} (prompt plus output) and
 * {@code numComputedTokens} (tokens whose KV is in its blocks); each step computes
 * {@code min(numTokens - numComputedTokens, budget left)} of its tokens. One token is a decode; more is a
 * prompt, a chunk of it, or a recomputation after preemption; a prefix-cache hit just starts the counter
 * higher. A request with {@code numComputedTokens < numTokens() - 1} could be called "prefilling", but nothing
 * here has a prefill or decode mode: chunked prefill, prefix hits and recomputation need no special case.
 *
 * <p>Per step ({@link #schedule()}):
 * <ol>
 *   <li>The running requests, oldest first, each get their remaining tokens (1 when decoding), capped by the
 *       budget left. When the KV manager has no room ({@link KvBlocks#NONE}) a running request is
 *       <b>preempted by recompute</b> and the allocation retried: the most recently admitted one under
 *       {@link SchedulingPolicy#FCFS}, the one with the largest {@code (priority, arrival)} under
 *       {@link SchedulingPolicy#PRIORITY} (un-scheduling it if it already had an entry in this step). A victim
 *       frees its blocks, restarts at {@code numComputedTokens = 0} keeping its output tokens (recomputed with
 *       the prompt when readmitted) and goes back to the front of the waiting queue (FCFS) or to its place by
 *       {@code (priority, arrival)} (PRIORITY). If the victim is the request itself, it is not scheduled.</li>
 *   <li>If nobody was preempted, waiting requests are admitted in policy order while the budget, the sequence
 *       cap and the pool allow: each first takes its cached prefix ({@code computedPrefix}), then a chunk of
 *       {@code min(remaining tokens, budget left)}. The first one that does not fit stops admission: it waits
 *       (no head-of-line skipping, so no starvation). Under PRIORITY it may first preempt running requests of
 *       a strictly larger priority value, one at a time.</li>
 * </ol>
 * <b>Prefill cap while decoding</b> ({@link SchedulerConfig#maxPrefillTokensWhileDecoding()}, off at 0): when
 * some running request is decoding (one token left to compute) as the step is planned, the step's prompt tokens
 * (entries with more than one token left: prompt chunks, recomputations) are capped, so one step's cost, and
 * with it every stream's inter-token latency, stays near a decode step's while a long prompt is spread over
 * several steps. Decodes take only the token budget (a running request whose chunk does not fit is skipped, not
 * the ones behind it); once the cap is spent, admission stops for this step. With no request decoding the whole
 * budget is open, so an idle engine still prefills at full speed. Decodes behind a capped chunk cannot be starved
 * by it: a request admitted after the chunk fits in what the step left, so the cap plus the decodes of the next
 * step fit the budget again.
 *
 * <p><b>Fill phase</b> ({@link SchedulerConfig#fillPhaseMinWaiting()}, off at 0): the cap is sized for a stream of
 * arrivals, one or two prompts a step. A burst (many requests at once, free seats to take them) would enter at the
 * cap's pace, a couple of prompts a step, while the batch runs far below its size: at 256 seats and a cap of 256
 * tokens, 256 prompts of 128 tokens take 128 steps to admit. So when at least {@code fillPhaseMinWaiting} waiting
 * requests could take a free seat as a step is planned, a fill phase starts: the cap does not apply, and it lasts
 * until no waiting request could take a seat (queue empty or seats full), so the burst's tail is not capped
 * either. The decodes running meanwhile see long steps: the price of filling the batch in a few steps.
 *
 * <p>The model runner computes the {@link StepPlan}; {@link #update} then advances the counters, registers newly
 * full blocks in the prefix cache, appends the sampled tokens, and finishes requests on a stop token (EOS unless
 * {@code ignoreEos}, or a stop token id, once {@code minTokens} output tokens exist: STOP), at {@code maxTokens}
 * or at {@code maxModelLen} tokens (LENGTH). Finished and cancelled requests free their blocks at once.
 *
 * <p>Progress: the pool must hold one {@code maxModelLen} sequence (checked at construction), so a request
 * running alone always fits; under FCFS the oldest running request is never the victim while others run, so it
 * advances every step until it finishes, and a preempted request is readmitted before newer ones. Plain single-threaded policy for the engine thread: no
 * locks. {@code schedule()} and {@code update()} reuse one {@link StepPlan} and one {@link StepResult} and
 * allocate nothing once warm, except what the KV manager allocates (its KV event records) and the doubling of
 * a request's output buffer.
 */
public final class Scheduler {
    private final SchedulerConfig config;
    private final KvCacheManager kv;
    private final boolean priorityPolicy;
    private final boolean prefixCaching;
    private final int maxModelLen;
    private final int[] eosTokenIds;
    private final Long2ObjectHashMap<Request> requestsById = new Long2ObjectHashMap<>();
    private final WaitingQueue waiting = new WaitingQueue(64);
    private final Request[] running;
    private final StepPlan plan;
    private final StepResult result;
    private int numRunning;
    private long nextArrivalSeq;
    private long numSteps;
    private long numSchedules;
    private long numPreemptions;
    /** While scheduling: tokens left in this step's budget. */
    private int tokenBudget;
    /** While scheduling: prompt tokens this step may still compute (the cap while decoding, else unlimited). */
    private int prefillBudget;
    /** Whether the last planned step was in a fill phase (see {@link SchedulerConfig#fillPhaseMinWaiting()}). */
    private boolean filling;
    /** Steps planned in a fill phase so far. */
    private long numFillSteps;
    /** While scheduling the running requests: the index of the next one; kept right as requests leave. */
    private int cursor;
    /** Whether {@link #plan} has entries that {@link #update} has not applied yet. */
    private boolean planPending;

    /** A scheduler over {@code kv}, whose pool must hold at least one sequence of {@code maxModelLen} tokens. */
    public Scheduler(SchedulerConfig config, KvCacheManager kv) {
        this.config = Objects.requireNonNull(config, "config");
        this.kv = Objects.requireNonNull(kv, "kv");
        int blocksPerSequence = kv.blocksForTokens(config.maxModelLen());
        if (blocksPerSequence > kv.pool().numBlocks()) {
            throw new IllegalArgumentException("the KV pool has " + kv.pool().numBlocks() + " blocks of "
                    + kv.blockSizeTokens() + " tokens, fewer than the " + blocksPerSequence
                    + " one sequence of maxModelLen " + config.maxModelLen() + " tokens needs");
        }
        this.priorityPolicy = config.policy() == SchedulingPolicy.PRIORITY;
        this.prefixCaching = config.enablePrefixCaching();
        this.maxModelLen = config.maxModelLen();
        this.eosTokenIds = config.eosTokenIds();
        this.running = new Request[config.maxNumSeqs()];
        this.plan = new StepPlan(config.maxNumSeqs());
        this.result = new StepResult(config.maxNumSeqs());
    }

    /**
     * Queues a new request. Rejects (with {@link IllegalArgumentException}) an empty prompt, a prompt of more
     * than {@code maxModelLen - 1} tokens (no room to generate), an id already waiting or running, and a
     * request object added before.
     */
    public void add(Request request) {
        Objects.requireNonNull(request, "request");
        int numPrompt = request.numPromptTokens();
        if (numPrompt == 0) {
            throw new IllegalArgumentException("request " + request.id() + ": the prompt is empty");
        }
        if (numPrompt > maxModelLen - 1) {
            throw new IllegalArgumentException("request " + request.id() + ": the prompt has " + numPrompt
                    + " tokens, but maxModelLen " + maxModelLen + " allows at most " + (maxModelLen - 1)
                    + " so that one token can be generated");
        }
        if (requestsById.containsKey(request.id())) {
            throw new IllegalArgumentException("request " + request.id() + " is already waiting or running");
        }
        if (request.arrivalSeq >= 0) {
            throw new IllegalArgumentException("request " + request.id() + " was added before (" + request.status
                    + "); make a new Request");
        }
        request.arrivalSeq = nextArrivalSeq++;
        requestsById.put(request.id(), request);
        if (priorityPolicy) {
            waiting.insertByPriority(request);
        } else {
            waiting.addLast(request);
        }
    }

    /**
     * Aborts a waiting or running request (client gone, timeout): it finishes with {@link FinishReason#ABORT}
     * and its KV blocks are freed now. Returns whether it was waiting or running.
     */
    public boolean cancel(long requestId) {
        return finish(requestId, FinishReason.ABORT);
    }

    /**
     * Finishes a waiting or running request for a reason found outside the scheduler (a stop string matched by
     * the engine's detokenizer: {@link FinishReason#STOP}; an engine error); frees its KV blocks now. May be
     * called between {@link #schedule()} and {@link #update}: the request's entry then gains nothing. Returns
     * whether it was waiting or running.
     */
    public boolean finish(long requestId, FinishReason reason) {
        Objects.requireNonNull(reason, "reason");
        Request request = requestsById.remove(requestId);
        if (request == null) {
            return false;
        }
        if (request.status == RequestStatus.RUNNING) {
            removeFromRunning(request);
        } else {
            waiting.remove(request);
        }
        release(request, reason);
        return true;
    }

    /**
     * Plans the next step (see the class comment). Returns the scheduler's reused {@link StepPlan}; when it
     * has entries, pass it to {@link #update} before the next {@code schedule()}.
     *
     * @throws IllegalStateException if the previous plan had entries and was not updated
     */
    public StepPlan schedule() {
        if (planPending) {
            throw new IllegalStateException("step " + plan.step() + " was scheduled but not updated");
        }
        plan.clear(numSteps);
        numSchedules++;
        tokenBudget = config.maxNumBatchedTokens();
        prefillBudget = prefillAllowance();
        scheduleRunning();
        if (plan.numPreempted() == 0) {
            admitWaiting();
        }
        plan.setQueueSizes(waiting.size(), numRunning);
        planPending = !plan.isEmpty();
        return plan;
    }

    /**
     * Applies the step the runner computed: entry {@code i} of {@code stepPlan} advances by its new tokens, and
     * gains {@code sampledTokens[i]} when {@code sampleAfter(i)} (other entries' values are not read). Returns
     * the scheduler's reused {@link StepResult}.
     *
     * @throws IllegalArgumentException if the plan is not this scheduler's, {@code sampledTokens} is shorter than
     *                                  the plan, or a token to be read is negative; nothing changes then
     * @throws IllegalStateException    if the plan was already updated
     */
    public StepResult update(StepPlan stepPlan, int[] sampledTokens) {
        checkUpdate(stepPlan, sampledTokens);
        result.clear();
        if (!planPending) {
            return result; // an empty plan: nothing was computed
        }
        planPending = false;
        boolean anyFinished = false;
        for (int i = 0; i < plan.numEntries(); i++) {
            anyFinished |= updateEntry(i, sampledTokens[i]);
        }
        if (anyFinished) {
            removeFinishedFromRunning();
        }
        numSteps++;
        return result;
    }

    /** A snapshot of the queues, counters and KV pool; allocates, not for every step. */
    public SchedulerStats stats() {
        return new SchedulerStats(numRunning, waiting.size(), numPreemptions, numSteps, kv.stats());
    }

    /** The waiting or running request with this id, or null. */
    public Request request(long requestId) {
        return requestsById.get(requestId);
    }

    /** Steps planned in a fill phase so far (the prefill cap lifted for a burst; see the class comment). */
    public long numFillSteps() {
        return numFillSteps;
    }

    public int numRunning() {
        return numRunning;
    }

    public int numWaiting() {
        return waiting.size();
    }

    /** Whether any request is waiting or running. */
    public boolean hasUnfinishedRequests() {
        return numRunning + waiting.size() > 0;
    }

    public SchedulerConfig config() {
        return config;
    }

    public KvCacheManager kvCacheManager() {
        return kv;
    }

    /** The running request at {@code index}, in scheduling order (oldest admission first). */
    public Request runningRequest(int index) {
        if (index < 0 || index >= numRunning) {
            throw new IndexOutOfBoundsException("running " + index + " of " + numRunning);
        }
        return running[index];
    }

    /** The waiting request at {@code index}, in admission order. */
    public Request waitingRequest(int index) {
        if (index < 0 || index >= waiting.size()) {
            throw new IndexOutOfBoundsException("waiting " + index + " of " + waiting.size());
        }
        return waiting.get(index);
    }

    /**
     * The prompt tokens this step may compute: the cap when some running request decodes, else unlimited; unlimited
     * as well during a fill phase.
     */
    private int prefillAllowance() {
        int cap = config.maxPrefillTokensWhileDecoding();
        if (cap > 0 && !updateFillPhase()) {
            for (int i = 0; i < numRunning; i++) {
                if (tokensLeft(running[i]) == 1) {
                    return cap;
                }
            }
        }
        return Integer.MAX_VALUE;
    }

    /**
     * Starts a fill phase when at least {@code fillPhaseMinWaiting} waiting requests could take a free seat, ends it
     * once none could (the queue is empty or the seats are full); returns whether this step is in one.
     */
    private boolean updateFillPhase() {
        int threshold = config.fillPhaseMinWaiting();
        int admissible = Math.min(waiting.size(), running.length - numRunning);
        filling = threshold > 0 && (admissible >= threshold || (filling && admissible > 0));
        numFillSteps += filling ? 1 : 0;
        return filling;
    }

    private static int tokensLeft(Request request) {
        return request.numTokens() - request.numComputedTokens;
    }

    /** New tokens for a request with {@code left} tokens to compute: a decode needs the token budget, a chunk both. */
    private int chunk(int left) {
        return left == 1 ? Math.min(1, tokenBudget) : Math.min(left, Math.min(tokenBudget, prefillBudget));
    }

    private void scheduleRunning() {
        cursor = 0;
        while (cursor < numRunning && tokenBudget > 0) {
            Request request = running[cursor];
            int numNew = chunk(tokensLeft(request));
            if (numNew == 0) {
                cursor++; // a prompt chunk with the prefill cap spent: the decodes behind it still run
                continue;
            }
            KvBlocks blocks = allocateOrPreempt(request, numNew);
            if (!blocks.isNone()) {
                addToPlan(request, numNew, blocks);
                cursor++;
            } // else the request preempted itself and running[cursor] is the next one
        }
        cursor = 0;
    }

    /** Allocates the request's slots, preempting victims until they fit; NONE if the request itself went. */
    private KvBlocks allocateOrPreempt(Request request, int numNew) {
        while (true) {
            KvBlocks blocks = kv.allocateSlots(request.id(), request, request.numComputedTokens, numNew);
            if (!blocks.isNone()) {
                return blocks;
            }
            Request victim = running[victimIndex()];
            preempt(victim);
            if (victim == request) {
                return KvBlocks.NONE;
            }
        }
    }

    private void admitWaiting() {
        while (!waiting.isEmpty() && tokenBudget > 0 && prefillBudget > 0) {
            Request request = waiting.peekFirst();
            if (request.preemptedAtSchedule == numSchedules) {
                return; // preempted in this step: not readmitted before the next one
            }
            if (numRunning == running.length && !preemptForAdmission(request)) {
                return;
            }
            if (!admit(request) && !preemptForAdmission(request)) {
                return;
            }
        }
    }

    /** Takes the head of the waiting queue into running with its cached prefix and a first chunk, if it fits. */
    private boolean admit(Request request) {
        long id = request.id();
        if (!mayFit(request)) {
            return false; // no room even counting its cached prefix: skip the lookup and its side effects
        }
        int numComputed = prefixCaching ? kv.computedPrefix(id, request) : 0;
        int numNew = chunk(request.numTokens() - numComputed);
        KvBlocks blocks = kv.allocateSlots(id, request, numComputed, numNew);
        if (blocks.isNone()) {
            kv.free(id); // drops the references on its cached prefix; it stays waiting
            return false;
        }
        waiting.pollFirst();
        if (request.numPreemptions == 0) {
            request.numCachedTokens = numComputed;
        }
        request.numComputedTokens = numComputed;
        request.status = RequestStatus.RUNNING;
        running[numRunning++] = request;
        addToPlan(request, numNew, blocks);
        return true;
    }

    /**
     * A read-only check that the request's first chunk could fit: the new blocks it needs beyond its cached
     * prefix are free. Necessary, not sufficient (taking a free cached block also lowers the free count), so a
     * request blocked at the head of the queue does not take and drop prefix references every step.
     */
    private boolean mayFit(Request request) {
        int numCached = prefixCaching ? kv.findCachedPrefix(request) : 0;
        int numNew = chunk(request.numTokens() - numCached);
        int numNewBlocks = kv.blocksForTokens(numCached + numNew) - numCached / kv.blockSizeTokens();
        return numNewBlocks <= kv.pool().numFreeBlocks();
    }

    /** Under PRIORITY, preempts the worst running request if its priority value is larger than the arrival's. */
    private boolean preemptForAdmission(Request arrival) {
        if (!priorityPolicy || numRunning == 0) {
            return false;
        }
        Request victim = running[victimIndex()];
        if (victim.priority() <= arrival.priority()) {
            return false;
        }
        preempt(victim);
        return true;
    }

    /** FCFS: the most recently admitted; PRIORITY: the largest {@code (priority, arrival)}. */
    private int victimIndex() {
        if (!priorityPolicy) {
            return numRunning - 1;
        }
        int worst = 0;
        for (int i = 1; i < numRunning; i++) {
            if (WaitingQueue.comesBefore(running[worst], running[i])) {
                worst = i;
            }
        }
        return worst;
    }

    private void preempt(Request victim) {
        removeFromRunning(victim);
        int unscheduled = plan.remove(victim);
        tokenBudget += unscheduled;
        if (unscheduled > 0 && tokensLeft(victim) > 1) {
            prefillBudget += unscheduled; // it was a prompt chunk
        }
        kv.free(victim.id());
        victim.numComputedTokens = 0;
        victim.status = RequestStatus.WAITING;
        victim.numPreemptions++;
        victim.preemptedAtSchedule = numSchedules;
        numPreemptions++;
        plan.addPreempted(victim.id());
        if (priorityPolicy) {
            waiting.insertByPriority(victim);
        } else {
            waiting.addFirst(victim);
        }
    }

    private void addToPlan(Request request, int numNew, KvBlocks blocks) {
        if (tokensLeft(request) > 1) {
            prefillBudget -= numNew;
        }
        plan.add(request, numNew, blocks);
        tokenBudget -= numNew;
    }

    private void checkUpdate(StepPlan stepPlan, int[] sampledTokens) {
        if (stepPlan != plan) {
            throw new IllegalArgumentException("not the plan of this scheduler's last schedule()");
        }
        Objects.requireNonNull(sampledTokens, "sampledTokens");
        if (!planPending) {
            if (plan.isEmpty()) {
                return;
            }
            throw new IllegalStateException("step " + plan.step() + " was already updated");
        }
        if (sampledTokens.length < plan.numEntries()) {
            throw new IllegalArgumentException("sampledTokens has " + sampledTokens.length + " tokens for "
                    + plan.numEntries() + " entries");
        }
        for (int i = 0; i < plan.numEntries(); i++) {
            if (plan.sampleAfter(i) && sampledTokens[i] < 0) {
                throw new IllegalArgumentException("sampledTokens[" + i + "] must be a token id >= 0 (request "
                        + plan.requestId(i) + " samples this step), got " + sampledTokens[i]);
            }
        }
    }

    /** Applies entry {@code entry}; returns whether its request finished. */
    private boolean updateEntry(int entry, int sampledToken) {
        Request request = plan.request(entry);
        if (request.status != RequestStatus.RUNNING) {
            result.add(request, StepResult.NO_TOKEN, null); // finished or cancelled after schedule()
            return false;
        }
        request.numComputedTokens += plan.numNewTokens(entry);
        if (prefixCaching) {
            kv.cacheFullBlocks(request.id(), request, request.numComputedTokens);
        }
        if (!plan.sampleAfter(entry)) {
            result.add(request, StepResult.NO_TOKEN, null);
            return false;
        }
        request.appendOutputToken(sampledToken);
        FinishReason reason = stopReason(request, sampledToken);
        if (reason != null) {
            requestsById.remove(request.id());
            release(request, reason);
        }
        result.add(request, sampledToken, reason);
        return reason != null;
    }

    /**
     * STOP for a stop token (EOS unless {@code ignoreEos}, or a stop token id) once {@code minTokens} output
     * tokens exist; else LENGTH at {@code maxTokens} output tokens or {@code maxModelLen} tokens; else null.
     */
    private FinishReason stopReason(Request request, int token) {
        SamplingParams params = request.params();
        int numOutput = request.numOutputTokens();
        if (numOutput >= params.minTokens()
                && ((!params.ignoreEos() && isEos(token)) || request.isStopTokenId(token))) {
            return FinishReason.STOP;
        }
        if (numOutput >= params.maxTokens() || request.numTokens() >= maxModelLen) {
            return FinishReason.LENGTH;
        }
        return null;
    }

    private boolean isEos(int token) {
        for (int eos : eosTokenIds) {
            if (eos == token) {
                return true;
            }
        }
        return false;
    }

    private void release(Request request, FinishReason reason) {
        kv.free(request.id());
        request.status = RequestStatus.FINISHED;
        request.finishReason = reason;
    }

    private void removeFromRunning(Request request) {
        for (int i = 0; i < numRunning; i++) {
            if (running[i] == request) {
                System.arraycopy(running, i + 1, running, i, numRunning - i - 1);
                running[--numRunning] = null;
                if (i < cursor) {
                    cursor--;
                }
                return;
            }
        }
        throw new IllegalStateException("request " + request.id() + " is not running");
    }

    private void removeFinishedFromRunning() {
        int kept = 0;
        for (int i = 0; i < numRunning; i++) {
            if (running[i].status == RequestStatus.RUNNING) {
                running[kept++] = running[i];
            }
        }
        for (int i = kept; i < numRunning; i++) {
            running[i] = null;
        }
        numRunning = kept;
    }
}
