// W8A8 SmoothQuant: the kernels around cuBLAS's INT8 x INT8 -> INT32 tensor-core GEMM (gpu-worker's W8a8Gemm).
//   col_absmax_*       per-column max |x| over rows, folded into an FP32 vector with atomicMax (calibration of the
//                      activations at load; the weights' column maxima for the smoothing factors)
//   quantize_w8s_*     load time: weight rows times the per-column smoothing factor s_j, then symmetric INT8 per
//                      output row (scale = max|w s| / 127, q = rint(w s / scale), clamp +-127), two's complement
//   quantize_act_*     per step: each token row of a projection input to INT8 with its own scale (max|x| / 127)
//   w8a8_epilogue      in place: the GEMM's INT32 accumulators -> FP32 acc * tokenScale[t] * channelScale[o]
//   w8a8_silu_mul_*    the epilogue of the gate|up GEMM fused into SwiGLU: INT32 gate and up accumulators -> the
//                      down projection's 16-bit input, with exactly the roundings of w8a8_epilogue + silu_mul
//                      (swiglu.cu), without writing and re-reading the FP32 gate|up rows
// IEEE division and rintf, so gpu-worker's twin W8a8Rows gives the same bytes and scales bit for bit.
// Memory access: col_absmax reads rows coalesced across columns (one column per thread); quantize_w8s one warp per
// row, two coalesced passes; quantize_act one 256-thread block per token with 16-byte loads and 8-byte stores
// (cols % 8 == 0), the second pass hits L1/L2; the epilogue streams 16-byte int4/float4 words.
#include "common.cuh"

namespace llmc_w8a8 {

__device__ __forceinline__ float block_max(float v) {
  __shared__ float warp_max_[32];
  __shared__ float total;
  v = llmc::warp_max(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_max_[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)((blockDim.x + 31) >> 5) ? warp_max_[lane] : 0.f;
    v = llmc::warp_max(v);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

__device__ __forceinline__ int8_t quant(float v, float scale) {
  return (int8_t)(int)(scale == 0.f ? 0.f : fminf(127.f, fmaxf(-127.f, rintf(__fdiv_rn(v, scale)))));
}

}  // namespace llmc_w8a8

// out[c] = max(out[c], max_r |x[r][c]|). Non-negative floats order like their bit patterns, so an int atomicMax
// merges the blocks. grid.x = ceil(cols / 256), grid.y splits the rows.
#define LLMC_COL_ABSMAX(S, T)                                                                                 \
  extern "C" __global__ void __launch_bounds__(256) col_absmax_##S(const T* __restrict__ x,                   \
      float* __restrict__ out, int rows, int cols) {                                                          \
    const int c = blockIdx.x * 256 + threadIdx.x;                                                             \
    if (c >= cols) return;                                                                                    \
    float m = 0.f;                                                                                            \
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) m = fmaxf(m, fabsf(llmc::to_float(x[r * cols + c]))); \
    atomicMax(reinterpret_cast<int*>(out) + c, __float_as_int(m));                                            \
  }
LLMC_FOR_DTYPES(LLMC_COL_ABSMAX)

// Weight rows [rows][cols] (run dtype) times smooth[c] (FP32; null = 1) to signed INT8 [rows][cols] with one FP32
// scale per row. One warp per row; grid.x = ceil(rows / 8).
#define LLMC_QUANTIZE_W8S(S, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(256) quantize_w8s_##S(const T* __restrict__ w,                 \
      const float* __restrict__ smooth, int8_t* __restrict__ q, float* __restrict__ scales, int rows, int cols) { \
    const long long r = (long long)blockIdx.x * 8 + (threadIdx.x >> 5);                                       \
    const int lane = threadIdx.x & 31;                                                                        \
    if (r >= rows) return;                                                                                    \
    const T* wr = w + r * cols;                                                                               \
    float m = 0.f;                                                                                            \
    for (int c = lane; c < cols; c += 32) {                                                                   \
      const float v = smooth ? __fmul_rn(llmc::to_float(wr[c]), smooth[c]) : llmc::to_float(wr[c]);           \
      m = fmaxf(m, fabsf(v));                                                                                 \
    }                                                                                                         \
    m = llmc::warp_max(m);                                                                                    \
    const float scale = __fdiv_rn(m, 127.f);                                                                  \
    if (lane == 0) scales[r] = scale;                                                                         \
    for (int c = lane; c < cols; c += 32) {                                                                   \
      const float v = smooth ? __fmul_rn(llmc::to_float(wr[c]), smooth[c]) : llmc::to_float(wr[c]);           \
      q[r * cols + c] = llmc_w8a8::quant(v, scale);                                                           \
    }                                                                                                         \
  }
LLMC_FOR_DTYPES(LLMC_QUANTIZE_W8S)

