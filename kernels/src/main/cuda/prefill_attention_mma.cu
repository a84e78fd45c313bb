// Tensor-core flash attention for prefill chunks (FlashAttention-2 style): causal, GQA, variable-length
// sequences in one launch, keys and values read from the paged KV cache through the block tables (a cached
// prefix and this step's tokens alike; rope_kv_write has already stored this step's K and V).
// Work split: grid.x = query tiles in reverse order (the last tiles of a sequence see the most keys, so they
// start first), grid.y = kv head x head chunk. A tile (int4: first token, token count, sequence, unused) holds
// consecutive tokens of one sequence; the CTA's 128 rows are (token, query head) pairs of ONE kv head's group,
// so each K/V tile in shared memory serves the whole group. 8 warps, 16 rows each.
// Per 64-key tile: S = Q Kᵀ with mma.sync m16n8k16 (Q fragments kept in registers, K through ldmatrix.x4),
// FP32 scores scaled by log2(e)/sqrt(D), causal mask (only on tiles that reach past the tile's first row
// position; tiles past its last position are never loaded), online softmax in registers (row max and sum
// across the 4 lanes of a row group by shuffles), P rounded to T and O += P V with V through ldmatrix.x4.trans.
// Head dims: class DC in {32, 64, 128} serves any D <= DC with D % 8 == 0 (the columns past D are zero).
// Memory access: q rows once (cp.async, 16 B); K and V tiles of 64 rows of D elements gathered through the
// block table with 16-byte cp.async, double-buffered (tile i+1 loads while tile i computes); rows past the
// visible range are zero-filled, never read; the output is written once, 4 bytes per lane per 8 columns.
#include "attention_mma.cuh"

