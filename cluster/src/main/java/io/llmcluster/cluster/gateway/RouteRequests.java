package io.llmcluster.cluster.gateway;

import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.kv.BlockHasher;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;

/**
 * What the router is asked for one HTTP request: the first prompt's chain of full-block hashes (every sequence of
 * a request shares the worker, and most share that prompt: its {@code n} choices), that prompt's length, and as
 * {@code maxTokens} the rest of the request's predicted footprint: {@code sum(prompt_i + max_tokens_i)} less the
 * first prompt, capped so that prompt plus it fits one context ({@code maxModelLen}). The cap keeps the router's
 * footprint within any worker's pool (a context never exceeds its pool), so a large {@code n} is never rejected
 * for size; the worker's batcher counts the exact footprint and runs such a request alone.
 */
public final class RouteRequests {
    private RouteRequests() {}

    public static RouteRequest of(SequenceSpec[] sequences, int maxModelLen, BlockHasher hasher) {
        if (sequences.length == 0) {
            throw new IllegalArgumentException("a request without sequences");
        }
        int[] first = sequences[0].promptTokenIds();
        long total = 0;
        for (SequenceSpec s : sequences) {
            total += s.promptTokenIds().length + (long) s.params().maxTokens();
        }
        long rest = Math.min(total - first.length, (long) maxModelLen - first.length);
        return RouteRequest.of(hasher.hashFullBlocks(first), hasher.blockSizeTokens(), first.length,
                (int) Math.max(0, rest));
    }
}
