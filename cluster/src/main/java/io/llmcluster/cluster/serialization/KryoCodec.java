package io.llmcluster.cluster.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.RecordSerializer;
import com.esotericsoftware.kryo.util.Pool;
import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.kv.KvEvent;
import io.llmcluster.kv.KvEventBatch;
import io.llmcluster.kv.KvSnapshot;
import io.llmcluster.kv.KvSnapshotRequest;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SequencedMap;

/**
 * Serializes the cluster's cross-node messages with Kryo: registration required (an unregistered class is an
 * error, never a class name on the wire), each class registered here and only here with a fixed id, records
 * through Kryo's {@link RecordSerializer}, no references (the messages are trees). Independent of Pekko: the
 * Pekko serializer binding (a {@code SerializerWithStringManifest} or plain {@code Serializer} whose
 * {@code toBinary}/{@code fromBinary} call this) comes with the actors.
 *
 * <p>The ids are the wire format between nodes of one cluster: never renumber or reuse one; add new classes at
 * the end with the next id. Thread-safe: Kryo instances and buffers are pooled.
 */
public final class KryoCodec {
  /** The first id of ours (Kryo's defaults for primitives and String sit below). */
  public static final int FIRST_ID = 100;

  /** Every registered class with its id, in id order: the one place that lists them. */
  public static final SequencedMap<Class<?>, Integer> REGISTRATIONS = registrations();

  /**
   * The first id of the messages that carry actor references, registered by the Pekko binding
   * ({@code KryoSerializer}) with serializers that write references as Pekko's string format; never below this.
   */
  public static final int FIRST_REF_ID = 200;

  private final java.util.function.Consumer<Kryo> extraRegistrations;
  private final Pool<Kryo> kryos = new Pool<>(true, false, 16) {
    @Override
    protected Kryo create() {
      Kryo kryo = newKryo();
      extraRegistrations.accept(kryo);
      return kryo;
    }
  };

  /** A codec of {@link #REGISTRATIONS}. */
  public KryoCodec() {
    this(kryo -> {});
  }

  /** A codec of {@link #REGISTRATIONS} plus what {@code extraRegistrations} registers (ids from {@link #FIRST_REF_ID}). */
  public KryoCodec(java.util.function.Consumer<Kryo> extraRegistrations) {
    this.extraRegistrations = extraRegistrations;
  }
  private final Pool<Output> outputs = new Pool<>(true, false, 16) {
    @Override
    protected Output create() {
      return new Output(1024, -1);
    }
  };

  private static SequencedMap<Class<?>, Integer> registrations() {
    Class<?>[] classes = {
        long[].class,
        KvEvent[].class,
        KvEvent.BlockStored.class,
        KvEvent.BlockRemoved.class,
        KvEvent.AllCleared.class,
        KvEventBatch.class,
        KvSnapshotRequest.class,
        KvSnapshot.class,
        WorkerLoad.class,
        io.llmcluster.cluster.worker.WorkerReport.class,
        // the request path (issue #7): what a submission and its token stream carry
        int[].class,
        float[].class,
        io.llmcluster.batcher.FinishReason.class,
        io.llmcluster.worker.engine.TokenChunk.class,
        io.llmcluster.worker.engine.TokenChunk[].class,
        io.llmcluster.batcher.SamplingParams.class,
        io.llmcluster.worker.actor.GpuWorker.SequenceSpec.class,
        io.llmcluster.worker.actor.GpuWorker.SequenceSpec[].class,
        io.llmcluster.cluster.gateway.RequestSession.Reason.class,
        io.llmcluster.cluster.gateway.RequestSession.Refused.class,
        io.llmcluster.cluster.gateway.RequestSession.ChunkBatch.class,
        io.llmcluster.cluster.worker.StreamRelay.Ack.class,
        io.llmcluster.cluster.worker.StreamRelay.Cancel.class,
        io.llmcluster.cluster.worker.Batcher.DrainStarted.class,
    };
    SequencedMap<Class<?>, Integer> ids = new LinkedHashMap<>();
    for (int i = 0; i < classes.length; i++) {
      ids.put(classes[i], FIRST_ID + i);
    }
    return java.util.Collections.unmodifiableSequencedMap(ids);
  }

  /** A Kryo set up with {@link #REGISTRATIONS} (not thread-safe: one per thread, or use the codec's pool). */
  @SuppressWarnings({"rawtypes", "unchecked"})
  public static Kryo newKryo() {
    Kryo kryo = new Kryo();
    kryo.setRegistrationRequired(true);
    kryo.setReferences(false);
    for (Map.Entry<Class<?>, Integer> e : REGISTRATIONS.entrySet()) {
      Class<?> type = e.getKey();
      if (type == io.llmcluster.batcher.SamplingParams.class) {
        kryo.register(type, new SamplingParamsSerializer(), e.getValue());
      } else if (type.isRecord()) {
        kryo.register(type, new RecordSerializer(type), e.getValue());
      } else {
        kryo.register(type, e.getValue());
      }
    }
    return kryo;
  }

  /** The bytes of {@code message}, its class id first. */
  public byte[] toBinary(Object message) {
    Kryo kryo = kryos.obtain();
    Output output = outputs.obtain();
    try {
      output.reset();
      kryo.writeClassAndObject(output, message);
      return output.toBytes();
    } finally {
      outputs.free(output);
      kryos.free(kryo);
    }
  }

  /** The message in {@code bytes}, as written by {@link #toBinary}. */
  public Object fromBinary(byte[] bytes) {
    Kryo kryo = kryos.obtain();
    try {
      return kryo.readClassAndObject(new Input(bytes));
    } finally {
      kryos.free(kryo);
    }
  }

  /** {@link #fromBinary} checked against the expected type. */
  public <T> T fromBinary(byte[] bytes, Class<T> type) {
    return type.cast(fromBinary(bytes));
  }
}
