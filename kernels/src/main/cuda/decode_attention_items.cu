// Paged split-K decode attention on tensor cores, several decode tokens ("items") per CTA in one continuous K/V
// stream. Same math and tiles as decode_attention_mma.cu (GQA group as the rows of one 16-row mma tile, 4 warps x
// 16 keys of each 64-key tile, online softmax per warp, warps merged at the end), but grid = (ceil(decodes / items),
// kv heads, splits) and the CTA walks the tiles of its items as one flat sequence through an NST-stage cp.async
// ring (NST - 1 tiles in flight while one computes; entries _items (2) and _items3 (3)): the first tile (and q rows) of the next item stream in while the current item's last tile computes and
// its warps merge. Why: at short contexts (~2-3 tiles a token) the one-token kernel spends most of a CTA's life in
// its dependent start (decode entry -> position -> block table -> first K/V bytes) and its tail (merge, write),
// with at most one tile in flight; here the start is paid once per CTA and overlapped with compute.
// Output: with one split (gridDim.z == 1) the normalized attention row in T straight into out (no partials, no
// reduce launch); with more, the unnormalized partials decode_attention_reduce merges (decode_attention.cu layout).
// Memory access: item entries (decode, position) into shared memory before pdl_wait (step inputs, written by the
// host copy, not by the kernel before); K and V rows gathered through the block table with 16-byte cp.async
// (load_kv_rows), keys past the item's split end zero-filled and never read; q rows once per item (rows G.. read
// one zero row); the warps' merge reuses the stage just computed; output G x D per item written once.
// 16-bit KV caches only (the INT8 KV variants stay on decode_attention_mma.cu + the reduce).
#include "attention_mma.cuh"

