package io.llmcluster.cli;

import io.llmcluster.worker.cuda.CudaQuantization;
import java.nio.file.Files;
import java.nio.file.Path;

/** The --quantize options that generate and serve share, read into a {@link CudaQuantization} with their CLI checks. */
final class QuantizeOptions {
    private QuantizeOptions() {
    }

    /**
     * {@link CudaQuantization#parse} plus what only the command line knows: W8A8 needs {@code --device cuda} (auto
     * could fall back to the CPU, which has no W8A8), and a calibration file must be readable before anything loads.
     */
    static CudaQuantization parse(String quantize, int int8GroupSize, Double alpha, Integer calibrationTokens,
            Path calibrationText, String device) {
        CudaQuantization q = CudaQuantization.parse(quantize, int8GroupSize, alpha, calibrationTokens, calibrationText);
        if (q.isW8a8() && !device.equals("cuda")) {
            throw new IllegalArgumentException("--quantize w8a8 runs on the CUDA backend only: add --device cuda");
        }
        if (calibrationText != null && !Files.isReadable(calibrationText)) {
            throw new IllegalArgumentException("--calibration-text " + calibrationText + " is not a readable file");
        }
        return q;
    }
}
