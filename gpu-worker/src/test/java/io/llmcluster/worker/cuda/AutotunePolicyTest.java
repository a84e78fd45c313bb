package io.llmcluster.worker.cuda;

import static io.llmcluster.worker.cuda.ProjectionKernel.CUBLAS;
import static io.llmcluster.worker.cuda.ProjectionKernel.GEMV_R1;
import static io.llmcluster.worker.cuda.ProjectionKernel.GEMV_R2;
import static io.llmcluster.worker.cuda.ProjectionKernel.GEMV_R4;
import static io.llmcluster.worker.cuda.ProjectionKernel.GEMV_R8;
import static io.llmcluster.worker.cuda.ProjectionKernel.GEMV1P_R1;
import static io.llmcluster.worker.cuda.ProjectionKernel.GEMV1P_R2;
import static io.llmcluster.worker.cuda.ProjectionKernel.GEMV1P_R4;
import static io.llmcluster.worker.cuda.ProjectionKernel.LT_0;
import static io.llmcluster.worker.cuda.ProjectionKernel.LT_1;
import static io.llmcluster.worker.cuda.ProjectionKernel.LT_2;
import static io.llmcluster.worker.cuda.ProjectionKernel.LT_3;
import static io.llmcluster.worker.cuda.ProjectionKernel.LT_4;
import static io.llmcluster.worker.cuda.ProjectionKernel.LT_5;
import static io.llmcluster.worker.cuda.ProjectionKernel.MMA;
import static io.llmcluster.worker.cuda.ProjectionKernel.SKINNY_R1;
import static io.llmcluster.worker.cuda.ProjectionKernel.SKINNY_R2;
import static io.llmcluster.worker.cuda.ProjectionKernel.SKINNY_R4;
import static io.llmcluster.worker.cuda.ProjectionKernel.SKINNY_R8;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_SKINNY_R1;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_SKINNY_R2;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_SKINNY_R4;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_SKINNY_R8;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_DEQUANT_CUBLAS;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_GEMV_R1;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_GEMV_R2;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_GEMV_R4;
import static io.llmcluster.worker.cuda.ProjectionKernel.W8_GEMV_R8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The autotuner's policy and cache, without a GPU: exact buckets, candidates, choices, keys and files. */
class AutotunePolicyTest {
    @Test
    void shouldPutTokenCountsInTheSmallestBucketThatHoldsThem() {
        assertEquals(-1, AutotunePolicy.bucketIndex(0));
        assertEquals(0, AutotunePolicy.bucketIndex(1));
        assertEquals(1, AutotunePolicy.bucketIndex(2));
        assertEquals(2, AutotunePolicy.bucketIndex(3));
        assertEquals(3, AutotunePolicy.bucketIndex(8));
        assertEquals(4, AutotunePolicy.bucketIndex(9));
        assertEquals(6, AutotunePolicy.bucketIndex(64));
        assertEquals(7, AutotunePolicy.bucketIndex(65));
        assertEquals(7, AutotunePolicy.bucketIndex(128));
        assertEquals(8, AutotunePolicy.bucketIndex(129));
        assertEquals(9, AutotunePolicy.bucketIndex(512));
        assertEquals(-1, AutotunePolicy.bucketIndex(513));
    }

    @Test
    void shouldOfferTheCublasLtAlgorithmsFrom65TokensOnFor16BitWeightsOnly() {
        assertEquals(List.of(CUBLAS, MMA, LT_0, LT_1, LT_2, LT_3, LT_4, LT_5), AutotunePolicy.candidates(false, 0, 128, 4096));
        assertEquals(List.of(CUBLAS, MMA, LT_0, LT_1, LT_2, LT_3, LT_4, LT_5), AutotunePolicy.candidates(false, 0, 512, 4100));
        assertEquals(List.of(W8_DEQUANT_CUBLAS), AutotunePolicy.candidates(true, 0, 256, 4096));
        assertEquals(List.of(0, 3, 5, -1), List.of(LT_0.ltRank(), LT_3.ltRank(), LT_5.ltRank(), CUBLAS.ltRank()));
        assertEquals(LT_4, ProjectionKernel.ofLabel("lt-4"));
    }

