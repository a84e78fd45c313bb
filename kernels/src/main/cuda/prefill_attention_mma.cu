// Tensor-core flash attention for prefill chunks (FlashAttention-2 style): causal, GQA, variable-length
// sequences in one launch, keys and values read from the paged KV cache through the block tables (a cached
// prefix and this step's tokens alike; rope_kv_write has already stored this step's K and V).
// Work split: grid.x = query tiles x (kv head, head chunk), tiles in reverse order and heads fastest, so the
// last tiles of a sequence (they see the most keys) start first for every head: longest work first. A tile (int4: first token, token count, sequence, unused) holds
// consecutive tokens of one sequence; the CTA's 128 rows are (token, query head) pairs of ONE kv head's group,
// so each K/V tile in shared memory serves the whole group. 4 warps, 32 rows (two 16-row mma tiles) each, so
// every K and V fragment read from shared memory feeds two mma.
// Per 64-key tile: S = Q Kᵀ with mma.sync m16n8k16 (Q and K fragments through ldmatrix.x4),
// FP32 scores scaled by log2(e)/sqrt(D), causal mask (only on tiles that reach past the tile's first row
// position; tiles past its last position are never loaded), online softmax in registers (row max and sum
// across the 4 lanes of a row group by shuffles), P rounded to T and O += P V with V through ldmatrix.x4.trans.
// Head dims: class DC in {32, 64, 128} serves any D <= DC with D % 8 == 0 (the columns past D are zero).
// Memory access: q rows once (cp.async, 16 B); K and V tiles of 64 rows of D elements gathered through the
// block table with 16-byte cp.async, double-buffered (tile i+1 loads while tile i computes); rows past the
// visible range are zero-filled, never read; the output is written once, 4 bytes per lane per 8 columns.
#include "attention_mma.cuh"
#include "kv_int8.cuh"

