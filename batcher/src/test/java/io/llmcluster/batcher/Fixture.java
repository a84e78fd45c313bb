package io.llmcluster.batcher;

import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.BlockPool;
import io.llmcluster.kv.HashExtra;
import io.llmcluster.kv.KvCacheManager;
import java.util.Arrays;

/** A scheduler over a tiny pool (blocks of four tokens), and helpers that run steps and print plans. */
final class Fixture {
    static final int BLOCK = 4;
    static final int EOS = 2;

    final BlockPool pool;
    final KvCacheManager kv;
    final Scheduler scheduler;
    StepPlan lastPlan;
    StepResult lastResult;

    Fixture(int numBlocks, SchedulerConfig config) {
        pool = new BlockPool(numBlocks, BLOCK, 1);
        kv = new KvCacheManager(pool, new BlockHasher(HashExtra.base("tiny", "f32"), BLOCK));
        scheduler = new Scheduler(config, kv);
    }

    static SchedulerConfig config(int budget, int maxSeqs, int maxModelLen, boolean caching, SchedulingPolicy policy) {
        return new SchedulerConfig(budget, maxSeqs, maxModelLen, caching, policy, new int[] {EOS});
    }

    /** A prompt of {@code length} tokens {@code 100 * id + i}: distinct per request, never EOS. */
    static int[] prompt(long id, int length) {
        int[] tokens = new int[length];
        for (int i = 0; i < length; i++) {
            tokens[i] = (int) (100 * id + i);
        }
        return tokens;
    }

    static Request request(long id, int promptLength, int maxTokens) {
        return new Request(id, prompt(id, promptLength), greedy(maxTokens));
    }

    static Request request(long id, int promptLength, int maxTokens, int priority) {
        return new Request(id, prompt(id, promptLength), greedy(maxTokens), priority, 0L);
    }

    static SamplingParams greedy(int maxTokens) {
        return SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
    }

    Request add(Request request) {
        scheduler.add(request);
        return request;
    }

    /** Schedules a step, updates it with every sampled token = {@code token}, returns the plan as text. */
    String step(int token) {
        String planText = schedule();
        int[] sampled = new int[Math.max(1, lastPlan.numEntries())];
        Arrays.fill(sampled, token);
        lastResult = scheduler.update(lastPlan, sampled);
        return planText;
    }

    /** Schedules a step and returns the plan as text, without updating. */
    String schedule() {
        lastPlan = scheduler.schedule();
        return describe(lastPlan);
    }

    /** Entries as {@code id@start+new}, with {@code *} when the entry samples; then preempted ids, if any. */
    static String describe(StepPlan plan) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < plan.numEntries(); i++) {
            sb.append(i == 0 ? "" : " ").append(plan.requestId(i)).append('@').append(plan.startPosition(i))
                    .append('+').append(plan.numNewTokens(i)).append(plan.sampleAfter(i) ? "*" : "");
        }
        if (plan.numPreempted() > 0) {
            sb.append(" preempted=");
            for (int i = 0; i < plan.numPreempted(); i++) {
                sb.append(i == 0 ? "" : ",").append(plan.preemptedId(i));
            }
        }
        return sb.toString();
    }

    int[] blocksOf(long requestId) {
        return kv.blocks(requestId).toArray();
    }
}
