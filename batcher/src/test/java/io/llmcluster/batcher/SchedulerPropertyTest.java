package io.llmcluster.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.kv.KvBlocks;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.agrona.collections.IntArrayList;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Thousands of random steps against a tight pool (so preemption happens): random arrivals sharing prefixes,
 * random cancels and stop-string finishes (also between schedule and update), random sampled tokens, some of
 * them EOS or stop ids. After every step the KV accounting, the block tables, the token sequences (a shadow
 * copy grown only by the sampled tokens) and the finish reasons are checked; when arrivals stop, every request
 * must finish and the pool must be empty. The seed picks FCFS or PRIORITY and prefix caching on or off; seeds
 * past 8 also cap the prompt tokens per step while decoding, and every step checks that a step with a request
 * decoding computes at most that many prompt tokens, and that no decoding request is left out of a step. Seeds past
 * 12 add a fill phase (threshold 2), followed by a shadow of its rule: outside it the cap holds, inside it may not.
 */
class SchedulerPropertyTest {
    private static final int BLOCK = Fixture.BLOCK;
    private static final int EOS = Fixture.EOS;
    private static final int STOP_ID = 50;
    private static final int NUM_BLOCKS = 11;
    private static final int BUDGET = 16;
    private static final int MAX_SEQS = 5;
    private static final int MAX_MODEL_LEN = 32;
    private static final int ARRIVAL_STEPS = 3_000;
    private static final int DRAIN_STEP_LIMIT = 20_000;
    private static final int PREFILL_CAP = 3;
    private static final int FILL_MIN_WAITING = 2;

    /** What the test knows about a request independently of the scheduler. */
    private static final class Shadow {
        final Request request;
        final int[] prompt;
        final IntArrayList outputs = new IntArrayList();

        Shadow(Request request, int[] prompt) {
            this.request = request;
            this.prompt = prompt;
        }

        int numTokens() {
            return prompt.length + outputs.size();
        }
    }

    private Random random;
    private Fixture f;
    private int[][] sharedPrefixes;
    private final Map<Long, Shadow> live = new LinkedHashMap<>();
    private final List<Shadow> finished = new ArrayList<>();
    private long nextId = 1;
    private long steps;
    private int prefillCap;
    private int stepsAtTheCap;
    private int fillMinWaiting;
    /** The test's own copy of the fill-phase rule's state. */
    private boolean filling;
    private int stepsFilledPastTheCap;

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
    void shouldKeepKvAndTokenInvariantsAndFinishEveryRequestOverRandomSteps(long seed) {
        random = new Random(seed);
        SchedulingPolicy policy = seed % 2 == 0 ? SchedulingPolicy.PRIORITY : SchedulingPolicy.FCFS;
        boolean caching = (seed / 2) % 2 == 1;
        prefillCap = seed > 8 ? PREFILL_CAP : 0;
        fillMinWaiting = seed > 12 ? FILL_MIN_WAITING : 0;
        f = new Fixture(NUM_BLOCKS, new SchedulerConfig(BUDGET, MAX_SEQS, MAX_MODEL_LEN, caching, policy,
                new int[] {EOS}, prefillCap, fillMinWaiting));
        sharedPrefixes = new int[][] {randomTokens(4), randomTokens(9), randomTokens(12)};

        for (int i = 0; i < ARRIVAL_STEPS; i++) {
            int arrivals = i % 1000 == 500 ? 20 : random.nextInt(100) < 25 ? 1 : 0; // now and then a burst
            for (int a = 0; a < arrivals; a++) {
                arrive();
            }
            if (random.nextInt(100) < 3) {
                endRandomRequest();
            }
            step(true);
        }
        int drainSteps = 0;
        while (f.scheduler.hasUnfinishedRequests()) {
            assertTrue(++drainSteps <= DRAIN_STEP_LIMIT, "requests left after draining: " + live.keySet());
            step(false);
        }

        assertTrue(live.isEmpty());
        assertEquals(0, f.pool.numUsedBlocks());
        assertEquals(NUM_BLOCKS, f.pool.numFreeBlocks());
        assertEquals(0, f.kv.numRequests());
        for (Shadow shadow : finished) {
            assertFalse(f.kv.hasRequest(shadow.request.id()));
        }
        SchedulerStats stats = f.scheduler.stats();
        assertTrue(stats.numPreemptions() > 0, "the pool should be tight enough to preempt");
        assertEquals(caching, stats.kv().prefixHitTokens() > 0, "prefix hits only with caching");
        assertEquals(prefillCap > 0, stepsAtTheCap > 0, "the cap binds in some steps when it is set");
        assertEquals(fillMinWaiting > 0, stepsFilledPastTheCap > 0, "fill phases pass the cap in some steps");
    }

