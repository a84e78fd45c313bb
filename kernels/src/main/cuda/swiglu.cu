// Elementwise kernels after a GEMM (whose output is FP32, or 16-bit for silu_mul16): the SwiGLU activation over the fused gate|up
// projection, written in the activation dtype T as the down GEMM's input (the GEMV and skinny kernels compute it in
// their epilogue instead, swiglu = 1; this kernel serves the cuBLAS / large-GEMM path), and an FP32 bias add for
// projections with a bias the next kernel cannot absorb (o_proj with attention_bias).
// Memory access: consecutive threads on consecutive elements (coalesced). silu_mul reads gate and up (the two halves of one [rows][2*inter] FP32 GEMM output row) and
// writes [rows][inter]: two reads and one write per output element.
#include "common.cuh"

namespace llmc_elementwise {
using namespace llmc;

// Grid: x over column chunks of one row, y over rows (strided past 65535). Rows of a multiple of 4 columns go four
// at a time: two 16-byte loads (gate, up) and one 8-byte store per thread step; others one element at a time. (The
// flat grid-stride version divided a 64-bit index by inter per element: integer-bound at ~1.2 TB/s.)
template <typename T>
__device__ void silu_mul(const float* __restrict__ gate_up, T* __restrict__ out, int rows, int inter) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const float* g = gate_up + (size_t)r * 2 * inter;
    const float* u = g + inter;
    T* o = out + (size_t)r * inter;
    if ((inter & 3) == 0) {
      for (int c = (blockIdx.x * blockDim.x + threadIdx.x) * 4; c < inter; c += gridDim.x * blockDim.x * 4) {
        float4 gv = *reinterpret_cast<const float4*>(g + c);
        float4 uv = *reinterpret_cast<const float4*>(u + c);
        __align__(8) T v[4] = {from_float<T>(silu_times(gv.x, uv.x)), from_float<T>(silu_times(gv.y, uv.y)),
                               from_float<T>(silu_times(gv.z, uv.z)), from_float<T>(silu_times(gv.w, uv.w))};
        *reinterpret_cast<uint2*>(o + c) = *reinterpret_cast<const uint2*>(v);
      }
    } else {
      for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < inter; c += gridDim.x * blockDim.x)
        o[c] = from_float<T>(silu_times(g[c], u[c]));
    }
  }
}

// The same over a 16-bit gate|up GEMM output (T [rows][2*inter], what an FP16 model's linear layer gives, as in
// transformers): half the bytes to read. Rows of a multiple of 4 columns: two 8-byte loads and one 8-byte store per step.
template <typename T>
__device__ void silu_mul16(const T* __restrict__ gate_up, T* __restrict__ out, int rows, int inter) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const T* g = gate_up + (size_t)r * 2 * inter;
    const T* u = g + inter;
    T* o = out + (size_t)r * inter;
    if ((inter & 3) == 0) {
      for (int c = (blockIdx.x * blockDim.x + threadIdx.x) * 4; c < inter; c += gridDim.x * blockDim.x * 4) {
        __align__(8) T gv[4], uv[4];
        *reinterpret_cast<uint2*>(gv) = *reinterpret_cast<const uint2*>(g + c);
        *reinterpret_cast<uint2*>(uv) = *reinterpret_cast<const uint2*>(u + c);
        __align__(8) T v[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] = from_float<T>(silu_times(to_float(gv[i]), to_float(uv[i])));
        *reinterpret_cast<uint2*>(o + c) = *reinterpret_cast<const uint2*>(v);
      }
    } else {
      for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < inter; c += gridDim.x * blockDim.x)
        o[c] = from_float<T>(silu_times(to_float(g[c]), to_float(u[c])));
    }
  }
}

__device__ void add_bias(float* __restrict__ y, const float* __restrict__ bias, int rows, int cols) {
  const size_t n = (size_t)rows * cols;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    y[i] += bias[i % cols];
}
}  // namespace llmc_elementwise

#define LLMC_SWIGLU(S, T)                                                                    \
  extern "C" __global__ void silu_mul_##S(const float* gate_up, T* out, int rows, int inter) { \
    llmc::pdl_wait(); llmc::pdl_launch_dependents();                                                           \
    llmc_elementwise::silu_mul<T>(gate_up, out, rows, inter);                                  \
  }
LLMC_FOR_DTYPES(LLMC_SWIGLU)

// silu_mul16_{f16,bf16}: an ordinary launch (no programmatic-dependent calls: the cuBLAS GEMM before it is foreign work).
#define LLMC_SWIGLU16(S, T)                                                                       \
  extern "C" __global__ void silu_mul16_##S(const T* gate_up, T* out, int rows, int inter) {     \
    llmc_elementwise::silu_mul16<T>(gate_up, out, rows, inter);                                  \
  }
LLMC_FOR_DTYPES(LLMC_SWIGLU16)

extern "C" __global__ void add_bias_f32(float* y, const float* bias, int rows, int cols) {
  llmc_elementwise::add_bias(y, bias, rows, cols);
}
