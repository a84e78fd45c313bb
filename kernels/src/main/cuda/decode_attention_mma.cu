// Paged split-K decode attention on tensor cores (flash-decoding with GQA packing): one new token per
// sequence attends to its whole context through the block table. grid = (decode tokens, kv heads, splits);
// split s covers positions [s*chunk, min(ctx, (s+1)*chunk)). The G = num_heads / num_kv_heads query heads of
// one kv head are the rows of one 16-row mma tile (G <= 16; rows past G are zeros), so each K and V row is read
// from memory once for the whole group. The CTA streams its positions in 64-key tiles; each of the 4 warps
// takes 16 keys of a tile: S = Q Kᵀ (2 mma n-blocks per k-step), online softmax per warp in registers, P V on
// tensor cores; the warps' partial states are merged in shared memory at the end and the CTA writes one
// unnormalized partial (output row, max, sum) per head to FP32 scratch, in the layout decode_attention_reduce
// (decode_attention.cu) merges.
// Head dims: class DC in {32, 64, 128} serves D <= DC with D % 8 == 0.
// Memory access: K and V rows gathered through the block table with 16-byte cp.async (load_kv_rows: a row of D
// elements is D/8 consecutive chunks), double-buffered 64-key stages so the next tile streams in while one computes; keys
// past the split's end are zero-filled, never read; q once; partials (D + 2 floats per head) written once.
#include "attention_mma.cuh"
#include "kv_int8.cuh"

