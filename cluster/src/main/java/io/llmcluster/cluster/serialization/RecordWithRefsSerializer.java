package io.llmcluster.cluster.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.lang.reflect.Constructor;
import java.lang.reflect.RecordComponent;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;

/**
 * A record that carries actor references: each {@link ActorRef} component in Pekko's string format (resolved on
 * the receiving node by {@link ActorRefResolver}), every other component as Kryo writes it (its registered class id
 * first, so those classes must be registered too). Components are written in declaration order.
 */
final class RecordWithRefsSerializer<T extends Record> extends Serializer<T> {
    private final ActorRefResolver resolver;
    private final RecordComponent[] components;
    private final Constructor<T> constructor;

    RecordWithRefsSerializer(Class<T> type, ActorRefResolver resolver) {
        this.resolver = resolver;
        this.components = type.getRecordComponents();
        Class<?>[] types = new Class<?>[components.length];
        for (int i = 0; i < components.length; i++) {
            types[i] = components[i].getType();
            components[i].getAccessor().setAccessible(true);
        }
        try {
            this.constructor = type.getDeclaredConstructor(types);
            constructor.setAccessible(true);
        } catch (NoSuchMethodException e) {
            throw new IllegalArgumentException("no canonical constructor in " + type, e);
        }
        setImmutable(true);
    }

    @Override
    public void write(Kryo kryo, Output out, T record) {
        for (RecordComponent c : components) {
            Object value;
            try {
                value = c.getAccessor().invoke(record);
            } catch (ReflectiveOperationException e) {
                throw new KryoException("cannot read " + c.getName() + " of " + record.getClass().getName(), e);
            }
            if (ActorRef.class.isAssignableFrom(c.getType())) {
                out.writeString(value == null ? null : resolver.toSerializationFormat((ActorRef<?>) value));
            } else {
                kryo.writeClassAndObject(out, value);
            }
        }
    }

    @Override
    public T read(Kryo kryo, Input in, Class<? extends T> type) {
        Object[] args = new Object[components.length];
        for (int i = 0; i < components.length; i++) {
            if (ActorRef.class.isAssignableFrom(components[i].getType())) {
                String ref = in.readString();
                args[i] = ref == null ? null : resolver.resolveActorRef(ref);
            } else {
                args[i] = kryo.readClassAndObject(in);
            }
        }
        try {
            return constructor.newInstance(args);
        } catch (ReflectiveOperationException e) {
            throw new KryoException("cannot build " + type.getName(), e);
        }
    }
}
