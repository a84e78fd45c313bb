package io.llmcluster.worker.cuda;

/**
 * Runs the forward pass's projections {@code y[tokens][out] = x[tokens][in] · wᵀ} (FP32 accumulation, y FP32 or
 * the run dtype) on the kernel chosen for the matrix's shape and the step's token bucket: the autotuner's
 * choice ({@link Autotuner}) when there is one, else {@link AutotunePolicy#fallback}. Choices live in a small
 * [shape][bucket] table, so a step's lookups allocate nothing. INT8 weights larger than the GEMV's 8 tokens go
 * through the dequantization scratch: row chunks back to the run dtype, then cuBLAS into the matching columns.
 * {@link #swiglu} runs the gate|up projection with the SwiGLU in the GEMV / skinny kernel's epilogue.
 */
final class Projections {
    private final CudaKernels k;
    private final CublasGemm cublas;
    private final Gemm mma;
    private final GemmChoice gemm;
    private final boolean decodeGemv;
    private final long scratch;
    private final long scratchBytes;
    private final int elementBytes;
    /** [shape][bucket index]: tuned kernels, null where untuned. */
    private final ProjectionKernel[][] tuned;
    private boolean useTuned = true;
    private boolean gemvOn = true;
    private boolean fuseSwiglu = true;
    /** Whether a gate|up GEMM (cuBLAS, cuBLASLt, own MMA) writes the run dtype (silu_mul16) instead of FP32 (silu_mul). */
    private boolean gateUp16 = DEFAULT_GATE_UP_16;
    /**
     * 16-bit gate|up output (as an FP16 model's linear layer in transformers, half the bytes of the round trip to
     * silu_mul: at 256 tokens 29 MB a layer written and read back in FP32) is off by default: a GEMV / skinny kernel
     * keeps the FP32 sums, so with it on a prompt recomputed after preemption (a large GEMM) no longer rounds like the
     * decode steps that first computed it, and greedy outputs stopped being the same alone, batched and after
     * preemption (CudaEngineTest, H200, fifth session: one token of 16 prompts). {@code CudaBackend.setGateUp16} turns
     * it on; GpuBench's {@code _gateup16} times it.
     */
    static final boolean DEFAULT_GATE_UP_16 = false;
    private long fusedSwigluLaunches;
    /** The path of W8A8 matrices (all token counts), or null. */
    private W8a8Gemm w8a8;
    /** cuBLASLt (null where the library is missing) and its plans per [shape][bucket index], made when tuned. */
    private CublasLt lt;
    private CublasLt.Plan[][] ltPlans;
    private boolean ltOn = true;

    /** {@code scratch}: device bytes for INT8 dequantization chunks (0 when no weights are INT8). */
    Projections(CudaKernels k, CublasGemm cublas, Gemm mma, GemmChoice gemm, boolean decodeGemv, long scratch,
            long scratchBytes, int shapes) {
        this.k = k;
        this.cublas = cublas;
        this.mma = mma;
        this.gemm = gemm;
        this.decodeGemv = decodeGemv;
        this.scratch = scratch;
        this.scratchBytes = scratchBytes;
        this.elementBytes = k.dtype().bytes();
        this.tuned = new ProjectionKernel[shapes][AutotunePolicy.BUCKETS.length];
    }

    void linear(long x, DeviceMatrix w, long y, int tokens, boolean fp32Out) {
        if (tokens == 0) {
            return;
        }
        if (w.w8a8()) {
            w8a8.linear(x, w, y, tokens, fp32Out);
            return;
        }
        ProjectionKernel kernel = kernelFor(w, tokens);
        run(kernel.lt() && !fp32Out ? ProjectionKernel.CUBLAS : kernel, x, w, y, tokens, fp32Out); // plans are FP32-out
    }

    /**
     * {@code act[t][j]} (run dtype) = silu(gate) * up of {@code x · wᵀ}, w the fused gate|up matrix [2 inter][in]: in one
     * kernel when the chosen kernel is a GEMV or skinny GEMM (same sums and rounding as the two-kernel path), else the
     * projection into {@code gateUp} ([tokens][2 inter], in the run dtype, or FP32 with {@link #setGateUp16} off)
     * followed by silu_mul16 (silu_mul).
     */
    void swiglu(long x, DeviceMatrix w, long gateUp, long act, int tokens) {
        if (tokens == 0) {
            return;
        }
        swiglu(kernelFor(w, tokens), x, w, gateUp, act, tokens);
    }

