// RoPE on q and k (Hugging Face rotate_half convention: element i pairs with i + head_dim/2) fused with the
// write of k and v into the paged KV cache, after the fused QKV GEMM.
// Input row of token t: qkv[t] = [q (num_heads*D) | k (num_kv_heads*D) | v (num_kv_heads*D)], the FP32 output of
// the QKV GEMM (16-bit inputs, FP32 out: one rounding less than a 16-bit output), plus an
// optional FP32 bias of the same width (Qwen2), added before the rotation. cos/sin: FP32 tables
// [max_positions][D/2] uploaded once (llama3 scaling already folded in).
// KV cache layout, per layer and for K and V alike: [num_blocks * block_size slots][num_kv_heads][D] in T;
// position p of a sequence lives in slot table[p / block_size] * block_size + p % block_size, where table is
// the sequence's row of block_tables ([num_seqs][table_stride] int32 on the device).
// Memory access: gridDim.y blocks per token (grid.x = tokens). Threads walk (head, i < D/2) pairs: each reads x[i] and x[i+D/2] of its
// head (consecutive threads -> consecutive i: coalesced), the position's cos/sin row (D/2 floats, L1/L2
// resident), and writes the rotated pair to q_out or to the token's K slot (one contiguous row of
// num_kv_heads*D per slot). V is copied through unchanged. Each element is read once and written once.
#include "common.cuh"

namespace llmc_rope {
using namespace llmc;

// Work items of token t: (num_heads + num_kv_heads) * D/2 rotation pairs, then num_kv_heads * D v elements, spread
// over the gridDim.y CTAs of the token (a single CTA walking all of them took ~30 dependent rounds at batch 1).
template <typename T>
__device__ void rope_kv_write(const float* __restrict__ qkv, const float* __restrict__ bias,
                              const int* __restrict__ positions, const int* __restrict__ seq_of_token,
                              const int* __restrict__ block_tables, int table_stride,
                              const float* __restrict__ cos_table, const float* __restrict__ sin_table,
                              T* __restrict__ q_out, T* __restrict__ k_cache, T* __restrict__ v_cache,
                              int num_heads, int num_kv_heads, int head_dim, int block_size) {
  const int t = blockIdx.x;
  const int half = head_dim / 2;
  const int q_dim = num_heads * head_dim, kv_dim = num_kv_heads * head_dim;
  const int width = q_dim + 2 * kv_dim;
  const float* row = qkv + (size_t)t * width;
  // positions, sequences and block tables are step inputs copied before the step's first kernel, never written by a
  // kernel: read before pdl_wait(), so the lookup chain overlaps the previous kernel
  const int pos = positions[t];
  const int64_t slot = kv_slot(block_tables + (size_t)seq_of_token[t] * table_stride, pos, block_size);
  const float* c = cos_table + (size_t)pos * half;
  const float* s = sin_table + (size_t)pos * half;
  const int pairs = (num_heads + num_kv_heads) * half;
  pdl_wait();
  pdl_launch_dependents();
  for (int idx = blockIdx.y * blockDim.x + threadIdx.x; idx < pairs + kv_dim; idx += gridDim.y * blockDim.x) {
    if (idx < pairs) {
      int h = idx / half, i = idx % half;
      int src = h * head_dim + i;  // q heads then k heads, contiguous in the row
      float x0 = row[src], x1 = row[src + half];
      if (bias != nullptr) {
        x0 += bias[src];
        x1 += bias[src + half];
      }
      float y0 = x0 * c[i] - x1 * s[i];
      float y1 = x1 * c[i] + x0 * s[i];
      T* dst = h < num_heads ? q_out + (size_t)t * q_dim + src : k_cache + slot * kv_dim + (src - q_dim);
      dst[0] = from_float<T>(y0);
      dst[half] = from_float<T>(y1);
    } else {
      int e = idx - pairs;
      int src = q_dim + kv_dim + e;
      float v = row[src];
      if (bias != nullptr) v += bias[src];
      v_cache[slot * kv_dim + e] = from_float<T>(v);
    }
  }
}
}  // namespace llmc_rope

#define LLMC_ROPE_KV(S, T)                                                                                   \
  extern "C" __global__ void rope_kv_write_##S(                                                              \
      const float* qkv, const float* bias, const int* positions, const int* seq_of_token, const int* block_tables, \
      int table_stride, const float* cos_table, const float* sin_table, T* q_out, T* k_cache, T* v_cache,     \
      int num_heads, int num_kv_heads, int head_dim, int block_size) {                                        \
    llmc_rope::rope_kv_write<T>(qkv, bias, positions, seq_of_token, block_tables, table_stride, cos_table, sin_table,   \
                     q_out, k_cache, v_cache, num_heads, num_kv_heads, head_dim, block_size);                 \
  }
LLMC_FOR_DTYPES(LLMC_ROPE_KV)