namespace llmc_prefill_mma {
using namespace llmc;
using namespace llmc_mma;

constexpr int kRows = 128;  // (token, head) rows per CTA in every variant, so the tile list does not depend on it

// A variant: WARPS warps of MT 16-row mma tiles each (WARPS * 16 * MT = 128 rows; with MT = 2 every K/V fragment
// read from shared memory feeds two mma), KEYS keys per K/V tile. AttentionKernels.PREFILL_VARIANTS mirrors them.
template <int DC, int WARPS, int MT, int KEYS>
struct Cfg {
  static_assert(WARPS * 16 * MT == kRows, "128 rows per CTA");
  static constexpr int kThreads = 32 * WARPS;
  static constexpr int kStride = DC + 8;  // elements per shared row
  static constexpr int kQ = kRows * kStride;
  static constexpr int kKv = KEYS * kStride;
  // INT8 KV (KV8): q, one K and one V tile in T, then two byte stages (kv_int8.cuh)
  static constexpr int kStage8 = llmc_kv8::Stage<DC, KEYS>::kBytes;
  static constexpr int kBytes8 = (kQ + 2 * kKv) * 2 + 2 * kStage8;
};

// KV8: the cache holds int8 bytes plus FP32 scales per (slot, kv head) (k_scale / v_scale; unused otherwise),
// dequantized to T when a tile lands in shared memory (kv_int8.cuh); everything after that is shared.
template <typename T, bool KV8, int DC, int WARPS, int MT, int KEYS>
__device__ void prefill_attention_mma(const T* __restrict__ q, const void* __restrict__ k_raw,
                                      const void* __restrict__ v_raw, const float* __restrict__ k_scale,
                                      const float* __restrict__ v_scale, T* __restrict__ out,
                                      const int4* __restrict__ tiles, const int* __restrict__ positions,
                                      const int* __restrict__ block_tables, int table_stride, int num_heads,
                                      int num_kv_heads, int head_dim, int block_size, int heads_per_cta,
                                      float scale_log2) {
  using C = Cfg<DC, WARPS, MT, KEYS>;
  constexpr int S = C::kStride;
  constexpr int NB = DC / 8;     // 8-column blocks of O
  constexpr int KS = DC / 16;    // k-steps of Q Kᵀ
  constexpr int kKeys = KEYS;
  constexpr int kThreads = C::kThreads;
  constexpr int SB = kKeys / 8;  // 8-key blocks of S
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* kst = qs + C::kQ;
  T* vst = kst + (KV8 ? 1 : 2) * C::kKv;
  unsigned char* stage8 = reinterpret_cast<unsigned char*>(kst + 2 * C::kKv);  // KV8: after one K, one V tile
  const T* k_cache = static_cast<const T*>(k_raw);
  const T* v_cache = static_cast<const T*>(v_raw);
  const int8_t* k8 = static_cast<const int8_t*>(k_raw);
  const int8_t* v8 = static_cast<const int8_t*>(v_raw);
  __shared__ int row_pos[kRows];

  const int D = head_dim;
  const int group = num_heads / num_kv_heads;
  const int chunks = (group + heads_per_cta - 1) / heads_per_cta;
  const int heads_y = num_kv_heads * chunks;  // CTAs per tile
  const int4 tile = tiles[gridDim.x / heads_y - 1 - blockIdx.x / heads_y];
  const int kvh = (blockIdx.x % heads_y) / chunks, chunk = blockIdx.x % chunks;
  const int h0 = kvh * group + chunk * heads_per_cta;
  const int nh = min(heads_per_cta, group - chunk * heads_per_cta);
  const int rows = tile.y * nh;
  const int q_dim = num_heads * D;
  const int* table = block_tables + (size_t)tile.z * table_stride;
  const int kv_len = positions[tile.x + tile.y - 1] + 1;
  const int min_pos = positions[tile.x];
  const int n_tiles = (kv_len + kKeys - 1) / kKeys;

  // q rows (token, head) -> shared; padding rows and columns are zeros
  {
    constexpr int CPR = DC / 8;
    const int ch = D / 8;
    for (int idx = threadIdx.x; idx < kRows * CPR; idx += kThreads) {
      const int r = idx / CPR, c = idx % CPR;
      T* dst = qs + r * S + c * 8;
      if (r < rows && c < ch) {
        const int t = tile.x + r / nh, h = h0 + r % nh;
        cp_async16(dst, q + (size_t)t * q_dim + (size_t)h * D + c * 8, true);
      } else {
        zero16(dst);
      }
    }
    for (int r = threadIdx.x; r < kRows; r += kThreads) row_pos[r] = r < rows ? positions[tile.x + r / nh] : -1;
  }
  if constexpr (KV8)
    llmc_kv8::load_kv_rows_i8<DC, kKeys, kThreads>(stage8, k8, v8, k_scale, v_scale, table, 0, kv_len, block_size,
                                                   num_kv_heads, kvh, D);
  else
    load_kv_rows<T, DC, kKeys, kThreads>(kst, vst, k_cache, v_cache, table, 0, kv_len, block_size, num_kv_heads, kvh, D, threadIdx.x);
  cp_async_commit();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int r0 = warp * 16 * MT;
  float o[MT][NB][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) o[mt][nb][0] = o[mt][nb][1] = o[mt][nb][2] = o[mt][nb][3] = 0.f;
  float m[MT][2], l[MT][2];
  int pos[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.f;
    pos[mt][0] = pos[mt][1] = -1;
  }

  for (int it = 0; it < n_tiles; ++it) {
    const int stage = it & 1;
    if (it + 1 < n_tiles) {
      if constexpr (KV8)
        llmc_kv8::load_kv_rows_i8<DC, kKeys, kThreads>(stage8 + (stage ^ 1) * C::kStage8, k8, v8, k_scale, v_scale,
                                                       table, (it + 1) * kKeys, kv_len, block_size, num_kv_heads, kvh, D);
      else
        load_kv_rows<T, DC, kKeys, kThreads>(kst + (stage ^ 1) * C::kKv, vst + (stage ^ 1) * C::kKv,
                                             k_cache, v_cache, table, (it + 1) * kKeys, kv_len, block_size,
                                             num_kv_heads, kvh, D, threadIdx.x);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if constexpr (KV8) {  // bytes of this tile -> the one T tile (the last iteration's readers are past its barrier)
      llmc_kv8::dequant_kv_rows<T, DC, kKeys, kThreads>(kst, vst, stage8 + stage * C::kStage8, D);
      __syncthreads();
    }
    if (it == 0) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        pos[mt][0] = row_pos[r0 + 16 * mt + g];
        pos[mt][1] = row_pos[r0 + 16 * mt + g + 8];
      }
    }
    const T* ks = kst + (KV8 ? 0 : stage * C::kKv);
    const T* vs = vst + (KV8 ? 0 : stage * C::kKv);

    float s[MT][SB][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nb = 0; nb < SB; ++nb) s[mt][nb][0] = s[mt][nb][1] = s[mt][nb][2] = s[mt][nb][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        ldmatrix_x4(a[mt], qs + (r0 + 16 * mt + (lane & 15)) * S + kk * 16 + (lane >> 4) * 8);
#pragma unroll
      for (int nb2 = 0; nb2 < SB / 2; ++nb2) {
        uint32_t b[4];
        ldmatrix_x4(b, ks + (nb2 * 16 + (lane & 7) + ((lane >> 4) << 3)) * S + kk * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma16816<T>(s[mt][2 * nb2], a[mt], b[0], b[1]);
          mma16816<T>(s[mt][2 * nb2 + 1], a[mt], b[2], b[3]);
        }
      }
    }

    // causal mask (keys past kv_len are past every row's position, so they are masked too), online softmax on the
    // raw scores (the scale is positive, so it commutes with max): p = 2^(s * scale - m * scale), one FFMA + EX2
    const int kbase = it * kKeys;
    const bool mask = kbase + kKeys - 1 > min_pos;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
      for (int nb = 0; nb < SB; ++nb) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = kbase + nb * 8 + 2 * t4 + (e & 1);
          if (mask && key > pos[mt][e >> 1]) s[mt][nb][e] = -INFINITY;
        }
        mx0 = fmaxf(mx0, fmaxf(s[mt][nb][0], s[mt][nb][1]));
        mx1 = fmaxf(mx1, fmaxf(s[mt][nb][2], s[mt][nb][3]));
      }
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
      const float mn0 = fmaxf(m[mt][0], mx0), mn1 = fmaxf(m[mt][1], mx1);
      const float base0 = safe_max(mn0) * scale_log2, base1 = safe_max(mn1) * scale_log2;
      const float alpha0 = fast_exp2(m[mt][0] * scale_log2 - base0), alpha1 = fast_exp2(m[mt][1] * scale_log2 - base1);
      m[mt][0] = mn0;
      m[mt][1] = mn1;
      float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
      for (int nb = 0; nb < SB; ++nb) {
        s[mt][nb][0] = fast_exp2(fmaf(s[mt][nb][0], scale_log2, -base0));
        s[mt][nb][1] = fast_exp2(fmaf(s[mt][nb][1], scale_log2, -base0));
        s[mt][nb][2] = fast_exp2(fmaf(s[mt][nb][2], scale_log2, -base1));
        s[mt][nb][3] = fast_exp2(fmaf(s[mt][nb][3], scale_log2, -base1));
        sum0 += s[mt][nb][0] + s[mt][nb][1];
        sum1 += s[mt][nb][2] + s[mt][nb][3];
      }
      l[mt][0] = l[mt][0] * alpha0 + sum0;  // this lane's share; the 4 lanes of a row are added at the end
      l[mt][1] = l[mt][1] * alpha1 + sum1;
