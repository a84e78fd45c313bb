package io.llmcluster.cluster.serialization;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.cluster.worker.WorkerReport;
import io.llmcluster.kv.KvEvent;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.kv.KvSnapshot;
import io.llmcluster.kv.KvSnapshotRequest;
import io.llmcluster.worker.actor.GpuWorker;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The bindings of reference.conf through Pekko's own serialization: every bound class goes to
 * {@link KryoSerializer} and comes back equal; references survive; Java serialization is off.
 */
class KryoSerializerTest {
  private static final ActorTestKit KIT = ActorTestKit.create("kryo-binding");
  private static final Serialization SERIALIZATION = SerializationExtension.get(Adapter.toClassic(KIT.system()));

  @AfterAll
  static void stop() {
    KIT.shutdownTestKit();
  }

  private static Object roundTrip(Object message) {
    Serializer s = SERIALIZATION.findSerializerFor(message);
    assertInstanceOf(KryoSerializer.class, s, message.getClass().getName());
    byte[] bytes = SERIALIZATION.serialize(message).get();
    return SERIALIZATION.deserialize(bytes, s.identifier(), "").get();
  }

  @Test
  void shouldRoundTripEveryBoundMessageThroughPekkoSerialization() {
    KvEvent.BlockStored stored = new KvEvent.BlockStored(77, 1, 5, new long[] {1, 2, 3}, 16);
    WorkerLoad load = new WorkerLoad("w1", 77, 2, 1, -1, 100, 400, 16, 512, 3000.5, 120.25, false);
    List<Object> messages = List.of(
        new KvEventBatch("w1", new KvEvent[] {stored, new KvEvent.BlockRemoved(77, 2, new long[] {3}),
            new KvEvent.AllCleared(77, 3)}),
        new KvSnapshotRequest("w1", 77, 3),
        new KvSnapshot("w1", 77, 3, new long[] {9, 8}),
        load,
        new WorkerReport(load, "ready", 3, 256, 300, 0.5, 1234, "cpu"));
    for (Object m : messages) {
      assertEquals(m, roundTrip(m), m.getClass().getName());
    }
  }

  @Test
  void shouldCarryTheReplyToReferenceOfASnapshotRequest() {
    TestProbe<KvSnapshot> probe = KIT.createTestProbe();
    GpuWorker.GetKvSnapshot sent = new GpuWorker.GetKvSnapshot(new KvSnapshotRequest("w2", 5, 6), probe.getRef());
    GpuWorker.GetKvSnapshot back = (GpuWorker.GetKvSnapshot) roundTrip(sent);
    assertEquals(sent.request(), back.request());
    KvSnapshot snapshot = new KvSnapshot("w2", 5, 6, new long[] {42});
    back.replyTo().tell(snapshot);
    assertArrayEquals(new long[] {42}, probe.receiveMessage().blockHashes());
  }

  @Test
  void shouldRefuseJavaSerialization() {
    assertThrows(Exception.class, () -> SERIALIZATION.serialize(new java.util.ArrayList<>(List.of("x"))).get());
  }
}
