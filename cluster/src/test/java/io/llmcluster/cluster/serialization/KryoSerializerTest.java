package io.llmcluster.cluster.serialization;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.cluster.gateway.RequestSession;
import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.cluster.worker.Batcher;
import io.llmcluster.cluster.worker.StreamRelay;
import io.llmcluster.worker.engine.TokenChunk;
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
        new WorkerReport(load, "ready", 3, 256, 300, 0.5, 1234, "cpu", 2048, 40, 1));
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
  void shouldRoundTripTheRequestPathMessagesWithWorkingReferences() {
    TestProbe<RequestSession.Command> session = KIT.createTestProbe();
    TestProbe<StreamRelay.Command> relay = KIT.createTestProbe();
    TestProbe<Batcher.DrainStarted> drained = KIT.createTestProbe();
    TestProbe<KvSnapshot> snapshots = KIT.createTestProbe();
    SamplingParams params = SamplingParams.builder().temperature(0.5).seed(7).maxTokens(9).stopStrings("x").build();
    GpuWorker.SequenceSpec spec = new GpuWorker.SequenceSpec(new int[] {5, 6, 7}, params, 1);
    TokenChunk chunk = new TokenChunk(0, 6, "six", -0.5f, new int[0], new float[0], FinishReason.STOP, 3, 1);
    Batcher.Submit submit = new Batcher.Submit(2, new GpuWorker.SequenceSpec[] {spec, spec}, 60_000, session.getRef());
    Batcher.Drain drain = new Batcher.Drain(drained.getRef());
    Batcher.GetKvSnapshot snapshot = new Batcher.GetKvSnapshot(new KvSnapshotRequest("w", 1, 2), snapshots.getRef());
    RequestSession.Admitted admitted = new RequestSession.Admitted(2, relay.getRef(), "gpu-worker-1");
    List<Object> messages = List.of(submit, new Batcher.Withdraw(2, session.getRef()), drain,
        new Batcher.DrainStarted("gpu-worker-1", 4, 1), snapshot, admitted,
        new RequestSession.Refused(2, RequestSession.Reason.DRAINING, "draining", 1000),
        new RequestSession.ChunkBatch(2, 5, new TokenChunk[] {chunk}), new StreamRelay.Ack(5),
        StreamRelay.Cancel.INSTANCE);
    for (Object m : messages) {
      DeepEquals.assertDeepEquals(m, roundTrip(m), m.getClass().getName());
    }
    ((Batcher.Submit) roundTrip(submit)).session().tell(RequestSession.Cancel.INSTANCE);
    assertEquals(RequestSession.Cancel.INSTANCE, session.receiveMessage());
    ((RequestSession.Admitted) roundTrip(admitted)).relay().tell(new StreamRelay.Ack(9));
    assertEquals(new StreamRelay.Ack(9), relay.receiveMessage());
    ((Batcher.Drain) roundTrip(drain)).replyTo().tell(new Batcher.DrainStarted("w", 0, 0));
    assertEquals(new Batcher.DrainStarted("w", 0, 0), drained.receiveMessage());
    ((Batcher.GetKvSnapshot) roundTrip(snapshot)).replyTo().tell(new KvSnapshot("w", 1, 2, new long[] {3}));
    assertArrayEquals(new long[] {3}, snapshots.receiveMessage().blockHashes());
  }

  @Test
  void shouldRegisterEveryCrossNodeMessage() {
    int seen = 0;
    for (Class<?> outer : List.of(Batcher.class, RequestSession.class, StreamRelay.class)) {
      for (Class<?> c : outer.getDeclaredClasses()) {
        if (CrossNode.class.isAssignableFrom(c)) {
          seen++;
          assertTrue(KryoCodec.REGISTRATIONS.containsKey(c) || KryoSerializer.REF_MESSAGES.contains(c),
              c.getName() + " crosses nodes but is not registered");
        }
      }
    }
    assertEquals(10, seen);
  }

  @Test
  void shouldRefuseJavaSerialization() {
    assertThrows(Exception.class, () -> SERIALIZATION.serialize(new java.util.ArrayList<>(List.of("x"))).get());
  }
}