#pragma unroll
      for (int nb = 0; nb < NB; ++nb) {
        o[mt][nb][0] *= alpha0;
        o[mt][nb][1] *= alpha0;
        o[mt][nb][2] *= alpha1;
        o[mt][nb][3] *= alpha1;
      }
    }

    // O += P V: the S accumulators of keys 16kk..16kk+15 are exactly the A fragment of that k-step (packed to T
    // first, so the FP32 scores die before the P V loop)
    uint32_t pa[MT][kKeys / 16][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        pa[mt][kk][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][kk][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][kk][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][kk][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < DC / 16; ++np) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, vs + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * S + np * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma16816<T>(o[mt][2 * np], pa[mt][kk], b[0], b[1]);
          mma16816<T>(o[mt][2 * np + 1], pa[mt][kk], b[2], b[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with this stage before the next iteration refills it
  }

#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float lsum = l[mt][half];
      lsum += __shfl_xor_sync(0xffffffffu, lsum, 1);
      lsum += __shfl_xor_sync(0xffffffffu, lsum, 2);
      const int r = r0 + 16 * mt + g + 8 * half;
      if (r >= rows) continue;
      const float inv = 1.f / lsum;
      const int t = tile.x + r / nh, h = h0 + r % nh;
      T* orow = out + (size_t)t * q_dim + (size_t)h * D;
#pragma unroll
      for (int nb = 0; nb < NB; ++nb) {
        const int d = nb * 8 + 2 * t4;
        if (d < D)
          *reinterpret_cast<uint32_t*>(orow + d) =
              pack2<T>(o[mt][nb][2 * half] * inv, o[mt][nb][2 * half + 1] * inv);
      }
    }
  }
}
}  // namespace llmc_prefill_mma