namespace llmc_decode_mma {
using namespace llmc;
using namespace llmc_mma;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kKeys = 16 * kWarps;

template <int DC>
struct Smem {
  static constexpr int kStride = DC + 8;
  static constexpr int kQ = 16 * kStride;
  static constexpr int kKv = kKeys * kStride;
  static constexpr int kElems = kQ + 4 * kKv;  // q, then K[2], V[2]; the merge reuses the K/V area
  // INT8 KV (KV8): q, one K and one V tile in T, then NST byte stages (kv_int8.cuh); the merge reuses the tiles
  template <int NST>
  static constexpr int kBytes8 = (kQ + 2 * kKv) * 2 + NST * llmc_kv8::Stage<DC, kKeys>::kBytes;
};

// KV8: the cache holds int8 bytes plus FP32 scales per (slot, kv head) (k_scale / v_scale; unused otherwise),
// dequantized to T when a tile lands in shared memory (kv_int8.cuh); everything after that is shared. NST: byte
// stages of the INT8 pipeline, NST - 1 tiles in flight while one computes (a byte tile is half a 16-bit one, so
// NST = 4 keeps about the bytes in flight of the 16-bit kernel's two stages; 16-bit caches ignore it).
template <typename T, bool KV8, int NST, int DC>
__device__ void decode_attention_mma(const T* __restrict__ q, const void* __restrict__ k_raw,
                                     const void* __restrict__ v_raw, const float* __restrict__ k_scale,
                                     const float* __restrict__ v_scale, float* __restrict__ part_o,
                                     float* __restrict__ part_ml, const int2* __restrict__ decodes,
                                     const int* __restrict__ positions, const int* __restrict__ block_tables,
                                     int table_stride, int num_heads, int num_kv_heads, int head_dim, int block_size,
                                     int chunk, float scale_log2) {
  constexpr int S = Smem<DC>::kStride;
  constexpr int NB = DC / 8;
  constexpr int KS = DC / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* kst = qs + Smem<DC>::kQ;
  T* vst = kst + (KV8 ? 1 : 2) * Smem<DC>::kKv;
  unsigned char* stage8 = reinterpret_cast<unsigned char*>(kst + 2 * Smem<DC>::kKv);  // KV8: after one K, one V tile
  constexpr int kStage8 = llmc_kv8::Stage<DC, kKeys>::kBytes;
  const T* k_cache = static_cast<const T*>(k_raw);
  const T* v_cache = static_cast<const T*>(v_raw);
  const int8_t* k8 = static_cast<const int8_t*>(k_raw);
  const int8_t* v8 = static_cast<const int8_t*>(v_raw);
  float* wo = reinterpret_cast<float*>(kst);  // after the loop: [kWarps][16][DC] partial outputs
  __shared__ float wm[kWarps][16], wl[kWarps][16];

  const int D = head_dim;
  const int G = num_heads / num_kv_heads;
  const int2 dec = decodes[blockIdx.x];  // x = token, y = sequence
  const int kvh = blockIdx.y, split = blockIdx.z, num_splits = gridDim.z;
  const int ctx = positions[dec.x] + 1;
  const int start = split * chunk, end = min(ctx, start + chunk);
  const size_t part0 = ((size_t)blockIdx.x * num_heads + (size_t)kvh * G) * num_splits + split;
  if (start >= end) {  // an empty split (shorter context than the plan): max -inf, the reduce skips it
    for (int gq = threadIdx.x; gq < G; gq += kThreads) {
      part_ml[(part0 + (size_t)gq * num_splits) * 2] = -INFINITY;
      part_ml[(part0 + (size_t)gq * num_splits) * 2 + 1] = 0.f;
    }
    return;
  }
  const int q_dim = num_heads * D;
  const int* table = block_tables + (size_t)dec.y * table_stride;
  {
    constexpr int CPR = DC / 8;
    const int ch = D / 8;
    for (int idx = threadIdx.x; idx < 16 * CPR; idx += kThreads) {
      const int r = idx / CPR, c = idx % CPR;
      T* dst = qs + r * S + c * 8;
      if (r < G && c < ch)
        cp_async16(dst, q + (size_t)dec.x * q_dim + ((size_t)kvh * G + r) * D + c * 8, true);
      else
        zero16(dst);
    }
  }
  const int n_tiles = (end - start + kKeys - 1) / kKeys;
  if constexpr (KV8) {
    llmc_kv8::load_kv_rows_i8<DC, kKeys, kThreads>(stage8, k8, v8, k_scale, v_scale, table, start, end, block_size,
                                                   num_kv_heads, kvh, D);
  } else {
    load_kv_rows<T, DC, kKeys, kThreads>(kst, vst, k_cache, v_cache, table, start, end, block_size, num_kv_heads, kvh, D, threadIdx.x);
  }
  cp_async_commit();
  if constexpr (KV8 && NST > 2) {  // tiles 1 .. NST - 2 in flight too (one commit group each, empty past the end)
#pragma unroll
    for (int s = 1; s < NST - 1; ++s) {
      if (s < n_tiles)
        llmc_kv8::load_kv_rows_i8<DC, kKeys, kThreads>(stage8 + s * kStage8, k8, v8, k_scale, v_scale, table,
                                                       start + s * kKeys, end, block_size, num_kv_heads, kvh, D);
      cp_async_commit();
    }
  }

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float o[NB][4];
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) o[nb][0] = o[nb][1] = o[nb][2] = o[nb][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  uint32_t qf[KS][4];

  for (int it = 0; it < n_tiles; ++it) {
    const int stage = it & 1;
    if constexpr (KV8 && NST > 2) {  // tile it + NST - 1 into the stage tile it - 1 left; then tile it is complete
      const int nxt = it + NST - 1;
      if (nxt < n_tiles)
        llmc_kv8::load_kv_rows_i8<DC, kKeys, kThreads>(stage8 + (nxt % NST) * kStage8, k8, v8, k_scale, v_scale, table,
                                                       start + nxt * kKeys, end, block_size, num_kv_heads, kvh, D);
      cp_async_commit();
      cp_async_wait<NST - 1>();
    } else if (it + 1 < n_tiles) {
      if constexpr (KV8)
        llmc_kv8::load_kv_rows_i8<DC, kKeys, kThreads>(stage8 + (stage ^ 1) * kStage8, k8, v8, k_scale, v_scale, table,
                                                       start + (it + 1) * kKeys, end, block_size, num_kv_heads, kvh, D);
      else
        load_kv_rows<T, DC, kKeys, kThreads>(kst + (stage ^ 1) * Smem<DC>::kKv, vst + (stage ^ 1) * Smem<DC>::kKv,
                                             k_cache, v_cache, table, start + (it + 1) * kKeys, end, block_size,
                                             num_kv_heads, kvh, D, threadIdx.x);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if constexpr (KV8) {  // bytes of this tile -> the one T tile (the last iteration's readers are past its barrier)
      llmc_kv8::dequant_kv_rows<T, DC, kKeys, kThreads>(kst, vst, stage8 + (it % NST) * kStage8, D);
      __syncthreads();
    }
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < KS; ++kk) ldmatrix_x4(qf[kk], qs + (lane & 15) * S + kk * 16 + (lane >> 4) * 8);
    }
    const int tile_off = KV8 ? 0 : stage * Smem<DC>::kKv;
    const T* ks = kst + tile_off + warp * 16 * S;  // this warp's 16 keys
    const T* vs = vst + tile_off + warp * 16 * S;
    decode_warp_tile<T, DC, S>(ks, vs, qf, start + it * kKeys + warp * 16, end, lane, scale_log2, m0, m1, l0, l1, o);
    __syncthreads();
  }

