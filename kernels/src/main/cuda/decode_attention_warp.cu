// Paged decode attention with one warp per (decode token, kv head): the warp streams its own 16-key sub-tiles through
// its own NST-stage cp.async ring (NST - 1 sub-tiles in flight while one computes) and needs no barrier with the other
// warps of its CTA and no merge: it holds the whole softmax state of its task and writes the output itself. Same tile
// math as the CTA-wide kernels (decode_warp_tile: the GQA group as the rows of one 16-row mma tile, online softmax).
// Why: the CTA-wide kernels (decode_attention_mma.cu, decode_attention_items.cu) stream 64-key tiles behind two
// __syncthreads each, one tile in flight per CTA, and pay a shared-memory merge of 4 warps per token; at the short
// contexts of a large batch (129-256 keys) a 64-key tile is also up to 63 masked keys of copies and math.
// grid = (ceil(decodes * kv heads / W), splits); warp w of CTA b takes task b * W + w = decode * kv heads + kv head,
// so a CTA's warps read adjacent 256-byte pieces (heads) of the same tokens' K/V rows at about the same time.
// Output: one split (gridDim.y == 1): the normalized row in T straight into out; more: the unnormalized partials
// (O, max in log2 units, sum) that decode_attention_reduce merges (decode_attention.cu layout).
// Memory access: the decode entry and position before pdl_wait (step inputs copied by the host); K and V rows gathered
// through the block table with 16-byte cp.async (load_kv_rows with the lane as thread index), keys past the split's
// end zero-filled and never read; q straight into the mma fragments (32-bit loads, rows >= G and columns >= D zero);
// output G x D per task written once (32-bit stores).
// 16-bit KV caches only.
#include "attention_mma.cuh"

namespace llmc_decode_warp {
using namespace llmc;
using namespace llmc_mma;

// Dynamic shared memory: per warp NST stages of [16 K rows | 16 V rows], rows of DC + 8 elements.
// AttentionKernels.decodeWarpSharedBytes mirrors it.
template <int DC, int NST>
struct Smem {
  static constexpr int kStride = DC + 8;
  static constexpr int kRows = 16 * kStride;
  static constexpr int kStage = 2 * kRows;
  static constexpr int kWarp = NST * kStage;
};

template <typename T, int W, int NST, int DC, bool SHORT>
__device__ __forceinline__ void decode_warp(const T* __restrict__ q, const T* __restrict__ k_cache,
                                            const T* __restrict__ v_cache, T* __restrict__ out,
                                            float* __restrict__ part_o, float* __restrict__ part_ml,
                                            const int2* __restrict__ decodes, const int* __restrict__ positions,
                                            const int* __restrict__ block_tables, int table_stride, int num_heads,
                                            int num_kv_heads, int head_dim, int block_size, int chunk,
                                            int num_decodes, float scale_log2) {
  constexpr int S = Smem<DC, NST>::kStride;
  constexpr int NB = DC / 8;
  constexpr int KS = DC / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  T* ring = reinterpret_cast<T*>(smem_raw) + warp * Smem<DC, NST>::kWarp;
  const int D = head_dim;
  const int G = num_heads / num_kv_heads;
  const int task = blockIdx.x * W + warp;
  const bool active = task < num_decodes * num_kv_heads;
  const int di = active ? task / num_kv_heads : 0;
  const int kvh = task - di * num_kv_heads;
  const int split = blockIdx.y, num_splits = gridDim.y;
  int2 dec = make_int2(0, 0);
  int ctx = 0;
  if (active) {
    dec = decodes[di];  // x = token, y = sequence
    ctx = positions[dec.x] + 1;
  }
  pdl_wait();
  pdl_launch_dependents();
  if (!active) return;
  const int start = split * chunk, end = min(ctx, start + chunk);
  const size_t part0 = ((size_t)di * num_heads + (size_t)kvh * G) * num_splits + split;
  if (start >= end) {  // an empty split (shorter context than the plan): max -inf, the reduce skips it
    if (lane < G) {
      part_ml[(part0 + (size_t)lane * num_splits) * 2] = -INFINITY;
      part_ml[(part0 + (size_t)lane * num_splits) * 2 + 1] = 0.f;
    }
    return;
  }
  const int* table = block_tables + (size_t)dec.y * table_stride;
  const int n_sub = (end - start + 15) / 16;
#pragma unroll
  for (int s = 0; s < NST - 1; ++s) {  // sub-tiles 0 .. NST - 2 (one commit group each, empty past the end)
    if (s < n_sub) {
      T* st = ring + s * Smem<DC, NST>::kStage;
      load_kv_rows<T, DC, 16, 32>(st, st + Smem<DC, NST>::kRows, k_cache, v_cache, table, start + s * 16, end,
                                  block_size, num_kv_heads, kvh, D, lane);
    }
    cp_async_commit();
  }

  // q fragments straight from global memory while the first sub-tiles stream in (the A layout of mma.m16n8k16:
  // a0 row g cols 2t,2t+1; a1 row g+8; a2 row g cols +8; a3 row g+8 cols +8), the same values ldmatrix gives
  const int g = lane >> 2, t4 = lane & 3;
  const int q_dim = num_heads * D;
  const T* qg = q + (size_t)dec.x * q_dim + (size_t)kvh * G * D;
  uint32_t qf[KS][4];
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = g + (e & 1) * 8, col = kk * 16 + 2 * t4 + (e >> 1) * 8;
      qf[kk][e] = row < G && col < D ? *reinterpret_cast<const uint32_t*>(qg + (size_t)row * D + col) : 0u;
    }
  }

  float o[NB][4];
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) o[nb][0] = o[nb][1] = o[nb][2] = o[nb][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  for (int it = 0; it < n_sub; ++it) {
    const int nxt = it + NST - 1;  // into the stage sub-tile it - 1 left (its readers passed the __syncwarp below)
    if (nxt < n_sub) {
      T* st = ring + (nxt % NST) * Smem<DC, NST>::kStage;
      load_kv_rows<T, DC, 16, 32>(st, st + Smem<DC, NST>::kRows, k_cache, v_cache, table, start + nxt * 16, end,
                                  block_size, num_kv_heads, kvh, D, lane);
    }
    cp_async_commit();
    cp_async_wait<NST - 1>();
    __syncwarp();  // every lane's copies of sub-tile it are visible to the warp
    const T* ks = ring + (it % NST) * Smem<DC, NST>::kStage;
    decode_warp_tile<T, DC, S, SHORT>(ks, ks + Smem<DC, NST>::kRows, qf, start + it * 16, end, lane, scale_log2, m0, m1, l0,
                               l1, o);
    __syncwarp();
  }

  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  T* orow = out + (size_t)dec.x * q_dim + (size_t)kvh * G * D;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = g + 8 * h;
    if (r >= G) continue;
    const float l = h ? l1 : l0;
    const size_t part = part0 + (size_t)r * num_splits;
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
      const int d = nb * 8 + 2 * t4;
      if (d >= D) continue;
      if (num_splits == 1) {
        *reinterpret_cast<uint32_t*>(orow + (size_t)r * D + d) = pack2<T>(o[nb][2 * h] / l, o[nb][2 * h + 1] / l);
      } else {
        part_o[part * D + d] = o[nb][2 * h];
        part_o[part * D + d + 1] = o[nb][2 * h + 1];
      }
    }
    if (num_splits > 1 && t4 == 0) {  // max in log2 units (scaled), as the reduce expects
      part_ml[part * 2] = (h ? m1 : m0) * scale_log2;
      part_ml[part * 2 + 1] = l;
    }
  }
}
}  // namespace llmc_decode_warp