    private void arrive() {
        int[] prefix = random.nextInt(10) < 6 ? sharedPrefixes[random.nextInt(sharedPrefixes.length)] : new int[0];
        int length = Math.clamp(prefix.length + random.nextInt(11), 1, MAX_MODEL_LEN - 1);
        int[] prompt = Arrays.copyOf(prefix, length);
        for (int i = prefix.length; i < length; i++) {
            prompt[i] = 3 + random.nextInt(57);
        }
        int maxTokens = 1 + random.nextInt(24);
        SamplingParams.Builder params = SamplingParams.builder()
                .maxTokens(maxTokens)
                .minTokens(random.nextInt(Math.min(3, maxTokens) + 1))
                .ignoreEos(random.nextInt(5) == 0);
        if (random.nextBoolean()) {
            params.stopTokenIds(STOP_ID);
        }
        Request request = new Request(nextId++, prompt, params.build(), random.nextInt(4), steps);
        f.scheduler.add(request);
        live.put(request.id(), new Shadow(request, prompt.clone()));
    }

    /** Cancels, or finishes as if by a stop string, a random live request. */
    private void endRandomRequest() {
        if (live.isEmpty()) {
            return;
        }
        Shadow victim = new ArrayList<>(live.values()).get(random.nextInt(live.size()));
        FinishReason reason = random.nextBoolean() ? FinishReason.ABORT : FinishReason.STOP;
        assertTrue(reason == FinishReason.ABORT
                ? f.scheduler.cancel(victim.request.id())
                : f.scheduler.finish(victim.request.id(), reason));
        assertSame(reason, victim.request.finishReason());
        retire(victim);
    }

    private void retire(Shadow shadow) {
        live.remove(shadow.request.id());
        finished.add(shadow);
        assertSame(RequestStatus.FINISHED, shadow.request.status());
        assertFalse(f.kv.hasRequest(shadow.request.id()));
    }

    private void step(boolean allowEnds) {
        List<Request> decoding = new ArrayList<>();
        for (int i = 0; i < f.scheduler.numRunning(); i++) {
            Request r = f.scheduler.runningRequest(i);
            if (r.numTokens() - r.numComputedTokens() == 1) {
                decoding.add(r);
            }
        }
        int admissible = Math.min(f.scheduler.numWaiting(), MAX_SEQS - f.scheduler.numRunning());
        filling = fillMinWaiting > 0 && (admissible >= fillMinWaiting || (filling && admissible > 0));
        StepPlan plan = f.scheduler.schedule();
        checkPlan(plan);
        checkDecodesAndPrefillCap(plan, decoding);
        if (allowEnds && random.nextInt(100) < 2) {
            endRandomRequest();
        }
        int[] sampled = new int[plan.numEntries()];
        boolean[] wasRunning = new boolean[plan.numEntries()];
        for (int i = 0; i < sampled.length; i++) {
            int roll = random.nextInt(100);
            sampled[i] = roll < 8 ? EOS : roll < 11 ? STOP_ID : 3 + random.nextInt(57);
            wasRunning[i] = plan.request(i).status() == RequestStatus.RUNNING;
        }
        StepResult result = f.scheduler.update(plan, sampled);
        checkResult(plan, result, sampled, wasRunning);
        steps++;
        checkState();
        if (steps % 97 == 0) {
            for (Shadow shadow : finished) {
                assertFalse(f.kv.hasRequest(shadow.request.id()));
            }
        }
    }

    private void checkPlan(StepPlan plan) {
        assertTrue(plan.numEntries() <= MAX_SEQS);
        assertTrue(plan.totalTokens() <= BUDGET);
        int total = 0;
        int sampling = 0;
        for (int i = 0; i < plan.numEntries(); i++) {
            Request request = plan.request(i);
            assertSame(RequestStatus.RUNNING, request.status());
            int start = plan.startPosition(i);
            int numNew = plan.numNewTokens(i);
            assertEquals(request.numComputedTokens(), start);
            assertTrue(numNew >= 1 && start + numNew <= request.numTokens());
            assertEquals(start + numNew == request.numTokens(), plan.sampleAfter(i));
            KvBlocks blocks = plan.blocks(i);
            assertSame(f.kv.blocks(request.id()), blocks);
            assertEquals(f.kv.blocksForTokens(start + numNew), blocks.numBlocks());
            for (int j = 0; j < i; j++) {
                assertNotSame(plan.request(j), request);
            }
            total += numNew;
            sampling += plan.sampleAfter(i) ? 1 : 0;
        }
        assertEquals(total, plan.totalTokens());
        assertEquals(sampling, plan.numSampled());
        for (int i = 0; i < plan.numPreempted(); i++) {
            Request preempted = live.get(plan.preemptedId(i)).request;
            assertSame(RequestStatus.WAITING, preempted.status());
            assertEquals(0, preempted.numComputedTokens());
            assertFalse(f.kv.hasRequest(preempted.id()));
        }
        assertEquals(f.scheduler.numRunning(), plan.numRunning());
        assertEquals(f.scheduler.numWaiting(), plan.numWaiting());
    }

