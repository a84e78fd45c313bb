package io.llmcluster.worker.cuda;

import io.llmcluster.kernels.KernelImage;
import java.util.Locale;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;

/**
 * Whether the CUDA backend can run here, and if not, why: the platform, JCuda's native library (which needs
 * the driver's libcuda.so.1), a device, the kernel image and cuBLAS are checked in that order. The result is
 * computed once per JVM; tests use it to skip with the reason, {@code --device auto} to choose.
 */
public record CudaAvailability(boolean available, String reason, String device) {
    private static CudaAvailability cached;

    public static synchronized CudaAvailability probe() {
        if (cached == null) {
            cached = check();
        }
        return cached;
    }

    private static CudaAvailability check() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return no("the CUDA backend ships JCuda natives for linux-x86_64 only, this is " + os + "/" + arch);
        }
        int r;
        try {
            r = JCudaDriver.cuInit(0);
        } catch (LinkageError e) {
            String m = String.valueOf(e.getMessage());
            return no("JCuda's native library did not load (no NVIDIA driver / libcuda.so.1?): "
                    + m.lines().findFirst().orElse(m));
        }
        if (r != 0) {
            return no("cuInit failed: " + Cuda.errorName(r) + " (no GPU or no working driver)");
        }
        int[] count = new int[1];
        r = JCudaDriver.cuDeviceGetCount(count);
        if (r != 0 || count[0] == 0) {
            return no("no CUDA device found" + (r != 0 ? ": " + Cuda.errorName(r) : ""));
        }
        if (KernelImage.fatbin().isEmpty()) {
            return no("the kernel image is missing: this build ran without nvcc");
        }
        String cublas = Cublas.findLibrary();
        if (cublas == null) {
            return no("cuBLAS not found (looked for " + String.join(", ", Cublas.LIBRARY_NAMES) + ")");
        }
        CUdevice d = new CUdevice();
        JCudaDriver.cuDeviceGet(d, 0);
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, d);
        int len = 0;
        while (len < name.length && name[len] != 0) {
            len++;
        }
        return new CudaAvailability(true, "usable", new String(name, 0, len) + " (" + count[0] + " device(s), " + cublas + ")");
    }

    private static CudaAvailability no(String reason) {
        return new CudaAvailability(false, reason, null);
    }
}
