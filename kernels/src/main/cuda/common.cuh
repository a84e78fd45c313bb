// Shared helpers of the llmcluster kernels: FP16/BF16 <-> FP32 conversion, warp and block reductions, and
// the macro that stamps out one extern "C" entry point per activation dtype (suffix _f16 or _bf16).
// Memory access: none of its own (device functions only).
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>

namespace llmc {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the whole block (any blockDim that is a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  __shared__ float total;
  v = warp_sum(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  if (warp == 0) {
    v = lane < warps ? warp_sums[lane] : 0.f;
    v = warp_sum(v);
    if (lane == 0) total = v;
  }
  __syncthreads();
  float r = total;
  __syncthreads();  // total and warp_sums may be reused by a later call
  return r;
}

// Programmatic dependent launch (sm_90; see DependentLaunch.java). A kernel launched with the programmatic
// stream serialization attribute may start while the kernel before it still runs: it must call pdl_wait() before it
// reads that kernel's output or writes anything, and every such kernel calls it (so that its own completion still
// implies its predecessor's). pdl_launch_dependents() lets the next kernel start launching once every CTA of this one
// has called it (or exited). Both are no-ops on a normal launch and compile to nothing before sm_90.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// SwiGLU of one (gate, up) pair in FP32: silu(g) * u. One definition for silu_mul (swiglu.cu) and the fused
// epilogues of the projection kernels, so both paths round alike.
__device__ __forceinline__ float silu_times(float g, float u) { return g / (1.f + __expf(-g)) * u; }

// Slot of logical position p of a sequence whose block table row is `table`.
__device__ __forceinline__ int64_t kv_slot(const int* table, int p, int block_size) {
  return (int64_t)table[p / block_size] * block_size + p % block_size;
}

}  // namespace llmc

// LLMC_FOR_DTYPES(M) expands M(suffix, type) for both activation dtypes.
#define LLMC_FOR_DTYPES(M) M(f16, __half) M(bf16, __nv_bfloat16)
