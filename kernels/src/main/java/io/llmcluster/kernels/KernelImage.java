package io.llmcluster.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/** Finds the CUDA fatbin that the build compiled from this module's {@code .cu} sources. */
public final class KernelImage {
    /** Classpath location of the fatbin written by {@code build-fatbin.sh}. */
    public static final String RESOURCE = "/io/llmcluster/kernels/llmcluster.fatbin";

    private KernelImage() {}

    /** The fatbin bytes, or empty when the build ran without nvcc. */
    public static Optional<byte[]> fatbin() {
        try (InputStream in = KernelImage.class.getResourceAsStream(RESOURCE)) {
            return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
        } catch (IOException e) {
            throw new IllegalStateException("cannot read kernel image " + RESOURCE, e);
        }
    }
}
