package io.llmcluster.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class KvEventQueueTest {
  @Test
  void shouldDrainEventsOldestFirstAndBeEmptyAfterwards() {
    KvEventQueue queue = new KvEventQueue(4);
    queue.offer(new KvEvent.AllCleared(1, 1));
    queue.offer(new KvEvent.BlockRemoved(1, 2, new long[] {5}));
    List<KvEvent> sink = new ArrayList<>();
    assertEquals(2, queue.drainTo(sink));
    assertEquals(List.of(new KvEvent.AllCleared(1, 1), new KvEvent.BlockRemoved(1, 2, new long[] {5})), sink);
    assertTrue(queue.isEmpty());
  }

  @Test
  void shouldDropAndCountNewEventsWhenFullSoTheConsumerSeesAGap() {
    KvEventQueue queue = new KvEventQueue(2);
    assertTrue(queue.offer(new KvEvent.AllCleared(1, 1)));
    assertTrue(queue.offer(new KvEvent.AllCleared(1, 2)));
    assertFalse(queue.offer(new KvEvent.AllCleared(1, 3)));
    assertEquals(1, queue.droppedCount());
    List<KvEvent> sink = new ArrayList<>();
    queue.drainTo(sink);
    assertTrue(queue.offer(new KvEvent.AllCleared(1, 4)));
    queue.drainTo(sink);
    KvEventReplayer replayer = new KvEventReplayer();
    replayer.applyAll(sink);
    assertEquals(1, replayer.gapCount());
  }
}
