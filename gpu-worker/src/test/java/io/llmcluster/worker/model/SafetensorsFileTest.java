package io.llmcluster.worker.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {
    @TempDir
    Path dir;

    private static byte[] randomFloats(int n, long seed) {
        ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        Random r = new Random(seed);
        for (int i = 0; i < n; i++) {
            b.putFloat(r.nextFloat() * 2 - 1);
        }
        return b.array();
    }

    private Path writeValid() throws Exception {
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, List.of(
                SafetensorsWriter.entry("a", TensorDType.F32, new long[] {3, 5}, randomFloats(15, 1)),
                SafetensorsWriter.entry("b", TensorDType.F32, new long[] {7}, randomFloats(7, 2))));
        return file;
    }

    /** A file with a hand-written header, for the cases a writer would never produce. */
    private Path writeRaw(String header, int dataBytes) throws Exception {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path file = dir.resolve("raw.safetensors");
        Files.write(file, b.array());
        return file;
    }

    private String failure(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            return assertThrows(ModelLoadException.class, () -> SafetensorsFile.open(file, arena)).getMessage();
        }
    }

    @Test
    void shouldMapTensorsWithoutCopying() throws Exception {
        Path file = writeValid();
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            TensorView a = f.tensors().get("a");
            assertArrayEquals(new long[] {3, 5}, a.shape());
            assertTrue(a.data().isMapped());
            byte[] expected = randomFloats(15, 1);
            assertArrayEquals(expected, a.data().toArray(ValueLayout.JAVA_BYTE));
            assertEquals(7, f.tensors().get("b").elementCount());
        }
    }

    @Test
    void shouldReportATruncatedFile() throws Exception {
        Path file = writeValid();
        byte[] all = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(all, all.length - 10));
        assertTrue(failure(file).contains("truncated"), failure(file));
    }

    @Test
    void shouldReportAHeaderLongerThanTheFile() throws Exception {
        Path file = writeValid();
        byte[] all = Files.readAllBytes(file);
        ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 20);
        Files.write(file, all);
        assertTrue(failure(file).contains("header length 1048576 does not fit"), failure(file));
    }

    @Test
    void shouldReportAHeaderThatLiesAboutSizes() throws Exception {
        Path file = writeRaw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[0,32]}}", 64);
        String msg = failure(file);
        assertTrue(msg.contains("header lies about tensor 'w'") && msg.contains("needs 64"), msg);
    }

    @Test
    void shouldReportAnUnknownDtype() throws Exception {
        Path file = writeRaw("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
        assertTrue(failure(file).contains("unknown dtype 'Q4_K'"), failure(file));
    }

    @Test
    void shouldReportAMissingFile() {
        assertTrue(failure(dir.resolve("nope.safetensors")).contains("missing weights file"));
    }

    @Test
    void shouldRejectWeightsOfAnUnsupportedDtypeAndWrongShape() throws Exception {
        Path file = writeRaw("{\"w\":{\"dtype\":\"I8\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4);
        try (Arena arena = Arena.ofConfined()) {
            TensorView w = SafetensorsFile.open(file, arena).tensors().get("w");
            String dtype = assertThrows(ModelLoadException.class, w::requireWeightDtype).getMessage();
            assertTrue(dtype.contains("unsupported dtype I8"), dtype);
            String shape = assertThrows(ModelLoadException.class, () -> w.requireShape(2, 3)).getMessage();
            assertTrue(shape.contains("has shape [2, 2], expected [2, 3]"), shape);
        }
    }
}
