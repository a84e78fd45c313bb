// Elementwise kernels after a GEMM (whose output is FP32): the SwiGLU activation over the fused gate|up
// projection, written in the activation dtype T as the down GEMM's input (the GEMV and skinny kernels compute it in
// their epilogue instead, swiglu = 1; this kernel serves the cuBLAS / large-GEMM path), and an FP32 bias add for
// projections with a bias the next kernel cannot absorb (o_proj with attention_bias).
// Memory access: grid-stride loops over the flat output, consecutive threads on consecutive elements
// (coalesced). silu_mul reads gate and up (the two halves of one [rows][2*inter] FP32 GEMM output row) and
// writes [rows][inter]: two reads and one write per output element.
#include "common.cuh"

namespace llmc_elementwise {
using namespace llmc;

template <typename T>
__device__ void silu_mul(const float* __restrict__ gate_up, T* __restrict__ out, int rows, int inter) {
  const size_t n = (size_t)rows * inter;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    size_t r = i / inter, c = i % inter;
    float g = gate_up[r * 2 * inter + c];
    float u = gate_up[r * 2 * inter + inter + c];
    out[i] = from_float<T>(silu_times(g, u));
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

extern "C" __global__ void add_bias_f32(float* y, const float* bias, int rows, int cols) {
  llmc_elementwise::add_bias(y, bias, rows, cols);
}