    @Test
    void shouldApplyATunedCublasLtAlgorithmOnlyAtItsBucketsExactTokenCount() {
        assertEquals(true, AutotunePolicy.tunedApplies(LT_2, 256, 256));
        assertEquals(false, AutotunePolicy.tunedApplies(LT_2, 200, 256));
        assertEquals(true, AutotunePolicy.tunedApplies(CUBLAS, 200, 256));
        assertEquals(true, AutotunePolicy.tunedApplies(SKINNY_R4, 33, 64));
    }

    @Test
    void shouldOfferTheGemvConfigsUpToEightTokensTheSkinnyGemmsUpTo64AndEachOnlyForItsWeightFormat() {
        assertEquals(List.of(CUBLAS, MMA, GEMV_R1, GEMV_R2, GEMV_R4, GEMV_R8, SKINNY_R1, SKINNY_R2, SKINNY_R4, SKINNY_R8),
                AutotunePolicy.candidates(false, 0, 8, 4096));
        assertEquals(List.of(CUBLAS, MMA, SKINNY_R1, SKINNY_R2, SKINNY_R4, SKINNY_R8), AutotunePolicy.candidates(false, 0, 64, 4096));
        assertEquals(List.of(CUBLAS, MMA, GEMV_R1, GEMV_R2, GEMV_R4, GEMV_R8, GEMV1P_R1, GEMV1P_R2, GEMV1P_R4),
                AutotunePolicy.candidates(false, 0, 1, 4104)); // one token: also the pipelined GEMVs
        assertEquals(List.of(CUBLAS, MMA, GEMV_R1, GEMV_R2, GEMV_R4, GEMV_R8, SKINNY_R1, SKINNY_R2, SKINNY_R4, SKINNY_R8),
                AutotunePolicy.candidates(false, 0, 2, 4096)); // two tokens: not them
        assertEquals(List.of(CUBLAS, MMA), AutotunePolicy.candidates(false, 0, 1, 4100)); // rows of whole 16-byte vectors only
        assertEquals(List.of(W8_GEMV_R1, W8_GEMV_R2, W8_GEMV_R4, W8_GEMV_R8, W8_SKINNY_R1, W8_SKINNY_R2, W8_SKINNY_R4, W8_SKINNY_R8,
                W8_DEQUANT_CUBLAS), AutotunePolicy.candidates(true, 128, 4, 4096));
        assertEquals(List.of(W8_SKINNY_R1, W8_SKINNY_R2, W8_SKINNY_R4, W8_SKINNY_R8, W8_DEQUANT_CUBLAS),
                AutotunePolicy.candidates(true, 14336, 32, 14336)); // per channel
        assertEquals(List.of(W8_GEMV_R1, W8_GEMV_R2, W8_GEMV_R4, W8_GEMV_R8, W8_DEQUANT_CUBLAS),
                AutotunePolicy.candidates(true, 32, 1, 4096)); // groups under 64 columns (and no pipelined INT8 GEMV): no skinny GEMM
        assertEquals(List.of(W8_DEQUANT_CUBLAS), AutotunePolicy.candidates(true, 96, 16, 4032)); // not a power of two
        assertEquals(List.of(W8_DEQUANT_CUBLAS), AutotunePolicy.candidates(true, 128, 65, 4096));
    }

    @Test
    void shouldFallBackToTheOldRuleWithoutATunedChoice() {
        assertEquals(GEMV_R1, AutotunePolicy.fallback(false, 0, 2, 4096, true, GemmChoice.AUTO));
        assertEquals(CUBLAS, AutotunePolicy.fallback(false, 0, 3, 4096, true, GemmChoice.AUTO));
        assertEquals(CUBLAS, AutotunePolicy.fallback(false, 0, 1, 4096, false, GemmChoice.AUTO));
        assertEquals(MMA, AutotunePolicy.fallback(false, 0, 1, 4096, false, GemmChoice.MMA));
        assertEquals(W8_SKINNY_R1, AutotunePolicy.fallback(true, 128, 64, 4096, false, GemmChoice.CUBLAS));
        assertEquals(W8_GEMV_R1, AutotunePolicy.fallback(true, 32, 8, 4096, true, GemmChoice.AUTO));
        assertEquals(W8_DEQUANT_CUBLAS, AutotunePolicy.fallback(true, 32, 9, 4096, true, GemmChoice.AUTO));
        assertEquals(W8_DEQUANT_CUBLAS, AutotunePolicy.fallback(true, 128, 65, 4096, true, GemmChoice.AUTO));
    }

