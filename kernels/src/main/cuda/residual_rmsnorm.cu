// Fused residual add + RMSNorm, one block per token row.
// Memory access: each thread reads its strided slice of x and residual once (coalesced, 2-byte
// elements), adds them, writes the sum back to residual (the new residual stream), keeps the sum in
// registers for the reduction, then writes normalized * weight to out. One read and two writes per
// element; the sum of squares is reduced in FP32 through warp shuffles and one shared-memory pass.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

namespace {

__device__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? warp_sums[threadIdx.x] : 0.f;
  if (warp == 0)
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  __shared__ float total;
  if (threadIdx.x == 0) total = v;
  __syncthreads();
  return total;
}

// Each thread holds at most kMaxPerThread elements of its row in registers (hidden <= 16 * blockDim).
constexpr int kMaxPerThread = 16;

template <typename T>
__device__ void residual_rmsnorm(const T* __restrict__ x, T* __restrict__ residual,
                                 const T* __restrict__ weight, T* __restrict__ out, int hidden, float eps) {
  const size_t row = blockIdx.x;
  const T* xr = x + row * hidden;
  T* rr = residual + row * hidden;
  T* outr = out + row * hidden;
  float vals[kMaxPerThread];
  float sumsq = 0.f;
  int n = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x, ++n) {
    float s = float(xr[i]) + float(rr[i]);
    rr[i] = T(s);
    vals[n] = s;
    sumsq += s * s;
  }
  float inv = rsqrtf(block_sum(sumsq) / hidden + eps);
  n = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x, ++n) outr[i] = T(vals[n] * inv * float(weight[i]));
}

}  // namespace

extern "C" __global__ void residual_rmsnorm_f16(const __half* x, __half* residual, const __half* weight,
                                                __half* out, int hidden, float eps) {
  residual_rmsnorm(x, residual, weight, out, hidden, eps);
}

extern "C" __global__ void residual_rmsnorm_bf16(const __nv_bfloat16* x, __nv_bfloat16* residual,
                                                 const __nv_bfloat16* weight, __nv_bfloat16* out, int hidden,
                                                 float eps) {
  residual_rmsnorm(x, residual, weight, out, hidden, eps);
}
