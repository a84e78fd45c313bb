package io.llmcluster.worker.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Which kernels may launch as programmatic dependents, and when a launch gets the attribute (no GPU needed). */
class DependentLaunchTest {
    @Test
    void shouldTreatExactlyTheKernelsThatWaitAsAware() {
        for (String k : new String[] {"gemv_f16_r1", "gemv_w8_bf16_r8", "gemv_swiglu_f16_r2", "gemv_w8_swiglu_bf16_r4", "gemv1_f16_r1", "gemv1_w8_swiglu_bf16_r8", "gemv1p_f16_r2", "gemv1p_swiglu_bf16_r4", "skinny_f16_r4_n2", "skinny_w8_bf16_r1_n8",
            "rmsnorm_f16", "residual_rmsnorm_bf16", "gather_residual_rmsnorm_f16", "rope_kv_write_f16", "silu_mul_bf16",
            "embedding_gather_f16"}) {
            assertTrue(DependentLaunch.awareKernel(k), k);
        }
        for (String k : new String[] {"gemm_mma_f16", "gemm_mma_any_bf16", "decode_attention_f16_d128", "dequant_w8_f16",
            "prefill_attention_mma_f16_d128_v2", "argmax_f32", "sample_f32", "gemv_f16_r3", "gemv_w8a8_f16_r1", "gemv_swiglu_f16_r16", "gemv1_w8a8_f16_r1", "gemv2_f16_r1", "gemv1p_f16_r3", "gemv1p_w8_f16_r2",
            "skinny_f16_r4_n16", "add_bias_f32", "spin_ns", "quantize_w8_f16",
            "decode_attention_reduce_f16", "decode_attention_mma_bf16_d128"}) { // they wait, but measured slower as dependents
            assertFalse(DependentLaunch.awareKernel(k), k);
        }
    }

    @Test
    void shouldLaunchAsDependentOnlyInsideAStepAfterOneOfOurKernels() {
        DependentLaunch d = new DependentLaunch(9, 0); // on this machine the binding is absent: supported() decides
        boolean on = d.supported();
        assertFalse(d.nextIsDependent(true), "outside a step");
        d.beginStep();
        assertFalse(d.nextIsDependent(true), "the first kernel of a step follows copies");
        assertEquals(on, d.nextIsDependent(true), "after one of our kernels");
        assertFalse(d.nextIsDependent(false), "a kernel that does not wait");
        assertEquals(on, d.nextIsDependent(true), "after a kernel that does not wait, which still ran in order");
        d.foreignWorkQueued();
        assertFalse(d.nextIsDependent(true), "after cuBLAS");
        d.setEnabled(false);
        assertFalse(d.nextIsDependent(true), "switched off");
        d.setEnabled(true);
        d.endStep();
        assertFalse(d.nextIsDependent(true), "after the step");
        assertFalse(new DependentLaunch(8, 0).supported(), "sm_80 has no programmatic launches");
    }
}
