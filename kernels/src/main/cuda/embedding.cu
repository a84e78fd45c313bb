// Embedding gather: out[t] = float(table[ids[t]]), the FP32 residual stream's first value.
// Memory access: one block per token; its threads read the token's table row (hidden contiguous elements of
// T) once, coalesced, and write one FP32 row, coalesced. The table is read only where a token points.
#include "common.cuh"

namespace llmc_embed {
template <typename T>
__device__ void embedding_gather(const int* __restrict__ ids, const T* __restrict__ table, float* __restrict__ out,
                                 int hidden) {
  const size_t row = (size_t)ids[blockIdx.x] * hidden;
  float* o = out + (size_t)blockIdx.x * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = llmc::to_float(table[row + i]);
}
}  // namespace llmc_embed

#define LLMC_EMBEDDING(S, T)                                                                               \
  extern "C" __global__ void embedding_gather_##S(const int* ids, const T* table, float* out, int hidden) { \
    llmc::pdl_wait(); llmc::pdl_launch_dependents();                                                           \
    llmc_embed::embedding_gather<T>(ids, table, out, hidden);                                                           \
  }
LLMC_FOR_DTYPES(LLMC_EMBEDDING)
