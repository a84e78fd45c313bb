package io.llmcluster.cluster.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.HashExtra;
import io.llmcluster.worker.actor.GpuWorker.SequenceSpec;
import org.junit.jupiter.api.Test;

class RouteRequestsTest {
    private final BlockHasher hasher = new BlockHasher(HashExtra.base("m", "fp32"), 4);

    private static SequenceSpec spec(int promptTokens, int maxTokens) {
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < promptTokens; i++) {
            prompt[i] = 10 + i;
        }
        return new SequenceSpec(prompt, SamplingParams.greedy(maxTokens), 0);
    }

    @Test
    void shouldHashTheFirstPromptsFullBlocksAndCountTheRestOfTheFootprintAsMaxTokens() {
        SequenceSpec a = spec(10, 6);
        RouteRequest r = RouteRequests.of(new SequenceSpec[] {a, spec(10, 6), spec(3, 5)}, 256, hasher);
        assertArrayEquals(hasher.hashFullBlocks(a.promptTokenIds()), r.blockHashes());
        assertEquals(2, r.numBlocks());
        assertEquals(4, r.blockSizeTokens());
        assertEquals(10, r.promptTokens());
        assertEquals(6 + 16 + 8, r.maxTokens()); // (10 + 6) + (10 + 6) + (3 + 5) - 10
    }

    @Test
    void shouldCapTheFootprintAtOneContext() {
        RouteRequest r = RouteRequests.of(new SequenceSpec[] {spec(10, 60), spec(10, 60)}, 64, hasher);
        assertEquals(54, r.maxTokens()); // 64 - 10, not 70 + 60
    }
}
