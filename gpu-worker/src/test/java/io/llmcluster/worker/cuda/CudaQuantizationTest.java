package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class CudaQuantizationTest {
    @Test
    void shouldParseW8a8WithDefaultsAndGivenSettings() {
        CudaQuantization q = CudaQuantization.parse("w8a8", 0, null, null, null);
        assertTrue(q.isW8a8());
        assertFalse(q.int8());
        assertEquals(new CudaQuantization.W8a8(0.5, 512, null), q.w8a8());
        assertEquals("w8a8", q.tag());
        CudaQuantization given = CudaQuantization.parse("W8A8", 0, 0.8, 256, Path.of("prompts.txt"));
        assertEquals(new CudaQuantization.W8a8(0.8, 256, Path.of("prompts.txt")), given.w8a8());
    }

    @Test
    void shouldKeepTheInt8AndNoneParsing() {
        assertEquals(CudaQuantization.NONE, CudaQuantization.parse(null, 0));
        assertEquals(CudaQuantization.int8Groups(128), CudaQuantization.parse("int8", 128));
        assertFalse(CudaQuantization.parse("int8", 0).isW8a8());
    }

    @Test
    void shouldRejectBadCombinationsWithClearMessages() {
        assertEquals("--int8-group-size applies to --quantize int8 only (W8A8 has one scale per output channel and one per token)",
                message(() -> CudaQuantization.parse("w8a8", 64, null, null, null)));
        assertEquals("--smoothquant-alpha, --calibration-tokens and --calibration-text need --quantize w8a8",
                message(() -> CudaQuantization.parse("int8", 0, 0.5, null, null)));
        assertEquals("--smoothquant-alpha, --calibration-tokens and --calibration-text need --quantize w8a8",
                message(() -> CudaQuantization.parse(null, 0, null, 100, null)));
        assertEquals("--smoothquant-alpha must be in [0, 1], got 1.2", message(() -> CudaQuantization.parse("w8a8", 0, 1.2, null, null)));
        assertEquals("--calibration-tokens must be >= 16, got 4", message(() -> CudaQuantization.parse("w8a8", 0, null, 4, null)));
        assertEquals("--quantize fp8 is not supported (int8 or w8a8)", message(() -> CudaQuantization.parse("fp8", 0)));
        assertEquals("INT8 weight-only and W8A8 exclude each other",
                message(() -> new CudaQuantization(true, 0, new CudaQuantization.W8a8(0.5, 64, null))));
    }

    private static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }
}