namespace llmc_decode_items {
using namespace llmc;
using namespace llmc_mma;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kKeys = 16 * kWarps;
constexpr int kMaxItems = 8;

// Dynamic shared memory: NST stages of [K tile | V tile] (kKeys rows of DC + 8 elements each), then NST q buffers of
// G + 1 rows (row G zeros; item k's q lands in buffer k % NST, issued at most NST - 1 tiles ahead of its first tile). AttentionKernels.decodeItemsSharedBytes mirrors it.
template <int DC>
struct Smem {
  static constexpr int kStride = DC + 8;
  static constexpr int kKv = kKeys * kStride;
  static constexpr int kStage = 2 * kKv;
  static_assert(kStage * 2 >= kWarps * 16 * DC * 4, "the warps' merge fits in one stage");
};

template <typename T, int NST, int DC>
__device__ __forceinline__ void decode_items(const T* __restrict__ q, const T* __restrict__ k_cache,
                                             const T* __restrict__ v_cache, T* __restrict__ out,
                                             float* __restrict__ part_o, float* __restrict__ part_ml,
                                             const int2* __restrict__ decodes, const int* __restrict__ positions,
                                             const int* __restrict__ block_tables, int table_stride, int num_heads,
                                             int num_kv_heads, int head_dim, int block_size, int chunk, int items,
                                             int num_decodes, float scale_log2) {
  constexpr int S = Smem<DC>::kStride;
  constexpr int NB = DC / 8;
  constexpr int KS = DC / 16;
  constexpr int CPR = DC / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* stages = reinterpret_cast<T*>(smem_raw);
  __shared__ int it_tok[kMaxItems], it_seq[kMaxItems], it_start[kMaxItems], it_end[kMaxItems], it_tiles[kMaxItems];
  __shared__ float wm[kWarps][16], wl[kWarps][16];

  const int D = head_dim;
  const int G = num_heads / num_kv_heads;
  const int qrows = G + 1;
  T* qbuf = stages + NST * Smem<DC>::kStage;  // [NST][G + 1][S]
  const int kvh = blockIdx.y, split = blockIdx.z, num_splits = gridDim.z;
  const int first = blockIdx.x * items;
  const int n_items = min(items, num_decodes - first);
  if (threadIdx.x < n_items) {
    const int2 dec = decodes[first + threadIdx.x];  // x = token, y = sequence
    const int ctx = positions[dec.x] + 1;
    const int st = split * chunk, en = min(ctx, st + chunk);
    it_tok[threadIdx.x] = dec.x;
    it_seq[threadIdx.x] = dec.y;
    it_start[threadIdx.x] = st;
    it_end[threadIdx.x] = en;
    it_tiles[threadIdx.x] = en > st ? (en - st + kKeys - 1) / kKeys : 0;
  }
  for (int idx = threadIdx.x; idx < NST * CPR; idx += kThreads) zero16(qbuf + ((idx / CPR) * qrows + G) * S + (idx % CPR) * 8);
  __syncthreads();
  pdl_wait();
  pdl_launch_dependents();

  const int q_dim = num_heads * D;
  int total = 0;
  for (int j = 0; j < n_items; ++j) {
    total += it_tiles[j];
    if (it_tiles[j] == 0) {  // an empty split (only with several splits): max -inf, the reduce skips it
      const size_t p0 = ((size_t)(first + j) * num_heads + (size_t)kvh * G) * num_splits + split;
      for (int gq = threadIdx.x; gq < G; gq += kThreads) {
        part_ml[(p0 + (size_t)gq * num_splits) * 2] = -INFINITY;
        part_ml[(p0 + (size_t)gq * num_splits) * 2 + 1] = 0.f;
      }
    }
  }
  if (total == 0) return;

  // tile t of item j into stage, and (t == 0) the item's q rows into q buffer qslot % NST
  auto issue = [&](int j, int t, int stage, int qslot) {
    T* ks = stages + stage * Smem<DC>::kStage;
    load_kv_rows<T, DC, kKeys, kThreads>(ks, ks + Smem<DC>::kKv, k_cache, v_cache,
                                         block_tables + (size_t)it_seq[j] * table_stride, it_start[j] + t * kKeys,
                                         it_end[j], block_size, num_kv_heads, kvh, D, threadIdx.x);
    if (t == 0) {
      T* qd = qbuf + (qslot % NST) * qrows * S;
      for (int idx = threadIdx.x; idx < G * CPR; idx += kThreads) {
        const int r = idx / CPR, c = idx % CPR;
        if (c * 8 < D)
          cp_async16(qd + r * S + c * 8, q + (size_t)it_tok[j] * q_dim + ((size_t)kvh * G + r) * D + c * 8, true);
        else
          zero16(qd + r * S + c * 8);
      }
    }
  };
  // the next tile of the stream: (item, tile in item, q slot = non-empty items passed)
  auto advance = [&](int& j, int& t, int& slot) {
    if (++t == it_tiles[j]) {
      t = 0;
      ++slot;
      do ++j;
      while (j < n_items && it_tiles[j] == 0);
    }
  };

  int lj = 0;
  while (it_tiles[lj] == 0) ++lj;
  int lt = 0, lq = 0;
  int cj = lj, ct = 0, cq = 0;
  issue(lj, 0, 0, 0);
  cp_async_commit();
  advance(lj, lt, lq);
#pragma unroll
  for (int s = 1; s < NST - 1; ++s) {  // tiles 1 .. NST - 2 in flight too (one commit group each, empty past the end)
    if (s < total) {
      issue(lj, lt, s, lq);
      advance(lj, lt, lq);
    }
    cp_async_commit();
  }

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float o[NB][4];
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  uint32_t qf[KS][4];

  for (int it = 0; it < total; ++it) {
    const int stage = it % NST;
    if (it + NST - 1 < total) {  // tile it + NST - 1 into the stage tile it - 1 left; then tile it is complete
      issue(lj, lt, (it + NST - 1) % NST, lq);
      advance(lj, lt, lq);
    }
    cp_async_commit();
    cp_async_wait<NST - 1>();
    __syncthreads();
    if (ct == 0) {  // a new item: its q fragments (rows >= G read the zero row), fresh softmax state
      const T* qs = qbuf + (cq % NST) * qrows * S;
      const int row = min(lane & 15, G);
#pragma unroll
      for (int kk = 0; kk < KS; ++kk) ldmatrix_x4(qf[kk], qs + row * S + kk * 16 + (lane >> 4) * 8);
#pragma unroll
      for (int nb = 0; nb < NB; ++nb) o[nb][0] = o[nb][1] = o[nb][2] = o[nb][3] = 0.f;
      m0 = m1 = -INFINITY;
      l0 = l1 = 0.f;
    }
    const int end = it_end[cj];
    const T* ks = stages + stage * Smem<DC>::kStage + warp * 16 * S;  // this warp's 16 keys
    const T* vs = ks + Smem<DC>::kKv;
    decode_warp_tile<T, DC, S>(ks, vs, qf, it_start[cj] + ct * kKeys + warp * 16, end, lane, scale_log2, m0, m1, l0, l1, o);
    __syncthreads();
    if (++ct < it_tiles[cj]) continue;

    // the item's last tile: merge the 4 warps in this stage (free now; the next tiles stream into the others)
    float* wo = reinterpret_cast<float*>(stages + stage * Smem<DC>::kStage);  // [kWarps][16][DC]
    decode_warps_to_shared<DC, kWarps>(wo, wm, wl, warp, lane, scale_log2, m0, m1, l0, l1, o);
    const size_t part0 = ((size_t)(first + cj) * num_heads + (size_t)kvh * G) * num_splits + split;
    T* orow = out + (size_t)it_tok[cj] * q_dim + (size_t)kvh * G * D;
    for (int idx = threadIdx.x; idx < G * D; idx += kThreads) {
      const int r = idx / D, d = idx % D;
      float M, O, L;
      decode_merged<DC, kWarps>(wo, wm, wl, r, d, M, O, L);
      if (num_splits == 1) {
        orow[idx] = from_float<T>(O / L);
      } else {
        const size_t part = part0 + (size_t)r * num_splits;
        part_o[part * D + d] = O;
        if (d == 0) {
          part_ml[part * 2] = M;
          part_ml[part * 2 + 1] = L;
        }
      }
    }
    __syncthreads();  // wo, wm, wl read: the stage takes the tile after next, the next item's merge rewrites them
    ct = 0;
    ++cq;
    do ++cj;
    while (cj < n_items && it_tiles[cj] == 0);
  }
}
}  // namespace llmc_decode_items

