package io.llmcluster.cluster.serialization;

/**
 * Marks a message that travels between nodes: {@code reference.conf} binds this interface to the Kryo serializer
 * ({@link KryoSerializer}), and each such class is registered in {@link KryoCodec} (or, when it carries actor
 * references, in {@link KryoSerializer}) with a fixed id. A class that implements it without a registration fails
 * to serialize (and {@code KryoSerializerTest} fails).
 */
public interface CrossNode {}
