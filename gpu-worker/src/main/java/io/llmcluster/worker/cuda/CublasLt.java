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
 * cuBLASLt through FFM, for one purpose: the projection {@code y[tokens][out] = x · wᵀ} (16-bit in, FP32 compute,
 * FP32 or 16-bit out) with an explicitly chosen algorithm. cublasGemmEx runs cuBLAS's first heuristic pick; at the
 * decode step's large batches (128-512 tokens) the o_proj and down shapes give only a few output tiles per SM, where
 * another of the heuristic's candidates (split-K, another tile) can be faster. A {@link Plan} holds the descriptors and
 * the heuristic's ranked algorithms of one (out, in, tokens, output type); the autotuner times them like its other
 * candidates ({@link ProjectionKernel#LT_0} ...). Same stream and workspace as the {@link Cublas} handle.
 */
final class CublasLt implements AutoCloseable {
    static final List<String> LIBRARY_NAMES = List.of("libcublasLt.so.13", "libcublasLt.so.12");
    private static final List<String> FOLDERS = List.of("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
            "/usr/lib/x86_64-linux-gnu");
    /** Algorithms asked of the heuristic per plan (the candidates LT_0 .. LT_{n-1}). */
    static final int MAX_ALGOS = 6;
    private static final int DESC_TRANSA = 3;
    private static final int DESC_TRANSB = 4;
    private static final int PREF_MAX_WORKSPACE_BYTES = 1;
    /** sizeof(cublasLtMatmulHeuristicResult_t): algo (8 x uint64), size_t workspace, int state, float waves, int[4]. */
    static final long RESULT_BYTES = 96;
    private static final long ALGO_BYTES = 64;
    private static final long RESULT_WORKSPACE_OFFSET = 64;
    private static final long RESULT_STATE_OFFSET = 72;

    private static final Linker LINKER = Linker.nativeLinker();
    private static boolean looked;
    private static MethodHandle create;
    private static MethodHandle destroy;
    private static MethodHandle descCreate;
    private static MethodHandle descDestroy;
    private static MethodHandle descSet;
    private static MethodHandle layoutCreate;
    private static MethodHandle layoutDestroy;
    private static MethodHandle prefCreate;
    private static MethodHandle prefSet;
    private static MethodHandle prefDestroy;
    private static MethodHandle heuristic;
    private static MethodHandle matmul;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final MemorySegment alpha;
    private final MemorySegment beta;
    private final long stream;
    private final long workspace;
    private final long workspaceBytes;

    /** Whether libcublasLt loads here (a backend without it keeps cublasGemmEx only). */
    static synchronized boolean available() {
        if (!looked) {
            looked = true;
            for (String name : LIBRARY_NAMES) {
                if (tryLoad(name)) {
                    return true;
                }
                for (String folder : FOLDERS) {
                    Path p = Path.of(folder, name);
                    if (Files.exists(p) && tryLoad(p.toString())) {
                        return true;
                    }
                }
            }
        }
        return matmul != null;
    }

    private static boolean tryLoad(String path) {
        try {
            SymbolLookup l = SymbolLookup.libraryLookup(path, Arena.global());
            create = h(l, "cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            destroy = h(l, "cublasLtDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            descCreate = h(l, "cublasLtMatmulDescCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
            descDestroy = h(l, "cublasLtMatmulDescDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            descSet = h(l, "cublasLtMatmulDescSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
            layoutCreate = h(l, "cublasLtMatrixLayoutCreate",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
            layoutDestroy = h(l, "cublasLtMatrixLayoutDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            prefCreate = h(l, "cublasLtMatmulPreferenceCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            prefSet = h(l, "cublasLtMatmulPreferenceSetAttribute",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
            prefDestroy = h(l, "cublasLtMatmulPreferenceDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            heuristic = h(l, "cublasLtMatmulAlgoGetHeuristic", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                    ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
            matmul = h(l, "cublasLtMatmul", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                    ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
            return true;
        } catch (IllegalArgumentException | UnsatisfiedLinkError | IllegalStateException e) {
            matmul = null;
            return false;
        }
    }

    private static MethodHandle h(SymbolLookup l, String symbol, FunctionDescriptor fd) {
        return LINKER.downcallHandle(l.find(symbol).orElseThrow(() -> new IllegalStateException("cuBLASLt lacks " + symbol)), fd);
    }

    /** A handle that queues on {@code stream} (raw) with {@code workspaceBytes} of device scratch at {@code workspace}. */
    CublasLt(long stream, long workspace, long workspaceBytes) {
        if (!available()) {
            throw new CudaException("cuBLASLt not found (looked for " + String.join(", ", LIBRARY_NAMES) + ")");
        }
        MemorySegment out = arena.allocate(ADDRESS);
        check(call(create, out), "cublasLtCreate");
        handle = out.get(ADDRESS, 0);
        alpha = arena.allocate(JAVA_FLOAT);
        alpha.set(JAVA_FLOAT, 0, 1f);
        beta = arena.allocate(JAVA_FLOAT);
        this.stream = stream;
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
    }

    /**
     * The descriptors of {@code y[tokens][out] = x[tokens][in] · w[out][in]ᵀ} (column-major {@code C(out × tokens) =
     * op_T(W) · op_N(X)}, as {@link CublasGemm}) and up to {@link #MAX_ALGOS} algorithms of the heuristic, best first.
     */
    Plan plan(int out, int tokens, int in, int inType, boolean fp32Out) {
        return keep(new Plan(out, tokens, in, inType, fp32Out ? CudaDtype.CUDA_R_32F : inType));
    }

    /** One problem's descriptors and ranked algorithms; freed with the handle. */
    final class Plan {
        private final MemorySegment desc;
        private final MemorySegment a;
        private final MemorySegment b;
        private final MemorySegment c;
        private final MemorySegment results;
        private final int count;

        private Plan(int out, int tokens, int in, int inType, int outType) {
            MemorySegment p = arena.allocate(ADDRESS);
            check(call(descCreate, p, Cublas.COMPUTE_32F, CudaDtype.CUDA_R_32F), "cublasLtMatmulDescCreate");
            desc = p.get(ADDRESS, 0);
            MemorySegment op = arena.allocate(JAVA_INT);
            op.set(JAVA_INT, 0, Cublas.OP_T);
            check(call(descSet, desc, DESC_TRANSA, op, 4L), "cublasLtMatmulDescSetAttribute(TRANSA)");
            op.set(JAVA_INT, 0, Cublas.OP_N);
            check(call(descSet, desc, DESC_TRANSB, op, 4L), "cublasLtMatmulDescSetAttribute(TRANSB)");
            a = layout(inType, in, out, in);       // W stored column-major [in][out]; op T makes it out x in
            b = layout(inType, in, tokens, in);    // X column-major [in][tokens]
            c = layout(outType, out, tokens, out); // Y column-major [out][tokens]
            MemorySegment pp = arena.allocate(ADDRESS);
            check(call(prefCreate, pp), "cublasLtMatmulPreferenceCreate");
            MemorySegment pref = pp.get(ADDRESS, 0);
            MemorySegment ws = arena.allocate(JAVA_LONG);
            ws.set(JAVA_LONG, 0, workspaceBytes);
            check(call(prefSet, pref, PREF_MAX_WORKSPACE_BYTES, ws, 8L), "cublasLtMatmulPreferenceSetAttribute");
            results = arena.allocate(RESULT_BYTES * MAX_ALGOS, 16);
            MemorySegment n = arena.allocate(JAVA_INT);
            int status = call(heuristic, handle, desc, a, b, c, c, pref, MAX_ALGOS, results, n);
            call(prefDestroy, pref);
            int usable = 0;
            if (status == 0) { // keep the leading run of results whose state is success and whose workspace fits
                int returned = n.get(JAVA_INT, 0);
                while (usable < returned && results.get(JAVA_INT, usable * RESULT_BYTES + RESULT_STATE_OFFSET) == 0
                        && results.get(JAVA_LONG, usable * RESULT_BYTES + RESULT_WORKSPACE_OFFSET) <= workspaceBytes) {
                    usable++;
                }
            }
            count = usable;
        }

        private MemorySegment layout(int type, long rows, long cols, long ld) {
            MemorySegment p = arena.allocate(ADDRESS);
            check(call(layoutCreate, p, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
            return p.get(ADDRESS, 0);
        }

        /** Algorithms the heuristic offered (0 when it offered none). */
        int algorithms() {
            return count;
        }

        /** Queues the projection with the heuristic's algorithm number {@code rank} (< {@link #algorithms()}). */
        void run(int rank, long x, long w, long y) {
            if (rank >= count) {
                throw new IllegalArgumentException("cuBLASLt algorithm " + rank + " of " + count);
            }
            MemorySegment algo = results.asSlice(rank * RESULT_BYTES, ALGO_BYTES);
            int status;
            try {
                status = (int) matmul.invokeExact(handle, desc, alpha, MemorySegment.ofAddress(w), a, MemorySegment.ofAddress(x), b,
                        beta, MemorySegment.ofAddress(y), c, MemorySegment.ofAddress(y), c, algo,
                        MemorySegment.ofAddress(workspace), workspaceBytes, MemorySegment.ofAddress(stream));
            } catch (Throwable t) {
                throw new CudaException("cublasLtMatmul call failed", t);
            }
            if (status != 0) {
                throw new CudaException("cublasLtMatmul (algorithm " + rank + ") failed: " + Cublas.statusName(status));
            }
        }

        private void free() {
            call(layoutDestroy, a);
            call(layoutDestroy, b);
            call(layoutDestroy, c);
            call(descDestroy, desc);
        }
    }

    private final java.util.List<Plan> plans = new java.util.ArrayList<>();

    private Plan keep(Plan p) {
        plans.add(p);
        return p;
    }

    private static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new CudaException("cuBLASLt call failed", t);
        }
    }

    private static void check(int status, String what) {
        if (status != 0) {
            throw new CudaException(what + " failed: " + Cublas.statusName(status));
        }
    }

    @Override
    public void close() {
        for (Plan p : plans) {
            p.free();
        }
        plans.clear();
        call(destroy, handle);
        arena.close();
    }
}