// Entry points per dtype and head-dim class: decode_attention_warp{,_s2,_w2s4,_plain}_{f16,bf16}_d{32,64,128}: 4 warps
// a CTA with 3 stages each (default), 4 warps with 2 stages, 2 warps with 4 stages (all with decode_warp_tile's SHORT
// form), and the default shape with the plain tile step (the same-run reference for SHORT).
// MINB: CTAs an SM the registers must allow (what the shared memory allows at head dim 128).
#define LLMC_DECODE_WARP_ONE(S, T, DC)                  \
  LLMC_DECODE_WARP_V(S, T, DC, , 4, 3, 2, true)         \
  LLMC_DECODE_WARP_V(S, T, DC, _s2, 4, 2, 3, true)      \
  LLMC_DECODE_WARP_V(S, T, DC, _w2s4, 2, 4, 3, true)    \
  LLMC_DECODE_WARP_V(S, T, DC, _plain, 4, 3, 2, false)
#define LLMC_DECODE_WARP_V(S, T, DC, NAME, W, NST, MINB, SHORT)                                                    \
  extern "C" __global__ void __launch_bounds__(32 * W, MINB)                                                       \
      decode_attention_warp##NAME##_##S##_d##DC(const T* q, const T* k_cache, const T* v_cache, T* out,            \
                                                float* part_o, float* part_ml, const int2* decodes,                \
                                                const int* positions, const int* block_tables, int table_stride,   \
                                                int num_heads, int num_kv_heads, int head_dim, int block_size,     \
                                                int chunk, int num_decodes, float scale_log2) {                    \
    llmc_decode_warp::decode_warp<T, W, NST, DC, SHORT>(q, k_cache, v_cache, out, part_o, part_ml, decodes,        \
                                                        positions, block_tables, table_stride, num_heads,          \
                                                        num_kv_heads, head_dim, block_size, chunk, num_decodes,    \
                                                        scale_log2);                                               \
  }
#define LLMC_DECODE_WARP(S, T)     \
  LLMC_DECODE_WARP_ONE(S, T, 32)   \
  LLMC_DECODE_WARP_ONE(S, T, 64)   \
  LLMC_DECODE_WARP_ONE(S, T, 128)
LLMC_FOR_DTYPES(LLMC_DECODE_WARP)