    @Test
    void shouldChooseTheFastestAndBreakTiesByKernelOrderIgnoringNaN() {
        Map<ProjectionKernel, Double> us = new EnumMap<>(ProjectionKernel.class);
        us.put(GEMV_R4, 10.0);
        us.put(CUBLAS, 12.5);
        us.put(GEMV_R2, 10.0);
        us.put(MMA, Double.NaN);
        AutotunePolicy.Choice c = AutotunePolicy.choose(us);
        assertEquals(GEMV_R2, c.kernel());
        assertEquals("gemv-r2 10.00 us (cublas 12.50 = 1.25x slower, mma NaN = NaNx slower, gemv-r4 10.00 = 1.00x slower)",
                c.reason());
        assertThrows(IllegalArgumentException.class, () -> AutotunePolicy.choose(Map.of(MMA, Double.NaN)));
    }

    @Test
    void shouldKeyChoicesByDtypeWeightsShapeAndBucketAndFilesByGpuAndDriver() {
        assertEquals("f16 int8-g128 6144x4096 m4", AutotunePolicy.key(CudaDtype.F16, CudaQuantization.int8Groups(128), 6144, 4096, 4));
        assertEquals("bf16 none 4096x4096 m1", AutotunePolicy.key(CudaDtype.BF16, CudaQuantization.NONE, 4096, 4096, 1));
        assertEquals("autotune-nvidia-h200-580.159.04.json", AutotunePolicy.cacheFileName("NVIDIA H200", "580.159.04"));
        assertEquals("autotune-unknown-cuda13000.json", AutotunePolicy.cacheFileName(" ", "cuda13000"));
    }

    @Test
    void shouldRoundTripTheCacheFileAndIgnoreKernelsItDoesNotKnow(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("sub").resolve("autotune-x.json");
        AutotuneCache c = new AutotuneCache("NVIDIA H200", "580");
        c.put("f16 none 6144x4096 m1", AutotunePolicy.choose(Map.of(GEMV_R2, 21.304, CUBLAS, 28.1)));
        c.put("f16 int8-ch 4096x4096 m8", AutotunePolicy.choose(Map.of(W8_GEMV_R8, 9.0, W8_DEQUANT_CUBLAS, 30.0)));
        c.save(file);
        AutotuneCache back = AutotuneCache.load(file, "NVIDIA H200", "580");
        assertNull(back.loadProblem());
        assertEquals(2, back.size());
        assertEquals(GEMV_R2, back.get("f16 none 6144x4096 m1").kernel());
        assertEquals(21.3, back.get("f16 none 6144x4096 m1").micros().get(GEMV_R2));
        assertEquals(W8_GEMV_R8, back.get("f16 int8-ch 4096x4096 m8").kernel());
        Files.writeString(file, Files.readString(file).replace("\"gemv-r2\"", "\"gemv-r16\""));
        assertNull(AutotuneCache.load(file, "g", "d").get("f16 none 6144x4096 m1"));
        assertEquals(1, AutotuneCache.load(file, "g", "d").size());
    }

    @Test
    void shouldTreatAnUnreadableCacheAsEmptyWithANote(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("autotune-y.json");
        Files.writeString(file, "{ not json");
        AutotuneCache c = AutotuneCache.load(file, "g", "d");
        assertEquals(0, c.size());
        assertEquals(true, c.loadProblem().contains("unreadable"));
        assertEquals(0, AutotuneCache.load(dir.resolve("missing.json"), "g", "d").size());
    }
}
