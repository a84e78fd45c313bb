package io.llmcluster.cluster.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import io.llmcluster.batcher.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * {@link SamplingParams} field by field: its {@code OptionalLong} seed and its lists (immutable JDK lists, whose
 * classes Kryo would have to name) are written as plain values; the constructor validates again on reading.
 */
final class SamplingParamsSerializer extends Serializer<SamplingParams> {
    SamplingParamsSerializer() {
        setImmutable(true);
    }

    @Override
    public void write(Kryo kryo, Output out, SamplingParams p) {
        out.writeDouble(p.temperature());
        out.writeInt(p.topK());
        out.writeDouble(p.topP());
        out.writeDouble(p.minP());
        out.writeDouble(p.repetitionPenalty());
        out.writeDouble(p.presencePenalty());
        out.writeDouble(p.frequencyPenalty());
        out.writeBoolean(p.seed().isPresent());
        out.writeLong(p.seed().orElse(0));
        out.writeInt(p.maxTokens());
        out.writeInt(p.minTokens());
        out.writeInt(p.stopTokenIds().size(), true);
        for (int id : p.stopTokenIds()) {
            out.writeInt(id);
        }
        out.writeInt(p.stopStrings().size(), true);
        for (String s : p.stopStrings()) {
            out.writeString(s);
        }
        out.writeBoolean(p.ignoreEos());
        out.writeInt(p.logprobs());
    }

    @Override
    public SamplingParams read(Kryo kryo, Input in, Class<? extends SamplingParams> type) {
        double temperature = in.readDouble();
        int topK = in.readInt();
        double topP = in.readDouble();
        double minP = in.readDouble();
        double repetition = in.readDouble();
        double presence = in.readDouble();
        double frequency = in.readDouble();
        boolean hasSeed = in.readBoolean();
        long seed = in.readLong();
        int maxTokens = in.readInt();
        int minTokens = in.readInt();
        int ids = in.readInt(true);
        List<Integer> stopIds = new ArrayList<>(ids);
        for (int i = 0; i < ids; i++) {
            stopIds.add(in.readInt());
        }
        int strings = in.readInt(true);
        List<String> stops = new ArrayList<>(strings);
        for (int i = 0; i < strings; i++) {
            stops.add(in.readString());
        }
        boolean ignoreEos = in.readBoolean();
        int logprobs = in.readInt();
        return new SamplingParams(temperature, topK, topP, minP, repetition, presence, frequency,
                hasSeed ? OptionalLong.of(seed) : OptionalLong.empty(), maxTokens, minTokens, stopIds, stops, ignoreEos,
                logprobs);
    }
}