// Entry points per dtype, head-dim class and variant: prefill_attention_mma_{f16,bf16}_d{32,64,128}_v{0,1,2}:
// v0 = 8 warps x 1 mma tile, 64-key tiles; v1 = 4 warps x 2 mma tiles, 64-key tiles; v2 = 4 warps x 2, 32-key tiles;
// v3 = v0 held to 128 registers so that two CTAs fit on an SM. For an INT8 KV cache the same with _kv8 after the
// dtype (two more arguments: the K and V scales).
#define LLMC_PREFILL_MMA_ONE(S, T, DC, V, WARPS, MT, KEYS, MINB)                                                 \
  extern "C" __global__ void __launch_bounds__(32 * WARPS, MINB) prefill_attention_mma_##S##_d##DC##_v##V(              \
      const T* q, const T* k_cache, const T* v_cache, T* out, const int4* tiles, const int* positions,            \
      const int* block_tables, int table_stride, int num_heads, int num_kv_heads, int head_dim, int block_size,   \
      int heads_per_cta, float scale_log2) {                                                                       \
    llmc_prefill_mma::prefill_attention_mma<T, false, DC, WARPS, MT, KEYS>(                                     \
        q, k_cache, v_cache, nullptr, nullptr, out, tiles, positions, block_tables, table_stride, num_heads,       \
        num_kv_heads, head_dim, block_size, heads_per_cta, scale_log2);                                            \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(32 * WARPS, MINB) prefill_attention_mma_##S##_kv8_d##DC##_v##V(    \
      const T* q, const int8_t* k_cache, const int8_t* v_cache, const float* k_scale, const float* v_scale, T* out, \
      const int4* tiles, const int* positions, const int* block_tables, int table_stride, int num_heads,          \
      int num_kv_heads, int head_dim, int block_size, int heads_per_cta, float scale_log2) {                       \
    llmc_prefill_mma::prefill_attention_mma<T, true, DC, WARPS, MT, KEYS>(                                      \
        q, k_cache, v_cache, k_scale, v_scale, out, tiles, positions, block_tables, table_stride, num_heads,      \
        num_kv_heads, head_dim, block_size, heads_per_cta, scale_log2);                                            \
  }
#define LLMC_PREFILL_MMA_CLASS(S, T, DC)             \
  LLMC_PREFILL_MMA_ONE(S, T, DC, 0, 8, 1, 64, 1)     \
  LLMC_PREFILL_MMA_ONE(S, T, DC, 1, 4, 2, 64, 1)     \
  LLMC_PREFILL_MMA_ONE(S, T, DC, 2, 4, 2, 32, 1)     \
  LLMC_PREFILL_MMA_ONE(S, T, DC, 3, 8, 1, 64, 2)
#define LLMC_PREFILL_MMA(S, T)         \
  LLMC_PREFILL_MMA_CLASS(S, T, 32)     \
  LLMC_PREFILL_MMA_CLASS(S, T, 64)     \
  LLMC_PREFILL_MMA_CLASS(S, T, 128)
LLMC_FOR_DTYPES(LLMC_PREFILL_MMA)
