package io.llmcluster.worker.sample;

import io.llmcluster.batcher.SamplingParams;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * The host Sampler's exact filtered, renormalized distribution for one logits row (token id to probability), for
 * tests outside this package: the oracle of the GPU sampler's tests.
 */
public final class KeptDistribution {
    private KeptDistribution() {}

    public static TreeMap<Integer, Double> of(float[] logits, SamplingParams params) {
        Sampler s = new Sampler(logits.length);
        MemorySegment row = Arena.ofAuto().allocate(ValueLayout.JAVA_FLOAT, logits.length);
        MemorySegment.copy(logits, 0, row, ValueLayout.JAVA_FLOAT, 0, logits.length);
        s.sample(row, 0, params, new TokenHistory(), new SplittableRandom(1));
        TreeMap<Integer, Double> m = new TreeMap<>();
        for (int i = 0; i < s.keptCount(); i++) {
            m.merge(s.keptToken(i), s.keptProbability(i), Double::sum);
        }
        return m;
    }
}