    /** {@link #swiglu} on {@code kernel} (which must serve it): the autotuner times gate|up candidates this way. */
    void swiglu(ProjectionKernel kernel, long x, DeviceMatrix w, long gateUp, long act, int tokens) {
        int in = w.cols();
        int inter = w.rows() / 2;
        if (!fuseSwiglu || kernel.warpsPerRow == 0) {
            // the large GEMMs only: a GEMV / skinny kernel run unfused stays the FP32 reference of its fused epilogue
            // (same sums, same rounding); the cuBLASLt plans are FP32-out, so their shape goes to cublasGemmEx
            if (gateUp16 && kernel.warpsPerRow == 0) {
                run(kernel.lt() ? ProjectionKernel.CUBLAS : kernel, x, w, gateUp, tokens, false);
                k.siluMul16(gateUp, act, tokens, inter);
            } else {
                run(kernel, x, w, gateUp, tokens, true);
                k.siluMul(gateUp, act, tokens, inter);
            }
            return;
        }
        int r = kernel.warpsPerRow;
        fusedSwigluLaunches++;
        switch (kernel) {
            case GEMV_R1, GEMV_R2, GEMV_R4, GEMV_R8, GEMV1P_R1, GEMV1P_R2, GEMV1P_R4 ->
                    k.gemvSwiglu(x, w.data(), act, tokens, in, inter, r, kernel.pipelined());
            case W8_GEMV_R1, W8_GEMV_R2, W8_GEMV_R4, W8_GEMV_R8 ->
                    k.gemvW8Swiglu(x, w.data(), w.scales(), act, tokens, in, inter, w.group(), r);
            case SKINNY_R1, SKINNY_R2, SKINNY_R4, SKINNY_R8 -> k.skinnySwiglu(x, w.data(), act, tokens, in, inter, r);
            case W8_SKINNY_R1, W8_SKINNY_R2, W8_SKINNY_R4, W8_SKINNY_R8 ->
                    k.skinnyW8Swiglu(x, w.data(), w.scales(), act, tokens, in, inter, w.group(), r);
            default -> throw new IllegalStateException("no fused SwiGLU for " + kernel);
        }
    }

    /** The kernel {@link #linear} uses for this matrix and token count. */
    ProjectionKernel kernelFor(DeviceMatrix w, int tokens) {
        int bi = AutotunePolicy.bucketIndex(tokens);
        ProjectionKernel t = bi < 0 || !useTuned ? null : tuned[w.shape()][bi];
        if (t != null && t.serves(w.int8(), w.group(), tokens, w.cols())
                && AutotunePolicy.tunedApplies(t, tokens, AutotunePolicy.BUCKETS[bi]) && (!t.lt() || ltOn)) {
            return t;
        }
        return AutotunePolicy.fallback(w.int8(), w.group(), tokens, w.cols(), decodeGemv && gemvOn, gemm);
    }

    /** Runs one projection on {@code kernel} (which must serve it). */
    void run(ProjectionKernel kernel, long x, DeviceMatrix w, long y, int tokens, boolean fp32Out) {
        int in = w.cols();
        int out = w.rows();
        switch (kernel) {
            case CUBLAS -> {
                cublas.linear(x, w.data(), y, tokens, in, out, fp32Out);
                k.dependentLaunch().foreignWorkQueued();
            }
            case MMA -> mma.linear(x, w.data(), y, tokens, in, out, fp32Out);
            case GEMV_R1, GEMV_R2, GEMV_R4, GEMV_R8, GEMV1P_R1, GEMV1P_R2, GEMV1P_R4 ->
                    k.gemv(x, w.data(), y, tokens, in, out, fp32Out, kernel.warpsPerRow, kernel.pipelined());
            case W8_GEMV_R1, W8_GEMV_R2, W8_GEMV_R4, W8_GEMV_R8 ->
                    k.gemvW8(x, w.data(), w.scales(), y, tokens, in, out, w.group(), fp32Out, kernel.warpsPerRow);
            case SKINNY_R1, SKINNY_R2, SKINNY_R4, SKINNY_R8 -> k.skinny(x, w.data(), y, tokens, in, out, fp32Out, kernel.warpsPerRow);
            case W8_SKINNY_R1, W8_SKINNY_R2, W8_SKINNY_R4, W8_SKINNY_R8 ->
                    k.skinnyW8(x, w.data(), w.scales(), y, tokens, in, out, w.group(), fp32Out, kernel.warpsPerRow);
            case W8_DEQUANT_CUBLAS -> {
                dequantThenCublas(x, w, y, tokens, fp32Out);
                k.dependentLaunch().foreignWorkQueued();
            }
            case LT_0, LT_1, LT_2, LT_3, LT_4, LT_5 -> {
                ltPlans[w.shape()][AutotunePolicy.bucketIndex(tokens)].run(kernel.ltRank(), x, w.data(), y);
                k.dependentLaunch().foreignWorkQueued();
            }
        }
    }

