package io.llmcluster.worker.backend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The last {@code capacity} backend steps, each as (end time, duration, tokens, sequences), for telling where an
 * inter-token latency tail comes from: {@link #byPrefillTokens} groups the steps of a time window by how much prompt
 * work rode along with the decodes. A step's "prefill tokens" are its tokens beyond one per sequence (a decode
 * contributes 0, a prompt chunk of n tokens n - 1), which needs no knowledge of which rows decode.
 * Thread-safe: the engine thread records, a reporting thread reads.
 */
public final class StepTimes {
    private final long[] endNs;
    private final long[] durationNs;
    private final int[] prefillTokens;
    private long recorded;

    /** One group of steps: those whose prefill tokens fall in [{@code fromTokens}, {@code toTokens}). */
    public record Group(int fromTokens, int toTokens, int steps, double meanMs, double p50Ms, double p99Ms, double maxMs) {
        /** "0", "1-63", "192+": the group's prefill tokens, for a report. */
        public String label() {
            if (toTokens == fromTokens + 1) {
                return String.valueOf(fromTokens);
            }
            return toTokens == Integer.MAX_VALUE ? fromTokens + "+" : fromTokens + "-" + (toTokens - 1);
        }
    }

    public StepTimes(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity " + capacity);
        }
        endNs = new long[capacity];
        durationNs = new long[capacity];
        prefillTokens = new int[capacity];
    }

    public synchronized void record(long stepEndNs, long stepDurationNs, int tokens, int sequences) {
        int i = (int) (recorded % endNs.length);
        endNs[i] = stepEndNs;
        durationNs[i] = stepDurationNs;
        prefillTokens[i] = Math.max(0, tokens - sequences);
        recorded++;
    }

    public synchronized void clear() {
        recorded = 0;
    }

    /**
     * The steps that ended in [{@code fromNs}, {@code toNs}), grouped by prefill tokens at the ascending
     * {@code bounds} (bounds {0+1, 64, 128} give the groups 0, 1-63, 64-127, 128+); empty groups are left out.
     * Percentiles are nearest-rank.
     */
    public synchronized List<Group> byPrefillTokens(long fromNs, long toNs, int... bounds) {
        int groups = bounds.length + 1;
        List<List<Long>> durations = new ArrayList<>();
        for (int g = 0; g < groups; g++) {
            durations.add(new ArrayList<>());
        }
        long kept = Math.min(recorded, endNs.length);
        for (long k = recorded - kept; k < recorded; k++) {
            int i = (int) (k % endNs.length);
            if (endNs[i] >= fromNs && endNs[i] < toNs) {
                durations.get(groupOf(prefillTokens[i], bounds)).add(durationNs[i]);
            }
        }
        List<Group> out = new ArrayList<>();
        for (int g = 0; g < groups; g++) {
            long[] d = durations.get(g).stream().mapToLong(Long::longValue).sorted().toArray();
            if (d.length > 0) {
                int from = g == 0 ? 0 : bounds[g - 1];
                int to = g == bounds.length ? Integer.MAX_VALUE : bounds[g];
                out.add(new Group(from, to, d.length, Arrays.stream(d).average().orElseThrow() / 1e6,
                        nearestRank(d, 0.50) / 1e6, nearestRank(d, 0.99) / 1e6, d[d.length - 1] / 1e6));
            }
        }
        return out;
    }

    private static int groupOf(int tokens, int[] bounds) {
        int g = 0;
        while (g < bounds.length && tokens >= bounds[g]) {
            g++;
        }
        return g;
    }

    private static long nearestRank(long[] sorted, double p) {
        int rank = (int) Math.ceil(p * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }
}
