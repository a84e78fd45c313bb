// Hopper (sm_90a) building blocks of prefill_attention_wgmma.cu: warpgroup MMA (wgmma.mma_async,
// FP16/BF16 in, FP32 accumulators) with operands in 128-byte-swizzled shared tiles described by 64-bit matrix
// descriptors (S = Q Kᵀ as m64n64k16 or m64n128k16, O += P V as m64n128k16), mbarriers (init, arrive, parity wait, the cp.async completion arrive), the async-proxy fence,
// named barriers and setmaxnreg. Only the sm_90a pass of the fatbin compiles it (the sm_80 pass and the
// compute_90 PTX would reject wgmma): everything is inside the guard below.
// Shared tile layout (the "128B swizzle" of the PTX ISA, section "Shared Memory Matrix Layout"): a tile of
// R rows x 128 16-bit columns is stored as two halves of R rows x 128 bytes (columns 0-63, then 64-127); inside a
// half, 16-byte chunk c of row r sits at r * 128 + ((c ^ (r % 8)) * 16); halves start 1024-byte aligned. Eight
// rows (1024 bytes) are one swizzle atom. wgmma reads such a tile
//   K-major (rows = M or N, the reduction runs along the row): stride between 8-row atoms 1024 bytes, a 16-column
//     k-step starts 32 bytes further inside the half (the hardware applies the XOR on the final address);
//   MN-major (rows = the reduction dim, columns = N): 8-row atoms along the reduction 1024 bytes apart, the second
//     64-column half (the next "leading" repeat) R * 128 bytes further; a 16-row k-step starts 2048 bytes further.
// Register fragments: per warp w of the warpgroup, rows 16w + lane/4 and +8, like mma.sync m16n8k16: accumulator
// element 4j + e holds (row g + 8 * (e / 2), column 8j + 2 * (lane % 4) + e % 2); the A operand from registers takes
// four 32-bit registers per 16-column k-step in the order of mma.sync's A fragment.
// Memory access: none of its own (device functions only).
#pragma once
#include "attention_mma.cuh"

#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
namespace llmc_wgmma {
using llmc_mma::smem_u32;

// Matrix descriptor of a 128-byte-swizzled tile at shared address `addr` (strides in bytes, see above).
__device__ __forceinline__ uint64_t desc_sw128(uint32_t addr, uint32_t leading, uint32_t stride) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((leading >> 4) & 0x3FFF) << 16) |
         ((uint64_t)((stride >> 4) & 0x3FFF) << 32) | (1ull << 62);
}

// Byte offset of 16-byte chunk c (0..15 over 128 columns) of row r in a swizzled tile of `rows` rows.
__device__ __forceinline__ uint32_t sw128_offset(int rows, int r, int c) {
  return (uint32_t)((c >> 3) * rows * 128 + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Keeps the compiler from moving uses of wgmma registers across the async issue / wait (CUTLASS does the same).
template <int N>
__device__ __forceinline__ void reg_fence(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void reg_fence(uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i])::"memory");
}

#define LLMC_WG_D8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
                      "+f"(d[i + 6]), "+f"(d[i + 7])
#define LLMC_WG_D64 LLMC_WG_D8(0), LLMC_WG_D8(8), LLMC_WG_D8(16), LLMC_WG_D8(24), LLMC_WG_D8(32), LLMC_WG_D8(40), \
                    LLMC_WG_D8(48), LLMC_WG_D8(56)
#define LLMC_WG_R64                                                                  \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "          \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

#define LLMC_WG_D32 LLMC_WG_D8(0), LLMC_WG_D8(8), LLMC_WG_D8(16), LLMC_WG_D8(24)
#define LLMC_WG_R32                                                                  \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "          \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"

// d (64 x 64, FP32) = A (64 x 16, K-major in shared memory) * B (16 x 64, K-major) + (accumulate ? d : 0)
#define LLMC_WG_SS(TY)                                                                                           \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                                      \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " LLMC_WG_R32 ", %32, %33, p, 1, 1, 0, 0;\n}\n" \
               : LLMC_WG_D32                                                                                     \
               : "l"(a), "l"(b), "r"(accumulate))
