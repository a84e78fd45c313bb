package io.llmcluster.kv;

import java.util.ArrayDeque;
import java.util.List;

/**
 * The bounded FIFO between a {@link BlockPool}, which offers its {@link KvEvent}s in sequence order, and the
 * publisher that drains them (on the engine thread, after each step). Single-threaded like the pool.
 *
 * <p>When full, a new event is dropped and counted rather than growing without bound: the consumer sees the
 * missing sequence number as a gap and resynchronizes; the engine never stalls on a slow publisher.
 */
public final class KvEventQueue {
  /** The capacity a pool uses unless told otherwise. */
  public static final int DEFAULT_CAPACITY = 1 << 16;

  private final int capacity;
  private final ArrayDeque<KvEvent> events;
  private long droppedCount;

  public KvEventQueue(int capacity) {
    if (capacity <= 0) {
      throw new IllegalArgumentException("capacity must be positive: " + capacity);
    }
    this.capacity = capacity;
    this.events = new ArrayDeque<>(Math.min(capacity, 1024));
  }

  /** Queues {@code event}; returns false (and counts a drop) when the queue is full. */
  boolean offer(KvEvent event) {
    if (events.size() >= capacity) {
      droppedCount++;
      return false;
    }
    events.addLast(event);
    return true;
  }

  /** Moves every queued event, oldest first, to {@code sink}; returns how many. */
  public int drainTo(List<? super KvEvent> sink) {
    int count = events.size();
    for (KvEvent event; (event = events.pollFirst()) != null; ) {
      sink.add(event);
    }
    return count;
  }

  public int size() {
    return events.size();
  }

  public boolean isEmpty() {
    return events.isEmpty();
  }

  public int capacity() {
    return capacity;
  }

  /** Events lost because the queue was full, since construction. */
  public long droppedCount() {
    return droppedCount;
  }
}
