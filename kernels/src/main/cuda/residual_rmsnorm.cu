// RMSNorm kernels of the forward pass, one block per token row (rows of a multiple of 4 take norm_row_vec below). The residual stream is FP32 (precision of
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
constexpr int kMaxVec = kMaxPerThread / 4;

// The vector path (hidden % 4 == 0; the host then launches ceil(hidden / 16) threads, rounded to a warp): each thread
// holds up to kMaxVec float4 of the row in registers (unrolled, so the array never goes to local memory), 16-byte
// loads and stores of the FP32 rows, 8-byte stores of the 16-bit output; the norm weights are loaded before the
// reduction so that their latency overlaps it. One row = `a` (+ `b` when not null), written back to `back` when not
// null; out = rmsnorm(row) * weight.
template <typename T>
__device__ __forceinline__ void norm_row_vec(const float* a, const float* __restrict__ b, float* back, const float* __restrict__ weight,
                                             T* __restrict__ out, int hidden, float eps) {
  const int h4 = hidden >> 2;
  float4 v[kMaxVec], w[kMaxVec];
  float sumsq = 0.f;
#pragma unroll
  for (int k = 0; k < kMaxVec; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < h4) {
      float4 x = reinterpret_cast<const float4*>(a)[i];
      if (b != nullptr) {
        const float4 d = reinterpret_cast<const float4*>(b)[i];
        x = make_float4(x.x + d.x, x.y + d.y, x.z + d.z, x.w + d.w);
      }
      if (back != nullptr) reinterpret_cast<float4*>(back)[i] = x;
      v[k] = x;
      w[k] = reinterpret_cast<const float4*>(weight)[i];
      sumsq += x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w;
    }
  }
  const float inv = rsqrtf(block_sum(sumsq) / hidden + eps);
#pragma unroll
  for (int k = 0; k < kMaxVec; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < h4) {
      __align__(8) T o[4] = {from_float<T>(w[k].x * (v[k].x * inv)), from_float<T>(w[k].y * (v[k].y * inv)),
                             from_float<T>(w[k].z * (v[k].z * inv)), from_float<T>(w[k].w * (v[k].w * inv))};
      *reinterpret_cast<uint2*>(out + 4 * i) = *reinterpret_cast<const uint2*>(o);
    }
  }
}

// out = rmsnorm(x) * weight. x: [rows][hidden] FP32.
template <typename T>
__device__ void rmsnorm(const float* __restrict__ x, const float* __restrict__ weight, T* __restrict__ out,
                        int hidden, float eps) {
  const size_t row = blockIdx.x;
  const float* xr = x + row * hidden;
  if ((hidden & 3) == 0) {
    norm_row_vec<T>(xr, nullptr, nullptr, weight, out + row * hidden, hidden, eps);
    return;
  }
  float vals[kMaxPerThread];
  float sumsq = 0.f;
  int n = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x, ++n) {
    vals[n] = xr[i];
    sumsq += vals[n] * vals[n];
  }
  float inv = rsqrtf(block_sum(sumsq) / hidden + eps);
  n = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x, ++n) out[row * hidden + i] = from_float<T>(weight[i] * (vals[n] * inv));
}

// residual += delta; out = rmsnorm(residual) * weight. delta and residual: [rows][hidden] FP32.
template <typename T>
__device__ void residual_rmsnorm(const float* __restrict__ delta, float* __restrict__ residual,
                                 const float* __restrict__ weight, T* __restrict__ out, int hidden, float eps) {
  const size_t row = blockIdx.x;
  float* rr = residual + row * hidden;
  const float* dr = delta + row * hidden;
  if ((hidden & 3) == 0) {
    norm_row_vec<T>(rr, dr, rr, weight, out + row * hidden, hidden, eps);
    return;
  }
  float vals[kMaxPerThread];
  float sumsq = 0.f;
  int n = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x, ++n) {
    float s = rr[i] + dr[i];
    rr[i] = s;
    vals[n] = s;
    sumsq += s * s;
  }
  float inv = rsqrtf(block_sum(sumsq) / hidden + eps);
  n = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x, ++n) out[row * hidden + i] = from_float<T>(weight[i] * (vals[n] * inv));
}

// The final norm, only for the rows that need logits: out[r] = rmsnorm(residual[rows[r]] + delta[rows[r]]).
// The residual is not written (nothing reads it after the last layer). Grid: one block per logits row.
template <typename T>
__device__ void gather_residual_rmsnorm(const float* __restrict__ delta, const float* __restrict__ residual,
                                        const int* __restrict__ rows, const float* __restrict__ weight,
                                        T* __restrict__ out, int hidden, float eps) {
  const size_t src = rows[blockIdx.x];
  if ((hidden & 3) == 0) {
    norm_row_vec<T>(residual + src * hidden, delta + src * hidden, nullptr, weight, out + (size_t)blockIdx.x * hidden,
                    hidden, eps);
    return;
  }
  float vals[kMaxPerThread];
  float sumsq = 0.f;
  int n = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x, ++n) {
    float s = residual[src * hidden + i] + delta[src * hidden + i];
    vals[n] = s;
    sumsq += s * s;
  }
  float inv = rsqrtf(block_sum(sumsq) / hidden + eps);
  n = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x, ++n)
    out[(size_t)blockIdx.x * hidden + i] = from_float<T>(weight[i] * (vals[n] * inv));
}

}  // namespace llmc_norms

#define LLMC_NORMS(S, T)                                                                                      \
  extern "C" __global__ void rmsnorm_##S(const float* x, const float* weight, T* out, int hidden, float eps) { \
    llmc::pdl_wait(); llmc::pdl_launch_dependents();                                                           \
    llmc_norms::rmsnorm<T>(x, weight, out, hidden, eps);                                                                   \
  }                                                                                                            \
  extern "C" __global__ void residual_rmsnorm_##S(const float* delta, float* residual, const float* weight, T* out, \
                                                  int hidden, float eps) {                                     \
    llmc::pdl_wait(); llmc::pdl_launch_dependents();                                                           \
    llmc_norms::residual_rmsnorm<T>(delta, residual, weight, out, hidden, eps);                                            \
  }                                                                                                            \
  extern "C" __global__ void gather_residual_rmsnorm_##S(const float* delta, const float* residual, const int* rows, \
                                                         const float* weight, T* out, int hidden, float eps) {  \
    llmc::pdl_wait(); llmc::pdl_launch_dependents();                                                           \
    llmc_norms::gather_residual_rmsnorm<T>(delta, residual, rows, weight, out, hidden, eps);                               \
  }
LLMC_FOR_DTYPES(LLMC_NORMS)
