package io.llmcluster.cluster.worker;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * The {@link Batcher}'s admission policy, plain single-threaded Java: a request is admitted when its predicted KV
 * footprint fits in the blocks not yet reserved by the requests in flight and its sequences fit under the
 * in-flight limit; otherwise it waits in a bounded queue ordered by priority (lower value first), then arrival.
 *
 * <p>The footprint is {@code sum over its sequences of ceil((prompt + max_tokens) / blockSize)} blocks, capped at
 * the whole pool: what the request holds if every sequence runs to {@code max_tokens} with no prefix shared, so
 * the requests admitted together never need more than the pool and the engine never preempts them (cached prefix
 * blocks are free to evict, so the pool's total is what can be reserved). A request larger than the pool runs
 * alone. The queue admits in order only: a head that does not fit blocks those behind it, so a large request is
 * not starved by a stream of small ones.
 *
 * @param <K> what identifies a request (the actor uses the requester's reference)
 */
public final class AdmissionQueue<K> {
    /** What {@link #offer} did with a request. */
    public enum Outcome { ADMITTED, QUEUED, QUEUE_FULL, DRAINING, NOT_READY }

    /** A request: its footprint is -1 until the pool is known. */
    private static final class Entry<K> {
        final K key;
        final int[] tokensPerSequence;
        final int sequences;
        final int priority;
        final long arrival;
        int footprintBlocks = -1;

        Entry(K key, int[] tokensPerSequence, int priority, long arrival) {
            this.key = key;
            this.tokensPerSequence = tokensPerSequence.clone();
            this.sequences = tokensPerSequence.length;
            this.priority = priority;
            this.arrival = arrival;
        }
    }

    private final int maxQueued;
    private final int maxInFlightSequences;
    private final PriorityQueue<Entry<K>> queue = new PriorityQueue<>((a, b) -> a.priority != b.priority
            ? Integer.compare(a.priority, b.priority) : Long.compare(a.arrival, b.arrival));
    private final Map<K, Entry<K>> queued = new HashMap<>();
    private final Map<K, Entry<K>> inFlight = new HashMap<>();
    private int totalBlocks = -1;
    private int blockSizeTokens;
    private int reservedBlocks;
    private int sequencesInFlight;
    private long arrivals;
    private boolean draining;

    /**
     * @param maxQueued            requests that may wait (0: a request that does not fit now is refused)
     * @param maxInFlightSequences sequences admitted at once (the worker's {@code max-in-flight})
     */
    public AdmissionQueue(int maxQueued, int maxInFlightSequences) {
        if (maxQueued < 0 || maxInFlightSequences < 1) {
            throw new IllegalArgumentException("maxQueued >= 0 and maxInFlightSequences >= 1 required");
        }
        this.maxQueued = maxQueued;
        this.maxInFlightSequences = maxInFlightSequences;
    }

    /**
     * The engine's pool is known (its first load after starting): requests can be admitted from now on.
     *
     * @return the requests admitted now (queued while the pool was unknown)
     */
    public List<K> configure(int totalBlocks, int blockSizeTokens) {
        if (totalBlocks < 1 || blockSizeTokens < 1) {
            throw new IllegalArgumentException("a pool of at least one block of at least one token required");
        }
        this.totalBlocks = totalBlocks;
        this.blockSizeTokens = blockSizeTokens;
        for (Entry<K> e : queued.values()) {
            e.footprintBlocks = footprintBlocks(e.tokensPerSequence);
        }
        return admitQueued();
    }

    public boolean isConfigured() {
        return totalBlocks > 0;
    }

    /** Blocks a request of these sequence lengths (prompt + max_tokens each) reserves, capped at the pool. */
    public int footprintBlocks(int[] tokensPerSequence) {
        long blocks = 0;
        for (int t : tokensPerSequence) {
            blocks += (t + (long) blockSizeTokens - 1) / blockSizeTokens;
        }
        return (int) Math.min(blocks, totalBlocks);
    }

    /**
     * A request arrives. Before {@link #configure} it waits (counted against the queue bound); while draining it
     * is refused.
     *
     * @param tokensPerSequence prompt + max_tokens of each of its sequences
     */
    public Outcome offer(K key, int[] tokensPerSequence, int priority) {
        if (draining) {
            return Outcome.DRAINING;
        }
        if (queued.containsKey(key) || inFlight.containsKey(key)) {
            throw new IllegalArgumentException("request offered twice: " + key);
        }
        if (tokensPerSequence.length > maxInFlightSequences) {
            return Outcome.QUEUE_FULL; // could never be admitted
        }
        Entry<K> e = new Entry<>(key, tokensPerSequence, priority, arrivals++);
        if (!isConfigured()) {
            if (queued.size() >= maxQueued) {
                return Outcome.NOT_READY;
            }
            enqueue(e);
            return Outcome.QUEUED;
        }
        e.footprintBlocks = footprintBlocks(tokensPerSequence);
        if (queue.isEmpty() && fits(e)) {
            admit(e);
            return Outcome.ADMITTED;
        }
        if (queued.size() >= maxQueued) {
            return Outcome.QUEUE_FULL;
        }
        enqueue(e);
        return Outcome.QUEUED;
    }

    /**
     * A request in flight ended (its KV blocks are free again), or a queued one was withdrawn.
     *
     * @return the queued requests admitted now, in admission order
     */
    public List<K> release(K key) {
        Entry<K> e = inFlight.remove(key);
        if (e != null) {
            reservedBlocks -= e.footprintBlocks;
            sequencesInFlight -= e.sequences;
            return admitQueued();
        }
        Entry<K> q = queued.remove(key);
        if (q != null) {
            queue.remove(q);
            return admitQueued(); // the head may have changed
        }
        return List.of();
    }

    /** Stops admitting: later offers are refused, and the queued requests are handed back (refuse them). */
    public List<K> startDraining() {
        draining = true;
        List<K> out = new ArrayList<>(queued.keySet());
        queue.clear();
        queued.clear();
        return out;
    }

    public boolean isDraining() {
        return draining;
    }

    /** Draining and nothing in flight. */
    public boolean isDrained() {
        return draining && inFlight.isEmpty();
    }

    /**
     * Blocks a new request could have reserved now: 0 while requests wait (a new one would queue behind them) or
     * the in-flight limit is reached, else the pool less the reservations.
     */
    public int admittableBlocks() {
        if (!isConfigured() || !queue.isEmpty() || sequencesInFlight >= maxInFlightSequences) {
            return 0;
        }
        return totalBlocks - reservedBlocks;
    }

    public int reservedBlocks() {
        return reservedBlocks;
    }

    public int requestsInFlight() {
        return inFlight.size();
    }

    public int sequencesInFlight() {
        return sequencesInFlight;
    }

    public int requestsQueued() {
        return queued.size();
    }

    /** Sequences of the queued requests. */
    public int sequencesQueued() {
        int n = 0;
        for (Entry<K> e : queued.values()) {
            n += e.sequences;
        }
        return n;
    }

    public boolean isInFlight(K key) {
        return inFlight.containsKey(key);
    }

    public boolean isQueued(K key) {
        return queued.containsKey(key);
    }

    private boolean fits(Entry<K> e) {
        boolean blocksFit = inFlight.isEmpty() || reservedBlocks + e.footprintBlocks <= totalBlocks;
        return blocksFit && sequencesInFlight + e.sequences <= maxInFlightSequences;
    }

    private void enqueue(Entry<K> e) {
        queue.add(e);
        queued.put(e.key, e);
    }

    private void admit(Entry<K> e) {
        inFlight.put(e.key, e);
        reservedBlocks += e.footprintBlocks;
        sequencesInFlight += e.sequences;
    }

    private List<K> admitQueued() {
        if (!isConfigured() || queue.isEmpty()) {
            return List.of();
        }
        List<K> admitted = new ArrayList<>();
        while (!queue.isEmpty() && fits(queue.peek())) {
            Entry<K> e = queue.poll();
            queued.remove(e.key);
            admit(e);
            admitted.add(e.key);
        }
        return admitted;
    }
}