    /** Makes the cuBLASLt candidates available ({@code lt} null: they never run). */
    void useLt(CublasLt lt) {
        this.lt = lt;
        this.ltPlans = new CublasLt.Plan[tuned.length][AutotunePolicy.BUCKETS.length];
    }

    /**
     * The cuBLASLt algorithms the heuristic offers for {@code w} at exactly {@code BUCKETS[bucketIndex]} tokens, FP32
     * out (the plan is made on first use); 0 without cuBLASLt.
     */
    int ltAlgorithms(DeviceMatrix w, int bucketIndex) {
        if (lt == null || w.int8() || w.w8a8()) {
            return 0;
        }
        CublasLt.Plan p = ltPlans[w.shape()][bucketIndex];
        if (p == null) {
            p = ltPlans[w.shape()][bucketIndex] = lt.plan(w.rows(), AutotunePolicy.BUCKETS[bucketIndex], w.cols(),
                    k.dtype().cudaDataType(), true);
        }
        return p.algorithms();
    }

    /** Benchmark switch: tuned cuBLASLt choices on (default) or replaced by cublasGemmEx. */
    void setLt(boolean on) {
        ltOn = on;
    }

    private void dequantThenCublas(long x, DeviceMatrix w, long y, int tokens, boolean fp32Out) {
        int in = w.cols();
        int chunk = (int) Math.min(w.rows(), scratchBytes / ((long) in * elementBytes));
        if (chunk < 1) {
            throw new IllegalStateException("no INT8 dequantization scratch for " + w.rows() + " x " + in);
        }
        int groups = w.groups();
        for (int r0 = 0; r0 < w.rows(); r0 += chunk) {
            int rows = Math.min(chunk, w.rows() - r0);
            k.dequantW8(w.data() + (long) r0 * in, w.scales() + 4L * r0 * groups, scratch, rows, in, w.group());
            cublas.linearRows(x, scratch, y, tokens, in, w.rows(), r0, rows, fp32Out);
        }
    }

    /** W8A8 matrices go through {@code g} for every token count (their signed bytes serve no other kernel). */
    void useW8a8(W8a8Gemm g) {
        this.w8a8 = g;
    }

    /** Keeps the GPU busy for {@code ns} (timing: the host queues work meanwhile). */
    void spin(long ns) {
        k.spin(ns);
    }

    /** Sets a tuned choice; a cuBLASLt algorithm that is not offered here (another cuBLAS, no cuBLASLt) becomes cuBLAS. */
    void choose(DeviceMatrix w, int bucketIndex, ProjectionKernel kernel) {
        boolean offered = !kernel.lt() || kernel.ltRank() < ltAlgorithms(w, bucketIndex);
        tuned[w.shape()][bucketIndex] = offered ? kernel : ProjectionKernel.CUBLAS;
    }

    ProjectionKernel tunedChoice(int shape, int bucketIndex) {
        return tuned[shape][bucketIndex];
    }

    /** Benchmark switch: tuned choices on/off, and the 16-bit GEMV fallback on/off (off = the large GEMM only). */
    void setPaths(boolean tunedOn, boolean gemv) {
        this.useTuned = tunedOn;
        this.gemvOn = gemv;
    }

    /** Benchmark and test switch: the SwiGLU in the gate|up kernel's epilogue (on) or in its own kernel (off). */
    void setFusedSwiglu(boolean on) {
        fuseSwiglu = on;
    }

    /** Benchmark and test switch: the gate|up GEMM's output in the run dtype (on, default) or FP32 (off). */
    void setGateUp16(boolean on) {
        gateUp16 = on;
    }

    boolean fusedSwiglu() {
        return fuseSwiglu;
    }

    /** Gate|up projections run with the SwiGLU in their epilogue so far. */
    long fusedSwigluLaunches() {
        return fusedSwigluLaunches;
    }

    String describe(boolean int8, int tunedCount) {
        String large = gemm == GemmChoice.MMA ? mma.describe() : cublas.describe();
        return (int8 ? "INT8 skinny tensor-core GEMM / GEMV up to " + CudaKernels.SKINNY_MAX_TOKENS + " tokens, else dequantize + "
                + cublas.describe()
                : (decodeGemv ? "GEMV kernel for 1.." + DecodeGemm.DEFAULT_MAX_TOKENS + " tokens, else " : "") + large)
                + (tunedCount > 0 ? "; autotuned choices for " + tunedCount + " (shape, bucket) pairs" : "");
    }
}
