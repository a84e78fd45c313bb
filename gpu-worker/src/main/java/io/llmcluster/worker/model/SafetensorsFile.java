package io.llmcluster.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw data. Every claim of the header is checked against
 * the file before any tensor is handed out, so a truncated file or a header that lies fails here with a
 * message naming the file and the tensor.
 */
public final class SafetensorsFile {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path path;
    private final Map<String, TensorView> tensors;

    private SafetensorsFile(Path path, Map<String, TensorView> tensors) {
        this.path = path;
        this.tensors = tensors;
    }

    /** Maps the file into {@code arena}; the tensors stay valid while the arena is open. */
    public static SafetensorsFile open(Path path, Arena arena) {
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (NoSuchFileException e) {
            throw new ModelLoadException("missing weights file " + path);
        } catch (IOException e) {
            throw new ModelLoadException("cannot map " + path + ": " + e.getMessage(), e);
        }
        return new SafetensorsFile(path, parse(path.getFileName().toString(), file));
    }

    static Map<String, TensorView> parse(String name, MemorySegment file) {
        long size = file.byteSize();
        if (size < 8) {
            throw new ModelLoadException(name + ": truncated safetensors file (" + size + " bytes, no header)");
        }
        long headerBytes = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerBytes <= 0 || headerBytes > MAX_HEADER_BYTES || headerBytes > size - 8) {
            throw new ModelLoadException(name + ": header length " + headerBytes + " does not fit in a file of "
                    + size + " bytes (truncated or not a safetensors file)");
        }
        JsonNode header;
        try {
            byte[] json = file.asSlice(8, headerBytes).toArray(ValueLayout.JAVA_BYTE);
            header = JSON.readTree(new String(json, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new ModelLoadException(name + ": header is not valid JSON: " + e.getMessage(), e);
        }
        if (header == null || !header.isObject()) {
            throw new ModelLoadException(name + ": header is not a JSON object");
        }
        MemorySegment data = file.asSlice(8 + headerBytes);
        Map<String, TensorView> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            if (!e.getKey().equals("__metadata__")) {
                tensors.put(e.getKey(), tensor(name, e.getKey(), e.getValue(), data));
            }
        }
        return tensors;
    }

    private static TensorView tensor(String file, String tensor, JsonNode entry, MemorySegment data) {
        TensorDType dtype = TensorDType.parse(entry.path("dtype").asText(), file, tensor);
        JsonNode shapeNode = entry.path("shape");
        JsonNode offsets = entry.path("data_offsets");
        if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
            throw new ModelLoadException(file + ": tensor '" + tensor + "' lacks a shape or data_offsets");
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0) {
                throw new ModelLoadException(file + ": tensor '" + tensor + "' has a negative dimension");
            }
            elements = Math.multiplyExact(elements, shape[i]);
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > data.byteSize()) {
            throw new ModelLoadException(file + ": tensor '" + tensor + "' claims bytes [" + begin + ", " + end
                    + ") but the file holds " + data.byteSize() + " data bytes (truncated file?)");
        }
        long expected = elements * dtype.bytes();
        if (end - begin != expected) {
            throw new ModelLoadException(file + ": header lies about tensor '" + tensor + "': " + (end - begin)
                    + " bytes for " + dtype + " " + java.util.Arrays.toString(shape) + " which needs " + expected);
        }
        return new TensorView(tensor, dtype, shape, data.asSlice(begin, end - begin), file);
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorView> tensors() {
        return tensors;
    }
}
