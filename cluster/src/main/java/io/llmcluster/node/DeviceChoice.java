package io.llmcluster.node;

import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.cuda.CudaAvailability;
import io.llmcluster.worker.cuda.CudaBackend;
import io.llmcluster.worker.cuda.CudaBackendOptions;
import io.llmcluster.worker.cuda.CudaException;
import io.llmcluster.worker.model.ModelDirectory;
import java.util.function.Supplier;

/**
 * {@code --device}: {@code cpu}; {@code cuda} (a clear error when CUDA is not usable); {@code auto} (CUDA when
 * usable and it starts, else the CPU, saying which and why). Shared by {@code generate} and {@code serve}.
 */
public enum DeviceChoice {
    AUTO, CUDA, CPU;

    public static DeviceChoice parse(String name) {
        return switch (name) {
            case "auto" -> AUTO;
            case "cuda" -> CUDA;
            case "cpu" -> CPU;
            default -> throw new IllegalArgumentException("--device " + name + " is not one of auto, cuda, cpu");
        };
    }

    /** Opens the backend this choice names; {@code cuda} options are built only when CUDA is used. */
    public ModelBackend open(ModelDirectory dir, CpuBackendOptions cpu, Supplier<CudaBackendOptions> cuda) {
        if (this == CPU) {
            return new CpuBackend(dir, cpu);
        }
        CudaAvailability gpu = CudaAvailability.probe();
        if (this == CUDA) {
            if (!gpu.available()) {
                throw new IllegalArgumentException("--device cuda: CUDA is not usable here: " + gpu.reason());
            }
            return new CudaBackend(dir, cuda.get());
        }
        if (!gpu.available()) {
            System.err.println("[llmc] device auto: CUDA not usable (" + gpu.reason() + "); using the CPU");
            return new CpuBackend(dir, cpu);
        }
        try {
            CudaBackend b = new CudaBackend(dir, cuda.get());
            System.err.println("[llmc] device auto: using CUDA on " + gpu.device());
            return b;
        } catch (CudaException e) {
            System.err.println("[llmc] device auto: the CUDA backend failed to start (" + e.getMessage() + "); using the CPU");
            return new CpuBackend(dir, cpu);
        }
    }
}