// x [tokens][cols] (run dtype, cols % 8 == 0) to signed INT8 q [tokens][cols] and FP32 scales[t] = max|x_t| / 127.
// One 256-thread block per token.
#define LLMC_QUANTIZE_ACT(S, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(256) quantize_act_##S(const T* __restrict__ x,                 \
      int8_t* __restrict__ q, float* __restrict__ scales, int cols) {                                         \
    const long long t = blockIdx.x;                                                                           \
    const uint4* xr = reinterpret_cast<const uint4*>(x + t * cols);                                           \
    const int vecs = cols / 8;                                                                                \
    float m = 0.f;                                                                                            \
    for (int i = threadIdx.x; i < vecs; i += 256) {                                                           \
      const uint4 u = xr[i];                                                                                  \
      const T* e = reinterpret_cast<const T*>(&u);                                                            \
      _Pragma("unroll") for (int j = 0; j < 8; ++j) m = fmaxf(m, fabsf(llmc::to_float(e[j])));                \
    }                                                                                                         \
    m = llmc_w8a8::block_max(m);                                                                              \
    const float scale = __fdiv_rn(m, 127.f);                                                                  \
    if (threadIdx.x == 0) scales[t] = scale;                                                                  \
    uint2* qr = reinterpret_cast<uint2*>(q + t * cols);                                                       \
    for (int i = threadIdx.x; i < vecs; i += 256) {                                                           \
      const uint4 u = xr[i];                                                                                  \
      const T* e = reinterpret_cast<const T*>(&u);                                                            \
      alignas(8) int8_t o[8];                                                                                 \
      _Pragma("unroll") for (int j = 0; j < 8; ++j) o[j] = llmc_w8a8::quant(llmc::to_float(e[j]), scale);     \
      qr[i] = *reinterpret_cast<uint2*>(o);                                                                   \
    }                                                                                                         \
  }
LLMC_FOR_DTYPES(LLMC_QUANTIZE_ACT)

// In place over y [tokens][out] (out % 4 == 0): INT32 accumulators -> FP32 (float)acc * tokenScale[t] * channelScale[o].
extern "C" __global__ void __launch_bounds__(256) w8a8_epilogue(int* __restrict__ y,
    const float* __restrict__ token_scales, const float* __restrict__ channel_scales, int tokens, int out) {
  const long long quads = (long long)tokens * (out / 4);
  for (long long i = blockIdx.x * 256LL + threadIdx.x; i < quads; i += (long long)gridDim.x * 256) {
    const long long t = i / (out / 4);
    const int o = (int)(i - t * (out / 4)) * 4;
    const int4 a = reinterpret_cast<const int4*>(y)[i];
    const float ts = token_scales[t];
    const float4 cs = *reinterpret_cast<const float4*>(channel_scales + o);
    float4 r;
    r.x = __fmul_rn(__fmul_rn((float)a.x, ts), cs.x);
    r.y = __fmul_rn(__fmul_rn((float)a.y, ts), cs.y);
    r.z = __fmul_rn(__fmul_rn((float)a.z, ts), cs.z);
    r.w = __fmul_rn(__fmul_rn((float)a.w, ts), cs.w);
    reinterpret_cast<float4*>(y)[i] = r;
  }
}

// act[t][c] = silu(g) * u with g = (float)acc[t][c] * ts[t] * cs[c], u = (float)acc[t][inter + c] * ts[t] * cs[inter + c]
// (acc [tokens][2 * inter] INT32, inter % 4 == 0); silu as swiglu.cu computes it.
#define LLMC_W8A8_SILU_MUL(S, T)                                                                              \
  extern "C" __global__ void __launch_bounds__(256) w8a8_silu_mul_##S(const int* __restrict__ acc,            \
      const float* __restrict__ token_scales, const float* __restrict__ channel_scales, T* __restrict__ out,  \
      int tokens, int inter) {                                                                                \
    const long long quads = (long long)tokens * (inter / 4);                                                  \
    for (long long i = blockIdx.x * 256LL + threadIdx.x; i < quads; i += (long long)gridDim.x * 256) {        \
      const long long t = i / (inter / 4);                                                                    \
      const int c = (int)(i - t * (inter / 4)) * 4;                                                           \
      const int4 g4 = *reinterpret_cast<const int4*>(acc + t * 2 * inter + c);                                \
      const int4 u4 = *reinterpret_cast<const int4*>(acc + t * 2 * inter + inter + c);                        \
      const float4 gs = *reinterpret_cast<const float4*>(channel_scales + c);                                 \
      const float4 us = *reinterpret_cast<const float4*>(channel_scales + inter + c);                         \
      const float ts = token_scales[t];                                                                       \
      const int ga[4] = {g4.x, g4.y, g4.z, g4.w}, ua[4] = {u4.x, u4.y, u4.z, u4.w};                           \
      const float gc[4] = {gs.x, gs.y, gs.z, gs.w}, uc[4] = {us.x, us.y, us.z, us.w};                         \
      alignas(8) T o[4];                                                                                      \
      _Pragma("unroll") for (int j = 0; j < 4; ++j) {                                                         \
        const float g = __fmul_rn(__fmul_rn((float)ga[j], ts), gc[j]);                                        \
        const float u = __fmul_rn(__fmul_rn((float)ua[j], ts), uc[j]);                                        \
        o[j] = llmc::from_float<T>(g / (1.f + __expf(-g)) * u);                                               \
      }                                                                                                       \
      *reinterpret_cast<uint2*>(out + t * inter + c) = *reinterpret_cast<uint2*>(o);                          \
    }                                                                                                         \
  }
LLMC_FOR_DTYPES(LLMC_W8A8_SILU_MUL)
