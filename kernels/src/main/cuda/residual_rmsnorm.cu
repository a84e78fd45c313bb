// RMSNorm kernels of the forward pass, one block per token row. The residual stream is FP32 (precision of
// the running sum across layers), and so is delta, the FP32 output of the o_proj / down_proj GEMM; the
// normalized output feeding the next GEMM is the activation dtype T; norm weights are FP32.
// Memory access: each thread reads its strided slice of the row once (coalesced: consecutive threads read
// consecutive elements), keeps the values in registers (at most kMaxPerThread per thread, so
// hidden <= kMaxPerThread * blockDim), reduces the sum of squares in FP32 through warp shuffles and one
// shared-memory pass, then writes the normalized row once. residual_rmsnorm also writes the new residual
// back in place: one read of delta and residual, one write of residual and out per element.
#include "common.cuh"

namespace llmc_norms {
using namespace llmc;

constexpr int kMaxPerThread = 16;

// This thread's norm weights (constant during a step), loaded before pdl_wait() so that they are in registers when the
// previous kernel's output arrives; then the wait (see common.cuh).
__device__ __forceinline__ void weights_then_wait(const float* __restrict__ weight, int hidden, float (&w)[kMaxPerThread]) {
#pragma unroll
  for (int n = 0, i = threadIdx.x; n < kMaxPerThread && i < hidden; ++n, i += blockDim.x) w[n] = weight[i];
  pdl_wait();
  pdl_launch_dependents();
}

// out = rmsnorm(x) * weight. x: [rows][hidden] FP32.
template <typename T>
__device__ void rmsnorm(const float* __restrict__ x, const float* __restrict__ weight, T* __restrict__ out,
                        int hidden, float eps) {
  float wts[kMaxPerThread];
  weights_then_wait(weight, hidden, wts);
  const size_t row = blockIdx.x;
  const float* xr = x + row * hidden;
  float vals[kMaxPerThread];
  float sumsq = 0.f;
#pragma unroll
  for (int n = 0, i = threadIdx.x; n < kMaxPerThread && i < hidden; ++n, i += blockDim.x) {
    vals[n] = xr[i];
    sumsq += vals[n] * vals[n];
  }
  float inv = rsqrtf(block_sum(sumsq) / hidden + eps);
#pragma unroll
  for (int n = 0, i = threadIdx.x; n < kMaxPerThread && i < hidden; ++n, i += blockDim.x) out[row * hidden + i] = from_float<T>(wts[n] * (vals[n] * inv));
}

// residual += delta; out = rmsnorm(residual) * weight. delta and residual: [rows][hidden] FP32.
template <typename T>
__device__ void residual_rmsnorm(const float* __restrict__ delta, float* __restrict__ residual,
                                 const float* __restrict__ weight, T* __restrict__ out, int hidden, float eps) {
  float wts[kMaxPerThread];
  weights_then_wait(weight, hidden, wts);
  const size_t row = blockIdx.x;
  float* rr = residual + row * hidden;
  const float* dr = delta + row * hidden;
  float vals[kMaxPerThread];
  float sumsq = 0.f;
#pragma unroll
  for (int n = 0, i = threadIdx.x; n < kMaxPerThread && i < hidden; ++n, i += blockDim.x) {
    float s = rr[i] + dr[i];
    rr[i] = s;
    vals[n] = s;
    sumsq += s * s;
  }
  float inv = rsqrtf(block_sum(sumsq) / hidden + eps);
#pragma unroll
  for (int n = 0, i = threadIdx.x; n < kMaxPerThread && i < hidden; ++n, i += blockDim.x) out[row * hidden + i] = from_float<T>(wts[n] * (vals[n] * inv));
}

// The final norm, only for the rows that need logits: out[r] = rmsnorm(residual[rows[r]] + delta[rows[r]]).
// The residual is not written (nothing reads it after the last layer). Grid: one block per logits row.
template <typename T>
__device__ void gather_residual_rmsnorm(const float* __restrict__ delta, const float* __restrict__ residual,
                                        const int* __restrict__ rows, const float* __restrict__ weight,
                                        T* __restrict__ out, int hidden, float eps) {
  float wts[kMaxPerThread];
  weights_then_wait(weight, hidden, wts);
  const size_t src = rows[blockIdx.x];
  float vals[kMaxPerThread];
  float sumsq = 0.f;
#pragma unroll
  for (int n = 0, i = threadIdx.x; n < kMaxPerThread && i < hidden; ++n, i += blockDim.x) {
    float s = residual[src * hidden + i] + delta[src * hidden + i];
    vals[n] = s;
    sumsq += s * s;
  }
  float inv = rsqrtf(block_sum(sumsq) / hidden + eps);
#pragma unroll
  for (int n = 0, i = threadIdx.x; n < kMaxPerThread && i < hidden; ++n, i += blockDim.x)
    out[(size_t)blockIdx.x * hidden + i] = from_float<T>(wts[n] * (vals[n] * inv));
}

}  // namespace llmc_norms

#define LLMC_NORMS(S, T)                                                                                      \
  extern "C" __global__ void rmsnorm_##S(const float* x, const float* weight, T* out, int hidden, float eps) { \
    llmc_norms::rmsnorm<T>(x, weight, out, hidden, eps);                                                                   \
  }                                                                                                            \
  extern "C" __global__ void residual_rmsnorm_##S(const float* delta, float* residual, const float* weight, T* out, \
                                                  int hidden, float eps) {                                     \
    llmc_norms::residual_rmsnorm<T>(delta, residual, weight, out, hidden, eps);                                            \
  }                                                                                                            \
  extern "C" __global__ void gather_residual_rmsnorm_##S(const float* delta, const float* residual, const int* rows, \
                                                         const float* weight, T* out, int hidden, float eps) {  \
    llmc_norms::gather_residual_rmsnorm<T>(delta, residual, rows, weight, out, hidden, eps);                               \
  }
LLMC_FOR_DTYPES(LLMC_NORMS)
