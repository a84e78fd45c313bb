// Flash-style attention for prefill chunks (and any sequence with more than one new token): tiled, online
// softmax (running max and sum in FP32, exp2 with log2(e) folded into the scale), causal, GQA, variable-length
// sequences in one launch, keys and values read from the paged KV cache (so a cached prefix and this step's
// tokens are read alike; rope_kv_write has already stored this step's K and V).
// Work split: grid.x = query tiles (int4: first token, token count, sequence, unused; consecutive tokens of one
// sequence at consecutive positions), grid.y = kv head x head chunk. A CTA's rows are (token, query head) pairs
// of ONE kv head's group, so each K/V tile is loaded once for the whole group: rows = tokens * heads_per_cta
// <= 32. Four warps own 8 rows each; lane j scores key j of the 32-key tile; each lane owns head dims
// lane, lane+32, ... of the output accumulators (registers).
// Memory access: per 32-key tile the CTA gathers 32 K rows and 32 V rows of D elements through the block
// table (consecutive threads read consecutive elements of a row: coalesced) into shared memory as FP32
// (K rows padded to D+1 floats so lane j reading row j hits distinct banks); q is read once into shared
// memory; the output is written once. K/V traffic: (tokens' max position + 1) * D * 2 per CTA.
#include "common.cuh"

namespace llmc_prefill {
using namespace llmc;

constexpr int kWarps = 4;
constexpr int kRows = 32;
constexpr int kRowsPerWarp = kRows / kWarps;
constexpr int kKeys = 32;

template <typename T, int NDL>
__device__ void prefill_attention(const T* __restrict__ q, const T* __restrict__ k_cache,
                                  const T* __restrict__ v_cache, T* __restrict__ out, const int4* __restrict__ tiles,
                                  const int* __restrict__ positions, const int* __restrict__ block_tables,
                                  int table_stride, int num_heads, int num_kv_heads, int head_dim, int block_size,
                                  int heads_per_cta, float scale_log2) {
  extern __shared__ float smem[];
  __shared__ int row_pos[kRows];
  const int D = head_dim;
  float* qs = smem;                // [kRows][D]
  float* ks = qs + kRows * D;      // [kKeys][D + 1]
  float* vs = ks + kKeys * (D + 1);  // [kKeys][D]
  const int4 tile = tiles[blockIdx.x];
  const int group = num_heads / num_kv_heads;
  const int chunks = (group + heads_per_cta - 1) / heads_per_cta;
  const int kvh = blockIdx.y / chunks, chunk = blockIdx.y % chunks;
  const int h0 = kvh * group + chunk * heads_per_cta;
  const int nh = min(heads_per_cta, group - chunk * heads_per_cta);
  const int rows = tile.y * nh;
  const int q_dim = num_heads * D;
  const int* table = block_tables + (size_t)tile.z * table_stride;
  for (int idx = threadIdx.x; idx < rows * D; idx += blockDim.x) {
    int r = idx / D, d = idx % D;
    int t = tile.x + r / nh, h = h0 + r % nh;
    qs[r * D + d] = to_float(q[(size_t)t * q_dim + h * D + d]) * scale_log2;
  }
  for (int r = threadIdx.x; r < rows; r += blockDim.x) row_pos[r] = positions[tile.x + r / nh];
  const int kv_len = positions[tile.x + tile.y - 1] + 1;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][NDL];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int c = 0; c < NDL; ++c) o[i][c] = 0.f;
  }
  for (int kt = 0; kt < kv_len; kt += kKeys) {
    __syncthreads();  // the previous tile is consumed (first pass: qs and row_pos are written)
    for (int idx = threadIdx.x; idx < kKeys * D; idx += blockDim.x) {
      int j = idx / D, d = idx % D, p = kt + j;
      float kv = 0.f, vv = 0.f;
      if (p < kv_len) {
        int64_t off = (kv_slot(table, p, block_size) * num_kv_heads + kvh) * D + d;
        kv = to_float(k_cache[off]);
        vv = to_float(v_cache[off]);
      }
      ks[j * (D + 1) + d] = kv;
      vs[j * D + d] = vv;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = warp + kWarps * i;
      if (r >= rows) break;  // warp-uniform
      const int p = kt + lane;
      float s = -INFINITY;
      if (p <= row_pos[r]) {
        const float* qr = qs + r * D;
        const float* kr = ks + lane * (D + 1);
        float acc = 0.f;
        for (int d = 0; d < D; ++d) acc += qr[d] * kr[d];
        s = acc;
      }
      const float m_new = fmaxf(m[i], warp_max(s));
      if (m_new == -INFINITY) continue;  // warp-uniform: nothing visible yet
      const float pr = exp2f(s - m_new);
      const float alpha = exp2f(m[i] - m_new);
      l[i] = l[i] * alpha + warp_sum(pr);
      m[i] = m_new;
#pragma unroll
      for (int c = 0; c < NDL; ++c) o[i][c] *= alpha;
      for (int j = 0; j < kKeys; ++j) {
        const float pj = __shfl_sync(0xffffffffu, pr, j);
#pragma unroll
        for (int c = 0; c < NDL; ++c) {
          int d = lane + 32 * c;
          if (d < D) o[i][c] += pj * vs[j * D + d];
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = warp + kWarps * i;
    if (r >= rows) break;
    const int t = tile.x + r / nh, h = h0 + r % nh;
    const float inv = 1.f / l[i];
#pragma unroll
    for (int c = 0; c < NDL; ++c) {
      int d = lane + 32 * c;
      if (d < D) out[(size_t)t * q_dim + h * D + d] = from_float<T>(o[i][c] * inv);
    }
  }
}
}  // namespace llmc_prefill

// Entry points per dtype and per head-dim class (D <= 32 * NDL): _d32, _d64, _d128, _d256.
#define LLMC_PREFILL_ONE(S, T, NDL, DMAX)                                                                      \
  extern "C" __global__ void __launch_bounds__(128) prefill_attention_##S##_d##DMAX(                           \
      const T* q, const T* k_cache, const T* v_cache, T* out, const int4* tiles, const int* positions,          \
      const int* block_tables, int table_stride, int num_heads, int num_kv_heads, int head_dim, int block_size, \
      int heads_per_cta, float scale_log2) {                                                                     \
    llmc_prefill::prefill_attention<T, NDL>(q, k_cache, v_cache, out, tiles, positions, block_tables, table_stride,          \
                              num_heads, num_kv_heads, head_dim, block_size, heads_per_cta, scale_log2);       \
  }
#define LLMC_PREFILL(S, T)        \
  LLMC_PREFILL_ONE(S, T, 1, 32)   \
  LLMC_PREFILL_ONE(S, T, 2, 64)   \
  LLMC_PREFILL_ONE(S, T, 4, 128)  \
  LLMC_PREFILL_ONE(S, T, 8, 256)
LLMC_FOR_DTYPES(LLMC_PREFILL)
