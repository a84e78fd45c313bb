package io.llmcluster.batcher.bench;

import io.llmcluster.batcher.Request;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.batcher.Scheduler;
import io.llmcluster.batcher.SchedulerConfig;
import io.llmcluster.batcher.SchedulingPolicy;
import io.llmcluster.batcher.StepPlan;
import io.llmcluster.batcher.StepResult;
import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.BlockPool;
import io.llmcluster.kv.HashExtra;
import io.llmcluster.kv.KvCacheManager;
import io.llmcluster.kv.KvEvent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Step-time benchmark of the scheduler's own work per step, {@code schedule()} + {@code update()}, with no
 * model: the time the engine loop spends outside the forward pass. Blocks of 16 tokens, a pool of 65,536 blocks
 * (about an H200's KV room for an 8B model in bf16), prefix caching on. KV events are drained after each step,
 * outside the timed region, as the engine does. A full GC before each timed loop clears the setup's garbage;
 * the timed steps themselves allocate only KV event records and output-buffer growth.
 *
 * <ul>
 *   <li>{@code decode}: {@code numSeqs} requests with staggered prompts of 256, 257, ... tokens, all running; after
 *       their prefill, {@code steps} steps where each of them decodes one token (blocks fill and register on
 *       different steps).</li>
 *   <li>{@code mixed}: a steady state of arrivals and finishes, about {@code numSeqs} running plus a queue: new
 *       prompts (half share a 512-token system prompt) are prefilled in chunks next to the decodes, sampled
 *       tokens end requests at random or at {@code maxTokens}.</li>
 * </ul>
 * Two untimed rounds warm the JIT before each timed round. Usage: {@code SchedulerStepBench [numSeqs=256]
 * [steps=3000]}.
 */
public final class SchedulerStepBench {
    private static final int BLOCK = 16;
    private static final int NUM_BLOCKS = 65_536;
    private static final int EOS = 2;
    private static final int VOCAB = 32_000;

    private SchedulerStepBench() {}

    public static void main(String[] args) {
        int numSeqs = args.length > 0 ? Integer.parseInt(args[0]) : 256;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 3000;
        System.out.printf("SchedulerStepBench: %d sequences, %d timed steps, blocks of %d tokens, %d blocks, "
                + "Java %s, %d CPUs%n", numSeqs, steps, BLOCK, NUM_BLOCKS, Runtime.version(),
                Runtime.getRuntime().availableProcessors());
        for (int round = 0; round < 2; round++) {
            decode(numSeqs, steps, round);
            mixed(numSeqs, steps, round);
        }
        report("decode", decode(numSeqs, steps, 2));
        report("mixed", mixed(numSeqs, steps, 2));
    }

    private static Scheduler scheduler(int numSeqs) {
        BlockPool pool = new BlockPool(NUM_BLOCKS, BLOCK, 1);
        KvCacheManager kv = new KvCacheManager(pool, new BlockHasher(HashExtra.base("bench-8b", "bf16"), BLOCK));
        return new Scheduler(
                new SchedulerConfig(8192, numSeqs, 8192, true, SchedulingPolicy.FCFS, new int[] {EOS}), kv);
    }

    /** Nanoseconds of schedule() + update() for each of {@code steps} all-decode steps. */
    private static long[] decode(int numSeqs, int steps, long seed) {
        Scheduler scheduler = scheduler(numSeqs);
        SplittableRandom random = new SplittableRandom(seed);
        SamplingParams params = SamplingParams.builder().maxTokens(4096).ignoreEos(true).build();
        int longestPrompt = 256 + numSeqs - 1;
        long blocksNeeded = (long) numSeqs * ((longestPrompt + steps + 1 + BLOCK - 1) / BLOCK);
        if (blocksNeeded > NUM_BLOCKS) {
            throw new IllegalArgumentException(numSeqs + " sequences decoding " + steps + " steps need "
                    + blocksNeeded + " blocks, more than the pool's " + NUM_BLOCKS + ": use fewer steps");
        }
        for (int i = 0; i < numSeqs; i++) {
            scheduler.add(new Request(i, randomTokens(random, 256 + i), params));
        }
        int[] sampled = new int[numSeqs];
        List<KvEvent> events = new ArrayList<>();
        while (!allDecoding(scheduler)) { // prefill, untimed
            fill(sampled, random, 0);
            scheduler.update(scheduler.schedule(), sampled);
            drain(scheduler, events);
        }
        long[] nanos = new long[steps];
        System.gc(); // settle the setup's garbage (earlier rounds' pools) so a young GC of it is not timed
        for (int s = 0; s < steps; s++) {
            fill(sampled, random, 0);
            long start = System.nanoTime();
            StepPlan plan = scheduler.schedule();
            scheduler.update(plan, sampled);
            nanos[s] = System.nanoTime() - start;
            check(plan.numEntries() == numSeqs && plan.totalTokens() == numSeqs, plan);
            drain(scheduler, events);
        }
        return nanos;
    }

    private static boolean allDecoding(Scheduler scheduler) {
        for (int i = 0; i < scheduler.numRunning(); i++) {
            Request r = scheduler.runningRequest(i);
            if (r.numComputedTokens() != r.numTokens() - 1) {
                return false;
            }
        }
        return scheduler.numWaiting() == 0;
    }

    /** Nanoseconds of schedule() + update() for each of {@code steps} steps of steady arrivals and finishes. */
    private static long[] mixed(int numSeqs, int steps, long seed) {
        Scheduler scheduler = scheduler(numSeqs);
        SplittableRandom random = new SplittableRandom(seed);
        int[] systemPrompt = randomTokens(random, 512);
        long nextId = 0;
        int[] sampled = new int[numSeqs];
        List<KvEvent> events = new ArrayList<>();
        int warmup = steps / 2;
        long[] nanos = new long[steps];
        System.gc();
        for (int s = -warmup; s < steps; s++) {
            while (scheduler.numRunning() + scheduler.numWaiting() < numSeqs + numSeqs / 8) {
                scheduler.add(newRequest(nextId++, random, systemPrompt));
            }
            fill(sampled, random, 500); // one token in 500 is EOS
            long start = System.nanoTime();
            StepPlan plan = scheduler.schedule();
            scheduler.update(plan, sampled);
            long elapsed = System.nanoTime() - start;
            if (s >= 0) {
                nanos[s] = elapsed;
            }
            drain(scheduler, events);
        }
        return nanos;
    }

    private static Request newRequest(long id, SplittableRandom random, int[] systemPrompt) {
        int length = 256 + random.nextInt(769);
        int[] prompt = randomTokens(random, length);
        if (random.nextBoolean()) {
            System.arraycopy(systemPrompt, 0, prompt, 0, Math.min(length - 1, systemPrompt.length));
        }
        SamplingParams params = SamplingParams.builder().maxTokens(64 + random.nextInt(449)).build();
        return new Request(id, prompt, params);
    }

    private static int[] randomTokens(SplittableRandom random, int length) {
        int[] tokens = new int[length];
        for (int i = 0; i < length; i++) {
            tokens[i] = 3 + random.nextInt(VOCAB - 3);
        }
        return tokens;
    }

    /** Random non-EOS tokens, but EOS with probability {@code 1 / eosOneIn} when that is positive. */
    private static void fill(int[] sampled, SplittableRandom random, int eosOneIn) {
        for (int i = 0; i < sampled.length; i++) {
            sampled[i] = eosOneIn > 0 && random.nextInt(eosOneIn) == 0 ? EOS : 3 + random.nextInt(VOCAB - 3);
        }
    }

    private static void drain(Scheduler scheduler, List<KvEvent> events) {
        scheduler.kvCacheManager().pool().events().drainTo(events);
        events.clear();
    }

    private static void check(boolean ok, StepPlan plan) {
        if (!ok) {
            throw new IllegalStateException("unexpected plan: " + plan);
        }
    }

    private static void report(String name, long[] nanos) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        double mean = Arrays.stream(nanos).average().orElse(0);
        System.out.printf("%-6s schedule()+update() per step: mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us"
                + " (%d steps)%n", name, mean / 1e3, sorted[sorted.length / 2] / 1e3,
                sorted[(int) Math.ceil(sorted.length * 0.99) - 1] / 1e3, sorted[sorted.length - 1] / 1e3,
                sorted.length);
    }
}
