package io.llmcluster.cluster.serialization;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.cluster.gateway.RequestSession;
import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.cluster.worker.Batcher;
import io.llmcluster.cluster.worker.StreamRelay;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.kv.KvEvent;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.kv.KvSnapshot;
import io.llmcluster.kv.KvSnapshotRequest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Every registered class survives a round trip; nothing unregistered is written; the ids are fixed. */
class KryoCodecTest {
  private final KryoCodec codec = new KryoCodec();

  private static final KvEvent.BlockStored STORED =
      new KvEvent.BlockStored(1234567890123L, 1, -42, new long[] {Long.MIN_VALUE, 0, Long.MAX_VALUE}, 16);
  private static final KvEvent.BlockRemoved REMOVED = new KvEvent.BlockRemoved(1234567890123L, 2, new long[] {7});
  private static final KvEvent.AllCleared CLEARED = new KvEvent.AllCleared(1234567890123L, 3);

  private static final TokenChunk CHUNK = new TokenChunk(1, 4242, " Paris", -0.25f, new int[] {4242, 7},
      new float[] {-0.25f, -3.5f}, null, 12, 1);
  private static final TokenChunk LAST = new TokenChunk(0, -1, "", Float.NaN, new int[0], new float[0],
      FinishReason.LENGTH, 12, 16);
  private static final SamplingParams PARAMS = SamplingParams.builder().temperature(0.7).topK(40).topP(0.9).minP(0.05)
      .repetitionPenalty(1.1).presencePenalty(-0.5).frequencyPenalty(1.5).seed(-12345L).maxTokens(64).minTokens(2)
      .stopTokenIds(2, 128009).stopStrings("\n\n", "é").ignoreEos(true).logprobs(5).build();
  private static final GpuWorker.SequenceSpec SPEC = new GpuWorker.SequenceSpec(new int[] {1, 2, 3, 128000}, PARAMS, -3);

  /** One sample per registered class. */
  private static Map<Class<?>, Object> samples() {
    Map<Class<?>, Object> s = new LinkedHashMap<>();
    s.put(long[].class, new long[] {1, -1, 1L << 40});
    s.put(KvEvent[].class, new KvEvent[] {STORED, REMOVED, CLEARED});
    s.put(KvEvent.BlockStored.class, STORED);
    s.put(KvEvent.BlockRemoved.class, REMOVED);
    s.put(KvEvent.AllCleared.class, CLEARED);
    s.put(KvEventBatch.class, new KvEventBatch("worker-é-1", new KvEvent[] {STORED, REMOVED, CLEARED}));
    s.put(KvSnapshotRequest.class, new KvSnapshotRequest("w1", 99, 1000));
    s.put(KvSnapshot.class, new KvSnapshot("w1", 99, 1000, new long[] {5, 6, 7}));
    s.put(WorkerLoad.class, new WorkerLoad("w1", 99, 3, 2, 4096, 120, 1000, 16, 512, 2345.5, 98.25, true));
    s.put(io.llmcluster.cluster.worker.WorkerReport.class, new io.llmcluster.cluster.worker.WorkerReport(
        new WorkerLoad("w1", 99, 3, 2, -1, 120, 1000, 16, 512, 2345.5, 98.25, false), "ready", 5, 256, 880, 0.625,
        4242, "cpu (2 threads)", 131072, 64, 2));
    s.put(int[].class, new int[] {0, -1, Integer.MAX_VALUE});
    s.put(float[].class, new float[] {0.5f, Float.NaN, -3e30f});
    s.put(FinishReason.class, FinishReason.STOP);
    s.put(TokenChunk.class, CHUNK);
    s.put(TokenChunk[].class, new TokenChunk[] {CHUNK, LAST});
    s.put(SamplingParams.class, PARAMS);
    s.put(GpuWorker.SequenceSpec.class, SPEC);
    s.put(GpuWorker.SequenceSpec[].class, new GpuWorker.SequenceSpec[] {SPEC,
        new GpuWorker.SequenceSpec(new int[] {9}, SamplingParams.defaults(), 0)});
    s.put(RequestSession.Reason.class, RequestSession.Reason.DRAINING);
    s.put(RequestSession.Refused.class, new RequestSession.Refused(3, RequestSession.Reason.QUEUE_FULL, "full", 2000));
    s.put(RequestSession.ChunkBatch.class, new RequestSession.ChunkBatch(2, 17, new TokenChunk[] {CHUNK, LAST}));
    s.put(StreamRelay.Ack.class, new StreamRelay.Ack(17));
    s.put(StreamRelay.Cancel.class, StreamRelay.Cancel.INSTANCE);
    s.put(Batcher.DrainStarted.class, new Batcher.DrainStarted("gpu-worker-1", 3, 1));
    return s;
  }