template <typename T>
__device__ __forceinline__ void mma_ss(float (&d)[32], uint64_t a, uint64_t b, int accumulate);
template <typename T>
__device__ __forceinline__ void mma_ss(float (&d)[64], uint64_t a, uint64_t b, int accumulate);
template <>
__device__ __forceinline__ void mma_ss<__half>(float (&d)[32], uint64_t a, uint64_t b, int accumulate) {
  LLMC_WG_SS("f16");
}
template <>
__device__ __forceinline__ void mma_ss<__nv_bfloat16>(float (&d)[32], uint64_t a, uint64_t b, int accumulate) {
  LLMC_WG_SS("bf16");
}

// d (64 x 128, FP32) = A (64 x 16, K-major in shared memory) * B (16 x 128, K-major) + (accumulate ? d : 0)
#define LLMC_WG_SS128(TY)                                                                                        \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                                     \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " " LLMC_WG_R64 ", %64, %65, p, 1, 1, 0, 0;\n}\n" \
               : LLMC_WG_D64                                                                                     \
               : "l"(a), "l"(b), "r"(accumulate))
template <>
__device__ __forceinline__ void mma_ss<__half>(float (&d)[64], uint64_t a, uint64_t b, int accumulate) {
  LLMC_WG_SS128("f16");
}
template <>
__device__ __forceinline__ void mma_ss<__nv_bfloat16>(float (&d)[64], uint64_t a, uint64_t b, int accumulate) {
  LLMC_WG_SS128("bf16");
}

// d (64 x 128, FP32) += A (64 x 16 from registers) * B (16 x 128, MN-major in shared memory: imm-trans-b = 1)
#define LLMC_WG_RS(TY)                                                                                           \
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " " LLMC_WG_R64                          \
               ", {%64, %65, %66, %67}, %68, 1, 1, 1, 1;\n"                                                      \
               : LLMC_WG_D64                                                                                     \
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "l"(b))
template <typename T>
__device__ __forceinline__ void mma_rs(float (&d)[64], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint64_t b);
template <>
__device__ __forceinline__ void mma_rs<__half>(float (&d)[64], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                               uint64_t b) {
  LLMC_WG_RS("f16");
}
template <>
__device__ __forceinline__ void mma_rs<__nv_bfloat16>(float (&d)[64], uint32_t a0, uint32_t a1, uint32_t a2,
                                                      uint32_t a3, uint64_t b) {
  LLMC_WG_RS("bf16");
}

__device__ __forceinline__ void mbar_init(uint64_t* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}

// One arrival on `bar` once every cp.async this thread issued so far has landed (the count was set for it).
__device__ __forceinline__ void mbar_arrive_cp_async(uint64_t* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}

// Waits for the phase of parity `parity` to complete. A pipeline bug would hang the GPU; after ~2^26 tries
// (seconds; a real wait takes microseconds) it stores to address 0 instead, so the launch fails with an illegal
// address error. Not __trap(): ptxas 13.0 then drops the setmaxnreg register budget of the code around it (the
// consumers stayed at the launch's 168 registers and 128-key score tiles spilled); a plain store keeps it.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, int parity) {
  uint32_t done, tries = 0;
  do {
    if (++tries == (1u << 26)) asm volatile("st.global.u32 [%0], 0;\n" ::"l"(0ull) : "memory");
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_u32(bar)), "r"(parity)
        : "memory");
  } while (!done);
}

// Shared-memory writes of the generic proxy (cp.async, st.shared) become visible to wgmma (the async proxy).
__device__ __forceinline__ void fence_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

__device__ __forceinline__ void named_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

template <int N>
__device__ __forceinline__ void regs_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void regs_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}

}  // namespace llmc_wgmma
#endif