    /** Every request decoding before the step is in it unless preempted; prompt tokens within the cap. */
    private void checkDecodesAndPrefillCap(StepPlan plan, List<Request> decoding) {
        int promptTokens = 0;
        List<Request> scheduled = new ArrayList<>();
        for (int i = 0; i < plan.numEntries(); i++) {
            scheduled.add(plan.request(i));
            if (plan.request(i).numTokens() - plan.startPosition(i) > 1) {
                promptTokens += plan.numNewTokens(i);
            }
        }
        for (Request r : decoding) {
            assertTrue(scheduled.contains(r) || r.status() == RequestStatus.WAITING,
                    "decoding request " + r.id() + " left out of step " + steps);
        }
        if (prefillCap > 0 && !decoding.isEmpty() && filling) {
            stepsFilledPastTheCap += promptTokens > prefillCap ? 1 : 0;
        } else if (prefillCap > 0 && !decoding.isEmpty()) {
            assertTrue(promptTokens <= prefillCap, promptTokens + " prompt tokens in step " + steps);
            stepsAtTheCap += promptTokens == prefillCap ? 1 : 0;
        }
    }

    private void checkResult(StepPlan plan, StepResult result, int[] sampled, boolean[] wasRunning) {
        assertEquals(plan.numEntries(), result.numEntries());
        for (int i = 0; i < result.numEntries(); i++) {
            Request request = plan.request(i);
            assertEquals(request.id(), result.requestId(i));
            if (!wasRunning[i] || !plan.sampleAfter(i)) {
                assertEquals(StepResult.NO_TOKEN, result.newToken(i));
                assertFalse(result.finished(i));
                continue;
            }
            assertEquals(sampled[i], result.newToken(i));
            Shadow shadow = live.get(request.id());
            shadow.outputs.addInt(sampled[i]);
            assertEquals(expectedFinish(shadow, sampled[i]), result.finishReason(i));
            if (result.finished(i)) {
                assertSame(result.finishReason(i), request.finishReason());
                retire(shadow);
            }
        }
    }

    /** The stop rules, restated: STOP on a stop token past minTokens, else LENGTH at either limit. */
    private static FinishReason expectedFinish(Shadow shadow, int token) {
        SamplingParams params = shadow.request.params();
        int numOutputs = shadow.outputs.size();
        boolean stopToken = (token == EOS && !params.ignoreEos()) || params.stopTokenIds().contains(token);
        if (numOutputs >= params.minTokens() && stopToken) {
            return FinishReason.STOP;
        }
        if (numOutputs >= params.maxTokens() || shadow.numTokens() >= MAX_MODEL_LEN) {
            return FinishReason.LENGTH;
        }
        return null;
    }

    private void checkState() {
        Map<Integer, Integer> holders = new HashMap<>();
        int numRunning = 0;
        for (Shadow shadow : live.values()) {
            Request request = shadow.request;
            checkTokens(shadow);
            if (request.status() == RequestStatus.WAITING) {
                assertFalse(f.kv.hasRequest(request.id()));
                assertEquals(0, request.numComputedTokens());
                continue;
            }
            assertSame(RequestStatus.RUNNING, request.status());
            numRunning++;
            assertTrue(request.numComputedTokens() <= request.numTokens() - 1);
            KvBlocks blocks = f.kv.blocks(request.id());
            assertEquals(f.kv.blocksForTokens(request.numComputedTokens()), blocks.numBlocks(),
                    "the block table covers exactly the computed tokens");
            for (int b = 0; b < blocks.numBlocks(); b++) {
                holders.merge(blocks.blockId(b), 1, Integer::sum);
            }
        }
        assertEquals(numRunning, f.scheduler.numRunning());
        assertTrue(numRunning <= MAX_SEQS);
        assertEquals(live.size(), f.scheduler.numRunning() + f.scheduler.numWaiting());
        assertEquals(numRunning, f.kv.numRequests());
        for (int block = 0; block < NUM_BLOCKS; block++) {
            int expected = holders.getOrDefault(block, 0);
            assertEquals(expected, f.pool.refCount(block), "references of block " + block);
            assertEquals(expected == 0, f.pool.isFree(block), "block " + block + " free iff unreferenced");
        }
        assertEquals(holders.size(), f.pool.numUsedBlocks());
        assertEquals(NUM_BLOCKS, f.pool.numFreeBlocks() + f.pool.numUsedBlocks());
    }

    private static void checkTokens(Shadow shadow) {
        Request request = shadow.request;
        assertEquals(shadow.numTokens(), request.numTokens());
        for (int i = 0; i < shadow.prompt.length; i++) {
            assertEquals(shadow.prompt[i], request.tokenAt(i));
        }
        for (int i = 0; i < shadow.outputs.size(); i++) {
            assertEquals(shadow.outputs.getInt(i), request.tokenAt(shadow.prompt.length + i));
        }
    }

    private int[] randomTokens(int length) {
        int[] tokens = new int[length];
        for (int i = 0; i < length; i++) {
            tokens[i] = 3 + random.nextInt(57);
        }
        return tokens;
    }
}