  @Test
  void shouldHaveASampleForEveryRegisteredClass() {
    assertEquals(new ArrayList<>(KryoCodec.REGISTRATIONS.keySet()), new ArrayList<>(samples().keySet()));
  }

  @Test
  void shouldRoundTripEveryRegisteredClass() {
    for (Map.Entry<Class<?>, Object> e : samples().entrySet()) {
      Object back = codec.fromBinary(codec.toBinary(e.getValue()));
      assertEquals(e.getKey(), back.getClass());
      DeepEquals.assertDeepEquals(e.getValue(), back, e.getKey().getName());
    }
  }

  @Test
  void shouldRoundTripSamplingParamsWithoutASeedOrStops() {
    SamplingParams plain = SamplingParams.greedy(3);
    assertEquals(plain, codec.fromBinary(codec.toBinary(plain)));
  }

  @Test
  void shouldKeepNaNAndEmptyArrays() {
    WorkerLoad unmeasured = new WorkerLoad("w", 0, 0, 0, -1, 0, 0, 16, 0, Double.NaN, 0, false);
    assertEquals(unmeasured, codec.fromBinary(codec.toBinary(unmeasured), WorkerLoad.class));
    KvEventBatch empty = new KvEventBatch("w", new KvEvent[0]);
    assertEquals(empty, codec.fromBinary(codec.toBinary(empty)));
  }

  @Test
  void shouldRefuseAnUnregisteredClass() {
    assertThrows(IllegalArgumentException.class, () -> codec.toBinary(List.of(1, 2)));
    assertThrows(IllegalArgumentException.class, () -> codec.toBinary(new java.util.Date()));
  }

  @Test
  void shouldNumberTheRegistrationsFromTheFirstIdWithoutHoles() {
    int id = KryoCodec.FIRST_ID;
    for (int registered : KryoCodec.REGISTRATIONS.values()) {
      assertEquals(id++, registered);
    }
    assertEquals(KryoCodec.FIRST_ID + 8, KryoCodec.newKryo().getRegistration(WorkerLoad.class).getId());
  }

  @Test
  void shouldWriteASmallLoadReport() {
    byte[] bytes = codec.toBinary(new WorkerLoad("w1", 99, 3, 2, 4096, 120, 1000, 16, 512, 2345.5, 98.25, false));
    assertEquals(true, bytes.length < 64, "a load report is " + bytes.length + " bytes");
  }

  @Test
  void shouldBeUsableFromManyThreadsAtOnce() throws InterruptedException {
    KvSnapshot snapshot = new KvSnapshot("w1", 1, 2, new long[] {3, 4});
    List<Thread> threads = new ArrayList<>();
    List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    for (int t = 0; t < 4; t++) {
      threads.add(Thread.ofPlatform().start(() -> {
        try {
          for (int i = 0; i < 500; i++) {
            assertEquals(snapshot, codec.fromBinary(codec.toBinary(snapshot)));
          }
        } catch (Throwable e) {
          failures.add(e);
        }
      }));
    }
    for (Thread t : threads) {
      t.join();
    }
    assertEquals(List.of(), failures);
  }
}