namespace llmc_prefill_mma {
using namespace llmc;
using namespace llmc_mma;

constexpr int kWarps = 8;
constexpr int kRows = 16 * kWarps;
constexpr int kKeys = 64;
constexpr int kThreads = 32 * kWarps;

template <int DC>
struct Smem {
  static constexpr int kStride = DC + 8;  // elements per shared row
  static constexpr int kQ = kRows * kStride;
  static constexpr int kKv = kKeys * kStride;
  static constexpr int kElems = kQ + 4 * kKv;  // q, then K[2], V[2]
};

// Issues the cp.async copies of keys [base, base + kKeys) of K and V into one stage; keys >= kv_len are zeros.
template <typename T, int DC>
__device__ __forceinline__ void load_kv_tile(T* ks, T* vs, const T* __restrict__ k_cache, const T* __restrict__ v_cache,
                                             const int* table, int base, int kv_len, int block_size,
                                             int num_kv_heads, int kvh, int D) {
  constexpr int S = Smem<DC>::kStride;
  constexpr int CPR = DC / 8;  // 16-byte chunks per shared row
  const int ch = D / 8;
  for (int idx = threadIdx.x; idx < kKeys * CPR; idx += kThreads) {
    const int j = idx / CPR, c = idx % CPR;
    T* kd = ks + j * S + c * 8;
    T* vd = vs + j * S + c * 8;
    if (c >= ch) {
      zero16(kd);
      zero16(vd);
      continue;
    }
    const int p = base + j;
    const bool valid = p < kv_len;
    int64_t off = 0;
    if (valid) off = (kv_slot(table, p, block_size) * num_kv_heads + kvh) * D + c * 8;
    cp_async16(kd, k_cache + off, valid);
    cp_async16(vd, v_cache + off, valid);
  }
}

template <typename T, int DC>
__device__ void prefill_attention_mma(const T* __restrict__ q, const T* __restrict__ k_cache,
                                      const T* __restrict__ v_cache, T* __restrict__ out,
                                      const int4* __restrict__ tiles, const int* __restrict__ positions,
                                      const int* __restrict__ block_tables, int table_stride, int num_heads,
                                      int num_kv_heads, int head_dim, int block_size, int heads_per_cta,
                                      float scale_log2) {
  constexpr int S = Smem<DC>::kStride;
  constexpr int NB = DC / 8;     // 8-column blocks of O
  constexpr int KS = DC / 16;    // k-steps of Q Kᵀ
  constexpr int SB = kKeys / 8;  // 8-key blocks of S
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* kst = qs + Smem<DC>::kQ;
  T* vst = kst + 2 * Smem<DC>::kKv;
  __shared__ int row_pos[kRows];

  const int D = head_dim;
  const int4 tile = tiles[gridDim.x - 1 - blockIdx.x];
  const int group = num_heads / num_kv_heads;
  const int chunks = (group + heads_per_cta - 1) / heads_per_cta;
  const int kvh = blockIdx.y / chunks, chunk = blockIdx.y % chunks;
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
  load_kv_tile<T, DC>(kst, vst, k_cache, v_cache, table, 0, kv_len, block_size, num_kv_heads, kvh, D);
  cp_async_commit();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int r0 = warp * 16;
  float o[NB][4];
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) o[nb][0] = o[nb][1] = o[nb][2] = o[nb][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  uint32_t qf[KS][4];
  int pos0 = -1, pos1 = -1;

  for (int it = 0; it < n_tiles; ++it) {
    const int stage = it & 1;
    if (it + 1 < n_tiles) {
      load_kv_tile<T, DC>(kst + (stage ^ 1) * Smem<DC>::kKv, vst + (stage ^ 1) * Smem<DC>::kKv, k_cache, v_cache,
                          table, (it + 1) * kKeys, kv_len, block_size, num_kv_heads, kvh, D);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < KS; ++kk)
        ldmatrix_x4(qf[kk], qs + (r0 + (lane & 15)) * S + kk * 16 + (lane >> 4) * 8);
      pos0 = row_pos[r0 + g];
      pos1 = row_pos[r0 + g + 8];
    }
    const T* ks = kst + stage * Smem<DC>::kKv;
    const T* vs = vst + stage * Smem<DC>::kKv;

    float s[SB][4];
#pragma unroll
    for (int nb = 0; nb < SB; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
#pragma unroll
      for (int nb2 = 0; nb2 < SB / 2; ++nb2) {
        uint32_t b[4];
        ldmatrix_x4(b, ks + (nb2 * 16 + (lane & 7) + ((lane >> 4) << 3)) * S + kk * 16 + ((lane >> 3) & 1) * 8);
        mma16816<T>(s[2 * nb2], qf[kk], b[0], b[1]);
        mma16816<T>(s[2 * nb2 + 1], qf[kk], b[2], b[3]);
      }
    }

    // scale, causal mask (keys past kv_len are past every row's position, so they are masked too)
    const int kbase = it * kKeys;
    const bool mask = kbase + kKeys - 1 > min_pos;
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nb = 0; nb < SB; ++nb) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = kbase + nb * 8 + 2 * t4 + (e & 1);
        float v = s[nb][e] * scale_log2;
        if (mask && key > (e < 2 ? pos0 : pos1)) v = -INFINITY;
        s[nb][e] = v;
      }
      mx0 = fmaxf(mx0, fmaxf(s[nb][0], s[nb][1]));
      mx1 = fmaxf(mx1, fmaxf(s[nb][2], s[nb][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
    const float base0 = safe_max(mn0), base1 = safe_max(mn1);
    const float alpha0 = exp2f(m0 - base0), alpha1 = exp2f(m1 - base1);
    m0 = mn0;
    m1 = mn1;
    float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int nb = 0; nb < SB; ++nb) {
      s[nb][0] = exp2f(s[nb][0] - base0);
      s[nb][1] = exp2f(s[nb][1] - base0);
      s[nb][2] = exp2f(s[nb][2] - base1);
      s[nb][3] = exp2f(s[nb][3] - base1);
      sum0 += s[nb][0] + s[nb][1];
      sum1 += s[nb][2] + s[nb][3];
    }
    l0 = l0 * alpha0 + sum0;  // this lane's share of the row sum; the 4 lanes of a row are added at the end
    l1 = l1 * alpha1 + sum1;
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
      o[nb][0] *= alpha0;
      o[nb][1] *= alpha0;
      o[nb][2] *= alpha1;
      o[nb][3] *= alpha1;
    }

    // O += P V: the S accumulators of keys 16kk..16kk+15 are exactly the A fragment of that k-step
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      uint32_t a[4];
      a[0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
      a[1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
      a[2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      a[3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int np = 0; np < DC / 16; ++np) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, vs + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * S + np * 16 + (lane >> 4) * 8);
        mma16816<T>(o[2 * np], a, b[0], b[1]);
        mma16816<T>(o[2 * np + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // every warp is done with this stage before the next iteration refills it
  }

  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = r0 + g + 8 * half;
    if (r >= rows) continue;
    const float inv = 1.f / (half ? l1 : l0);
    const int t = tile.x + r / nh, h = h0 + r % nh;
    T* orow = out + (size_t)t * q_dim + (size_t)h * D;
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
      const int d = nb * 8 + 2 * t4;
      if (d < D)
        *reinterpret_cast<uint32_t*>(orow + d) = pack2<T>(o[nb][2 * half] * inv, o[nb][2 * half + 1] * inv);
    }
  }
}
}  // namespace llmc_prefill_mma

// Entry points per dtype and head-dim class: prefill_attention_mma_{f16,bf16}_d{32,64,128}.
#define LLMC_PREFILL_MMA_ONE(S, T, DC)                                                                           \
  extern "C" __global__ void __launch_bounds__(llmc_prefill_mma::kThreads) prefill_attention_mma_##S##_d##DC(   \
      const T* q, const T* k_cache, const T* v_cache, T* out, const int4* tiles, const int* positions,            \
      const int* block_tables, int table_stride, int num_heads, int num_kv_heads, int head_dim, int block_size,   \
      int heads_per_cta, float scale_log2) {                                                                       \
    llmc_prefill_mma::prefill_attention_mma<T, DC>(q, k_cache, v_cache, out, tiles, positions, block_tables,     \
                                                   table_stride, num_heads, num_kv_heads, head_dim, block_size,  \
                                                   heads_per_cta, scale_log2);                                   \
  }
#define LLMC_PREFILL_MMA(S, T)     \
  LLMC_PREFILL_MMA_ONE(S, T, 32)   \
  LLMC_PREFILL_MMA_ONE(S, T, 64)   \
  LLMC_PREFILL_MMA_ONE(S, T, 128)
LLMC_FOR_DTYPES(LLMC_PREFILL_MMA)
