package io.llmcluster.cluster.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import io.llmcluster.kv.KvSnapshot;
import io.llmcluster.kv.KvSnapshotRequest;
import io.llmcluster.worker.actor.GpuWorker;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.JSerializer;

/**
 * The Pekko serializer binding of the cluster's cross-node messages: {@link KryoCodec} (its class id first, so no
 * manifest), plus the messages that carry actor references, each with a serializer that writes the reference in
 * Pekko's string format ({@link ActorRefResolver}). Bound in {@code reference.conf}
 * ({@code pekko.actor.serialization-bindings}); Java serialization is off.
 *
 * <p>Ids from {@link KryoCodec#FIRST_REF_ID}, fixed like the codec's: never renumber or reuse one.
 */
public final class KryoSerializer extends JSerializer {
    /** Pekko's id of this serializer (ours are above Pekko's reserved 0-40). */
    public static final int IDENTIFIER = 7_107;

    private final KryoCodec codec;

    public KryoSerializer(ExtendedActorSystem system) {
        ActorRefResolver resolver = ActorRefResolver.get(Adapter.toTyped(system));
        this.codec = new KryoCodec(kryo -> register(kryo, resolver));
    }

    /** The messages with actor references, in id order: never renumber or reuse an id; add at the end. */
    static final java.util.List<Class<? extends Record>> REF_MESSAGES = java.util.List.of(
            io.llmcluster.cluster.worker.Batcher.Submit.class,          // 201
            io.llmcluster.cluster.worker.Batcher.Withdraw.class,        // 202
            io.llmcluster.cluster.worker.Batcher.Drain.class,           // 203
            io.llmcluster.cluster.worker.Batcher.GetKvSnapshot.class,   // 204
            io.llmcluster.cluster.gateway.RequestSession.Admitted.class // 205
    );

    @SuppressWarnings({"rawtypes", "unchecked"})
    private static void register(Kryo kryo, ActorRefResolver resolver) {
        kryo.register(GpuWorker.GetKvSnapshot.class, new GetKvSnapshotSerializer(resolver), KryoCodec.FIRST_REF_ID);
        for (int i = 0; i < REF_MESSAGES.size(); i++) {
            Class type = REF_MESSAGES.get(i);
            kryo.register(type, new RecordWithRefsSerializer(type, resolver), KryoCodec.FIRST_REF_ID + 1 + i);
        }
    }

    @Override
    public int identifier() {
        return IDENTIFIER;
    }

    @Override
    public boolean includeManifest() {
        return false;
    }

    @Override
    public byte[] toBinary(Object o) {
        return codec.toBinary(o);
    }

    @Override
    public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
        return codec.fromBinary(bytes);
    }

    /** {@link GpuWorker.GetKvSnapshot}: the request, then the reply-to reference as a string. */
    private static final class GetKvSnapshotSerializer extends Serializer<GpuWorker.GetKvSnapshot> {
        private final ActorRefResolver resolver;

        GetKvSnapshotSerializer(ActorRefResolver resolver) {
            this.resolver = resolver;
            setImmutable(true);
        }

        @Override
        public void write(Kryo kryo, Output output, GpuWorker.GetKvSnapshot m) {
            kryo.writeObject(output, m.request());
            output.writeString(resolver.toSerializationFormat(m.replyTo()));
        }

        @Override
        public GpuWorker.GetKvSnapshot read(Kryo kryo, Input input, Class<? extends GpuWorker.GetKvSnapshot> type) {
            KvSnapshotRequest request = kryo.readObject(input, KvSnapshotRequest.class);
            ActorRef<KvSnapshot> replyTo = resolver.resolveActorRef(input.readString());
            return new GpuWorker.GetKvSnapshot(request, replyTo);
        }
    }
}
