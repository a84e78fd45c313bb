// The INT8 KV cache variant of rope_kv_write (rope_kv.cu): RoPE on q and k, q out in T as before, but k and v
// are stored as int8 with one FP32 scale per (slot, kv head): symmetric absmax, scale = max|x| / 127,
// q = rint(x / scale) clamped to +-127 (scale 0 and all bytes 0 for an all-zero row). Dequantized: x ~ q * scale.
// Cache layout per layer: bytes [slot][num_kv_heads][D] (the 16-bit layout with 1-byte elements) and scales
// [slot][num_kv_heads] FP32 (a side array of the same slot indexing). The K/V arithmetic uses explicitly rounded
// intrinsics (no FMA contraction) so the Java twin (Int8Kv) reproduces every byte and scale exactly.
// Memory access: one block per token. q pairs as in rope_kv.cu (coalesced, each element once). K and V: one warp
// per (kv head, K or V) task; the warp reads the head's D inputs twice (once for the absmax, once to write the
// bytes; the second pass hits L1), writes D bytes and one scale.
#include "common.cuh"

namespace llmc_rope_i8 {
using namespace llmc;

// Element i of the rotated head (i < D/2: first half, else second half) of a K head, exactly rounded.
__device__ __forceinline__ float rotated(const float* row, const float* bias, int base, int i, int half,
                                         const float* c, const float* s) {
  const int j = i < half ? i : i - half;
  float x0 = row[base + j], x1 = row[base + j + half];
  if (bias != nullptr) {
    x0 = __fadd_rn(x0, bias[base + j]);
    x1 = __fadd_rn(x1, bias[base + j + half]);
  }
  return i < half ? __fsub_rn(__fmul_rn(x0, c[j]), __fmul_rn(x1, s[j]))
                  : __fadd_rn(__fmul_rn(x1, c[j]), __fmul_rn(x0, s[j]));
}

__device__ __forceinline__ float value(const float* row, const float* bias, bool is_k, int base, int i, int half,
                                       const float* c, const float* s) {
  if (is_k) return rotated(row, bias, base, i, half, c, s);
  float v = row[base + i];
  return bias != nullptr ? __fadd_rn(v, bias[base + i]) : v;
}

template <typename T>
__device__ void rope_kv_write_i8(const float* __restrict__ qkv, const float* __restrict__ bias,
                                 const int* __restrict__ positions, const int* __restrict__ seq_of_token,
                                 const int* __restrict__ block_tables, int table_stride,
                                 const float* __restrict__ cos_table, const float* __restrict__ sin_table,
                                 T* __restrict__ q_out, int8_t* __restrict__ k_cache, int8_t* __restrict__ v_cache,
                                 float* __restrict__ k_scale, float* __restrict__ v_scale, int num_heads,
                                 int num_kv_heads, int head_dim, int block_size) {
  const int t = blockIdx.x;
  const int half = head_dim / 2;
  const int q_dim = num_heads * head_dim, kv_dim = num_kv_heads * head_dim;
  const float* row = qkv + (size_t)t * (q_dim + 2 * kv_dim);
  const int pos = positions[t];
  const int64_t slot = kv_slot(block_tables + (size_t)seq_of_token[t] * table_stride, pos, block_size);
  const float* c = cos_table + (size_t)pos * half;
  const float* s = sin_table + (size_t)pos * half;
  for (int idx = threadIdx.x; idx < num_heads * half; idx += blockDim.x) {  // q: exactly as rope_kv_write
    int h = idx / half, i = idx % half;
    int src = h * head_dim + i;
    float x0 = row[src], x1 = row[src + half];
    if (bias != nullptr) {
      x0 += bias[src];
      x1 += bias[src + half];
    }
    q_out[(size_t)t * q_dim + src] = from_float<T>(x0 * c[i] - x1 * s[i]);
    q_out[(size_t)t * q_dim + src + half] = from_float<T>(x1 * c[i] + x0 * s[i]);
  }
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int task = threadIdx.x >> 5; task < 2 * num_kv_heads; task += warps) {
    const bool is_k = task < num_kv_heads;
    const int kvh = is_k ? task : task - num_kv_heads;
    const int base = q_dim + (is_k ? 0 : kv_dim) + kvh * head_dim;
    float amax = 0.f;
    for (int i = lane; i < head_dim; i += 32) amax = fmaxf(amax, fabsf(value(row, bias, is_k, base, i, half, c, s)));
    amax = warp_max(amax);
    const float scale = __fdiv_rn(amax, 127.f);
    int8_t* dst = (is_k ? k_cache : v_cache) + slot * kv_dim + (size_t)kvh * head_dim;
    for (int i = lane; i < head_dim; i += 32) {
      float qv = 0.f;
      if (scale > 0.f) qv = fminf(127.f, fmaxf(-127.f, rintf(__fdiv_rn(value(row, bias, is_k, base, i, half, c, s), scale))));
      dst[i] = (int8_t)(int)qv;
    }
    if (lane == 0) (is_k ? k_scale : v_scale)[slot * num_kv_heads + kvh] = scale;
  }
}
}  // namespace llmc_rope_i8

#define LLMC_ROPE_KV_I8(S, T)                                                                                  \
  extern "C" __global__ void rope_kv_write_i8_##S(                                                              \
      const float* qkv, const float* bias, const int* positions, const int* seq_of_token, const int* block_tables, \
      int table_stride, const float* cos_table, const float* sin_table, T* q_out, int8_t* k_cache,              \
      int8_t* v_cache, float* k_scale, float* v_scale, int num_heads, int num_kv_heads, int head_dim,           \
      int block_size) {                                                                                          \
    llmc_rope_i8::rope_kv_write_i8<T>(qkv, bias, positions, seq_of_token, block_tables, table_stride, cos_table, \
                                      sin_table, q_out, k_cache, v_cache, k_scale, v_scale, num_heads,           \
                                      num_kv_heads, head_dim, block_size);                                       \
  }
LLMC_FOR_DTYPES(LLMC_ROPE_KV_I8)
