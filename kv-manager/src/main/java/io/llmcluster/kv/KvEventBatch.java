package io.llmcluster.kv;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * What a worker publishes to the cluster's KV directories after a step: its id and the events its pool emitted,
 * in sequence order. The publisher drains {@link BlockPool#events()} into one batch per step.
 *
 * @param workerId the publishing worker (the directory's key; stable for the worker's life in the cluster)
 * @param events   in sequence order; owned by the batch, nobody changes the array after it is made
 */
public record KvEventBatch(String workerId, KvEvent[] events) {
  public KvEventBatch {
    Objects.requireNonNull(workerId, "workerId");
    Objects.requireNonNull(events, "events");
  }

  /** A batch over a copy of {@code events}. */
  public static KvEventBatch of(String workerId, List<? extends KvEvent> events) {
    return new KvEventBatch(workerId, events.toArray(new KvEvent[0]));
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof KvEventBatch b && workerId.equals(b.workerId) && Arrays.equals(events, b.events);
  }

  @Override
  public int hashCode() {
    return workerId.hashCode() * 31 + Arrays.hashCode(events);
  }

  @Override
  public String toString() {
    return "KvEventBatch[worker=" + workerId + ", events=" + Arrays.toString(events) + "]";
  }
}
