package io.llmcluster.worker.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * cuBLAS through Java's FFM API (JCublas 12.6 needs libcublas.so.12, which CUDA 13 machines lack). The library
 * is found by its versioned names, 13 then 12, first through the dynamic loader's search path, then in the
 * usual CUDA folders. One handle, bound to the backend's stream, with its workspace in the device arena (so a
 * captured graph would not allocate).
 */
final class Cublas implements AutoCloseable {
    static final List<String> LIBRARY_NAMES = List.of("libcublas.so.13", "libcublas.so.12");
    private static final List<String> FOLDERS = List.of("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
            "/usr/lib/x86_64-linux-gnu");
    static final int OP_N = 0;
    static final int OP_T = 1;
    static final int COMPUTE_32F = 68;
    static final int COMPUTE_32I = 72;
    static final int CUDA_R_8I = 3;
    static final int CUDA_R_32I = 10;
    static final int GEMM_DEFAULT = -1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static SymbolLookup library;
    private static String libraryName;
    private static MethodHandle create;
    private static MethodHandle destroy;
    private static MethodHandle setStream;
    private static MethodHandle setWorkspace;
    private static MethodHandle getVersion;
    private static MethodHandle gemmEx;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final MemorySegment alpha;
    private final MemorySegment beta;
    private final MemorySegment intOne;
    private final MemorySegment intZero;
    private final int version;

    /** The name of the cuBLAS library that loads here, or null. */
    static synchronized String findLibrary() {
        if (library != null) {
            return libraryName;
        }
        for (String name : LIBRARY_NAMES) {
            if (tryLoad(name, name)) {
                return libraryName;
            }
            for (String folder : FOLDERS) {
                Path p = Path.of(folder, name);
                if (Files.exists(p) && tryLoad(p.toString(), name)) {
                    return libraryName;
                }
            }
        }
        return null;
    }

    private static boolean tryLoad(String path, String name) {
        try {
            SymbolLookup lookup = SymbolLookup.libraryLookup(path, Arena.global());
            create = handle(lookup, "cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            destroy = handle(lookup, "cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            setStream = handle(lookup, "cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            setWorkspace = handle(lookup, "cublasSetWorkspace_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
            getVersion = handle(lookup, "cublasGetVersion_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            gemmEx = handle(lookup, "cublasGemmEx", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT,
                    JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS,
                    ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
            library = lookup;
            libraryName = name;
            return true;
        } catch (IllegalArgumentException | UnsatisfiedLinkError | IllegalStateException e) {
            return false;
        }
    }

    private static MethodHandle handle(SymbolLookup lookup, String symbol, FunctionDescriptor fd) {
        return LINKER.downcallHandle(lookup.find(symbol).orElseThrow(
                () -> new IllegalStateException("cuBLAS lacks " + symbol)), fd);
    }

    /** A handle on {@code stream} (raw cudaStream_t) with {@code workspaceBytes} at {@code workspace}. */
    Cublas(long stream, long workspace, long workspaceBytes) {
        if (findLibrary() == null) {
            throw new CudaException("cuBLAS not found (looked for " + String.join(", ", LIBRARY_NAMES) + ")");
        }
        MemorySegment out = arena.allocate(ADDRESS);
        check(invokeInt(create, out), "cublasCreate");
        handle = out.get(ADDRESS, 0);
        MemorySegment v = arena.allocate(JAVA_INT);
        check(invokeInt(getVersion, handle, v), "cublasGetVersion");
        version = v.get(JAVA_INT, 0);
        check(invokeInt(setStream, handle, MemorySegment.ofAddress(stream)), "cublasSetStream");
        if (workspaceBytes > 0) {
            check(invokeInt(setWorkspace, handle, MemorySegment.ofAddress(workspace), workspaceBytes), "cublasSetWorkspace");
        }
        alpha = arena.allocate(JAVA_FLOAT);
        beta = arena.allocate(JAVA_FLOAT);
        intOne = arena.allocate(JAVA_INT);
        intOne.set(JAVA_INT, 0, 1);
        intZero = arena.allocate(JAVA_INT);
    }

    /**
     * cublasGemmEx, column-major: {@code C[m][n] = alpha * op(A) op(B) + beta * C}, FP32 compute, default
     * algorithm (tensor cores for 16-bit inputs).
     */
    void gemmEx(int transA, int transB, int m, int n, int k, float a, long A, int aType, int lda, long B, int bType,
            int ldb, float b, long C, int cType, int ldc) {
        alpha.set(JAVA_FLOAT, 0, a);
        beta.set(JAVA_FLOAT, 0, b);
        int status;
        try {
            status = (int) gemmEx.invokeExact(handle, transA, transB, m, n, k, alpha, MemorySegment.ofAddress(A), aType,
                    lda, MemorySegment.ofAddress(B), bType, ldb, beta, MemorySegment.ofAddress(C), cType, ldc,
                    COMPUTE_32F, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new CudaException("cublasGemmEx call failed", t);
        }
        if (status != 0) {
            throw new CudaException("cublasGemmEx(m=" + m + ", n=" + n + ", k=" + k + ", types " + aType + "/" + cType
                    + ") failed: " + statusName(status));
        }
    }

    /**
     * INT8 × INT8 → INT32 on the tensor cores (W8A8): row-major {@code C[tokens][out] = X[tokens][in] · W[out][in]ᵀ},
     * i.e. column-major {@code C(out × tokens) = op_T(W) · op_N(X)}, the TN layout cuBLAS's IMMA kernels take; signed
     * bytes, lda = ldb = in, ldc = out, integer alpha 1 and beta 0 (exact accumulation), CUBLAS_COMPUTE_32I.
     */
    void gemmInt8(int out, int tokens, int in, long w, long x, long c) {
        int status;
        try {
            status = (int) gemmEx.invokeExact(handle, OP_T, OP_N, out, tokens, in, intOne, MemorySegment.ofAddress(w),
                    CUDA_R_8I, in, MemorySegment.ofAddress(x), CUDA_R_8I, in, intZero, MemorySegment.ofAddress(c),
                    CUDA_R_32I, out, COMPUTE_32I, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new CudaException("cublasGemmEx (INT8) call failed", t);
        }
        if (status != 0) {
            throw new CudaException("cublasGemmEx INT8 (out=" + out + ", tokens=" + tokens + ", in=" + in + ") failed: "
                    + statusName(status));
        }
    }

    int version() {
        return version;
    }

    static String libraryName() {
        return libraryName;
    }

    private static int invokeInt(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new CudaException("cuBLAS call failed", t);
        }
    }

    private static void check(int status, String call) {
        if (status != 0) {
            throw new CudaException(call + " failed: " + statusName(status));
        }
    }

    static String statusName(int status) {
        return switch (status) {
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "cublasStatus " + status;
        };
    }

    @Override
    public void close() {
        invokeInt(destroy, handle);
        arena.close();
    }
}
