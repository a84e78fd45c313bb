package io.llmcluster.worker.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Writes a safetensors file tensor by tensor, so multi-gigabyte random models stream to disk without being
 * held in memory. Used by the benchmark model maker and by tests that need crafted files.
 */
public final class SafetensorsWriter {
    private SafetensorsWriter() {}

    /** Produces a tensor's bytes (little-endian, row-major) into the channel. */
    @FunctionalInterface
    public interface TensorBytes {
        void writeTo(FileChannel channel) throws IOException;
    }

    public record Entry(String name, TensorDType dtype, long[] shape, TensorBytes bytes) {
        long byteSize() {
            long n = dtype.bytes();
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** An entry whose bytes are already in memory. */
    public static Entry entry(String name, TensorDType dtype, long[] shape, byte[] data) {
        return new Entry(name, dtype, shape, ch -> {
            ByteBuffer b = ByteBuffer.wrap(data);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        });
    }

    public static void write(Path file, List<Entry> entries) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = header.putObject(e.name());
            t.put("dtype", e.dtype().name());
            var shape = t.putArray("shape");
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + e.byteSize());
            offset += e.byteSize();
        }
        byte[] headerBytes = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, headerBytes.length);
            ch.write(len);
            ch.write(ByteBuffer.wrap(headerBytes));
            for (Entry e : entries) {
                long before = ch.position();
                e.bytes().writeTo(ch);
                if (ch.position() - before != e.byteSize()) {
                    throw new IOException("tensor " + e.name() + " wrote " + (ch.position() - before) + " bytes, expected "
                            + e.byteSize());
                }
            }
        }
    }
}