  // merge the 4 warps: each writes (max, sum, unnormalized O) of its rows; the K/V stages are free now
  decode_warps_to_shared<DC, kWarps>(wo, wm, wl, warp, lane, scale_log2, m0, m1, l0, l1, o);
  for (int idx = threadIdx.x; idx < G * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    float M, O, L;
    decode_merged<DC, kWarps>(wo, wm, wl, r, d, M, O, L);
    const size_t part = part0 + (size_t)r * num_splits;
    part_o[part * D + d] = O;
    if (d == 0) {
      part_ml[part * 2] = M;
      part_ml[part * 2 + 1] = L;
    }
  }
}
}  // namespace llmc_decode_mma

// Entry points per dtype and head-dim class: decode_attention_mma_{f16,bf16}_d{32,64,128}, and for an INT8 KV
// cache decode_attention_mma_{f16,bf16}_kv8_d{32,64,128} and _kv8s4_ (4 byte stages) (two more arguments: the K
// and V scales).
#define LLMC_DECODE_MMA_ONE(S, T, DC)                                                                          \
  extern "C" __global__ void __launch_bounds__(llmc_decode_mma::kThreads) decode_attention_mma_##S##_d##DC(   \
      const T* q, const T* k_cache, const T* v_cache, float* part_o, float* part_ml, const int2* decodes,       \
      const int* positions, const int* block_tables, int table_stride, int num_heads, int num_kv_heads,         \
      int head_dim, int block_size, int chunk, float scale_log2) {                                               \
    llmc::pdl_wait(); llmc::pdl_launch_dependents();                                                           \
    llmc_decode_mma::decode_attention_mma<T, false, 2, DC>(q, k_cache, v_cache, nullptr, nullptr, part_o, part_ml, \
                                                        decodes, positions, block_tables, table_stride, num_heads, \
                                                        num_kv_heads, head_dim, block_size, chunk, scale_log2);    \
  }                                                                                                              \
  LLMC_DECODE_MMA_KV8(S, T, DC, kv8, 2)                                                                          \
  LLMC_DECODE_MMA_KV8(S, T, DC, kv8s4, 4)
// The INT8 KV variants: NAME kv8 (2 byte stages) or kv8s4 (4).
#define LLMC_DECODE_MMA_KV8(S, T, DC, NAME, NST)                                                                  \
  extern "C" __global__ void __launch_bounds__(llmc_decode_mma::kThreads) decode_attention_mma_##S##_##NAME##_d##DC( \
      const T* q, const int8_t* k_cache, const int8_t* v_cache, const float* k_scale, const float* v_scale,     \
      float* part_o, float* part_ml, const int2* decodes, const int* positions, const int* block_tables,         \
      int table_stride, int num_heads, int num_kv_heads, int head_dim, int block_size, int chunk,                 \
      float scale_log2) {                                                                                        \
    llmc_decode_mma::decode_attention_mma<T, true, NST, DC>(q, k_cache, v_cache, k_scale, v_scale, part_o,       \
                                                            part_ml, decodes, positions, block_tables, table_stride, \
                                                            num_heads, num_kv_heads, head_dim, block_size, chunk,  \
                                                            scale_log2);                                           \
  }
#define LLMC_DECODE_MMA(S, T)     \
  LLMC_DECODE_MMA_ONE(S, T, 32)   \
  LLMC_DECODE_MMA_ONE(S, T, 64)   \
  LLMC_DECODE_MMA_ONE(S, T, 128)
LLMC_FOR_DTYPES(LLMC_DECODE_MMA)