// Entry points per dtype and head-dim class: decode_attention_mma_items{,3}_{f16,bf16}_d{32,64,128} (2 or 3 stages).
#define LLMC_DECODE_ITEMS_ONE(S, T, DC)  \
  LLMC_DECODE_ITEMS_NST(S, T, DC, , 2)   \
  LLMC_DECODE_ITEMS_NST(S, T, DC, 3, 3)
#define LLMC_DECODE_ITEMS_NST(S, T, DC, NAME, NST)                                                              \
  extern "C" __global__ void __launch_bounds__(llmc_decode_items::kThreads)                                   \
      decode_attention_mma_items##NAME##_##S##_d##DC(const T* q, const T* k_cache, const T* v_cache, T* out,          \
                                             float* part_o, float* part_ml, const int2* decodes,             \
                                             const int* positions, const int* block_tables, int table_stride, \
                                             int num_heads, int num_kv_heads, int head_dim, int block_size,   \
                                             int chunk, int items, int num_decodes, float scale_log2) {       \
    llmc_decode_items::decode_items<T, NST, DC>(q, k_cache, v_cache, out, part_o, part_ml, decodes, positions,      \
                                           block_tables, table_stride, num_heads, num_kv_heads, head_dim,      \
                                           block_size, chunk, items, num_decodes, scale_log2);                 \
  }
#define LLMC_DECODE_ITEMS(S, T)     \
  LLMC_DECODE_ITEMS_ONE(S, T, 32)   \
  LLMC_DECODE_ITEMS_ONE(S, T, 64)   \
  LLMC_DECODE_ITEMS_ONE(S, T, 128)
LLMC_FOR_DTYPES(LLMC_DECODE_ITEMS)
