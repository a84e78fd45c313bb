package io.llmcluster.cli;

import io.llmcluster.worker.cuda.CudaQuantization;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The W8A8 options that generate and serve share (a picocli mixin: each command keeps its own {@code --quantize}, whose
 * help differs), read with {@code --quantize} into a {@link CudaQuantization} with their CLI checks.
 */
final class QuantizeOptions {
    @Option(names = "--smoothquant-alpha", paramLabel = "A",
            description = "w8a8: migration strength in [0, 1] (default " + CudaQuantization.DEFAULT_ALPHA + ")")
    Double smoothQuantAlpha;

    @Option(names = "--calibration-tokens", paramLabel = "N", description = "w8a8: tokens of the calibration pass "
            + "(default " + CudaQuantization.DEFAULT_CALIBRATION_TOKENS + ")")
    Integer calibrationTokens;

    @Option(names = "--calibration-text", paramLabel = "FILE", description = "w8a8: calibration prompts, one per line "
            + "(default: random token ids, fit only for random-weight models)")
    Path calibrationText;

    /** Whether any W8A8 option was given. */
    boolean anyGiven() {
        return smoothQuantAlpha != null || calibrationTokens != null || calibrationText != null;
    }

    /**
     * {@link CudaQuantization#parse} plus what only the command line knows: W8A8 needs {@code --device cuda} (auto
     * could fall back to the CPU, which has no W8A8), and a calibration file must be readable before anything loads.
     */
    CudaQuantization parse(String quantize, int int8GroupSize, String device) {
        CudaQuantization q = CudaQuantization.parse(quantize, int8GroupSize, smoothQuantAlpha, calibrationTokens,
                calibrationText);
        if (q.isW8a8() && !device.equals("cuda")) {
            throw new IllegalArgumentException("--quantize w8a8 runs on the CUDA backend only: add --device cuda");
        }
        if (calibrationText != null && !Files.isReadable(calibrationText)) {
            throw new IllegalArgumentException("--calibration-text " + calibrationText + " is not a readable file");
        }
        return q;
    }
}
