// Paged decode attention with split-K (flash-decoding): one new token per sequence attends to its whole
// context through the block table. grid = (decode tokens, kv heads, splits); split s covers positions
// [s*chunk, min(ctx, (s+1)*chunk)). GQA-aware: a CTA serves all `group` query heads of one kv head, so each
// K row and each V row is read from memory once per group (group <= 8; the host sends larger groups through
// the prefill kernel). Each of the 4 warps takes 32 consecutive positions per pass (lane = position) and keeps
// an online softmax (FP32 max, sum and accumulators) per query head; the warps are combined in shared memory,
// and the CTA writes one unnormalized partial (output row, max, sum) per head to FP32 scratch.
// decode_attention_reduce then merges the splits of each (token, head) and writes the output in T.
// Memory access: a lane reads its position's whole K row (D elements, 16-byte vector loads, so D % 8 == 0 is
// required); V rows are read cooperatively, lane = head dim (coalesced); q once into shared memory. Partials
// are (D + 2) floats per (token, head, split), written once and read once by the reduce.
#include "common.cuh"

namespace llmc_decode {
using namespace llmc;

constexpr int kWarps = 4;
constexpr int kMaxGroup = 8;

template <typename T, int NDL>
__device__ void decode_attention_split(const T* __restrict__ q, const T* __restrict__ k_cache,
                                       const T* __restrict__ v_cache, float* __restrict__ part_o,
                                       float* __restrict__ part_ml, const int2* __restrict__ decodes,
                                       const int* __restrict__ positions, const int* __restrict__ block_tables,
                                       int table_stride, int num_heads, int num_kv_heads, int head_dim,
                                       int block_size, int chunk, float scale_log2) {
  extern __shared__ float smem[];
  const int D = head_dim;
  const int G = num_heads / num_kv_heads;
  float* qs = smem;                  // [G][D]
  float* wm = qs + G * D;            // [kWarps][G]
  float* wl = wm + kWarps * G;       // [kWarps][G]
  float* wo = wl + kWarps * G;       // [kWarps][G][D]
  const int2 dec = decodes[blockIdx.x];  // x = token, y = sequence
  const int kvh = blockIdx.y, split = blockIdx.z, num_splits = gridDim.z;
  const int ctx = positions[dec.x] + 1;
  const int start = split * chunk, end = min(ctx, start + chunk);
  const int q_dim = num_heads * D;
  const int* table = block_tables + (size_t)dec.y * table_stride;
  for (int idx = threadIdx.x; idx < G * D; idx += blockDim.x)
    qs[idx] = to_float(q[(size_t)dec.x * q_dim + (size_t)kvh * G * D + idx]) * scale_log2;
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float m[kMaxGroup], l[kMaxGroup], o[kMaxGroup][NDL];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int c = 0; c < NDL; ++c) o[g][c] = 0.f;
  }
  for (int base = start + warp * 32; base < end; base += kWarps * 32) {
    const int p = base + lane;
    const bool valid = p < end;
    long long row = 0;
    float s[kMaxGroup];
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) s[g] = 0.f;
    if (valid) {
      row = (kv_slot(table, p, block_size) * num_kv_heads + kvh) * D;
      const T* kr = k_cache + row;
      for (int d = 0; d < D; d += 8) {
        uint4 raw = *reinterpret_cast<const uint4*>(kr + d);
        const T* e = reinterpret_cast<const T*>(&raw);
        float kf[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) kf[u] = to_float(e[u]);
#pragma unroll
        for (int g = 0; g < kMaxGroup; ++g) {
          if (g < G) {
#pragma unroll
            for (int u = 0; u < 8; ++u) s[g] += qs[g * D + d + u] * kf[u];
          }
        }
      }
    }
    float pr[kMaxGroup];
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) {
      pr[g] = 0.f;
      if (g < G) {
        const float sg = valid ? s[g] : -INFINITY;
        const float m_new = fmaxf(m[g], warp_max(sg));  // finite: lane 0 is always valid here
        pr[g] = valid ? exp2f(sg - m_new) : 0.f;
        const float alpha = exp2f(m[g] - m_new);
        l[g] = l[g] * alpha + warp_sum(pr[g]);
        m[g] = m_new;
#pragma unroll
        for (int c = 0; c < NDL; ++c) o[g][c] *= alpha;
      }
    }
    const int n_valid = min(32, end - base);
    for (int j = 0; j < n_valid; ++j) {
      const long long rj = __shfl_sync(0xffffffffu, row, j);
      float pj[kMaxGroup];
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g) pj[g] = __shfl_sync(0xffffffffu, pr[g], j);
      const T* vr = v_cache + rj;
#pragma unroll
      for (int c = 0; c < NDL; ++c) {
        const int d = lane + 32 * c;
        if (d < D) {
          const float v = to_float(vr[d]);
#pragma unroll
          for (int g = 0; g < kMaxGroup; ++g)
            if (g < G) o[g][c] += pj[g] * v;
        }
      }
    }
  }
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    if (g < G) {
      if (lane == 0) {
        wm[warp * G + g] = m[g];
        wl[warp * G + g] = l[g];
      }
#pragma unroll
      for (int c = 0; c < NDL; ++c) {
        const int d = lane + 32 * c;
        if (d < D) wo[(warp * G + g) * D + d] = o[g][c];
      }
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < G * D; idx += blockDim.x) {
    const int g = idx / D, d = idx % D;
    float M = -INFINITY;
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wm[w * G + g]);
    float O = 0.f, L = 0.f;
    if (M != -INFINITY) {
      for (int w = 0; w < kWarps; ++w) {
        const float mw = wm[w * G + g];
        if (mw != -INFINITY) {
          const float f = exp2f(mw - M);
          O += wo[(w * G + g) * D + d] * f;
          L += wl[w * G + g] * f;
        }
      }
    }
    const size_t part = ((size_t)blockIdx.x * num_heads + (size_t)kvh * G + g) * num_splits + split;
    part_o[part * D + d] = O;
    if (d == 0) {
      part_ml[part * 2] = M;
      part_ml[part * 2 + 1] = L;
    }
  }
}

// grid = (decode tokens, query heads); merges the splits of one (token, head).
template <typename T>
__device__ void decode_attention_reduce(const float* __restrict__ part_o, const float* __restrict__ part_ml,
                                        const int2* __restrict__ decodes, T* __restrict__ out, int num_heads,
                                        int head_dim, int num_splits) {
  const int h = blockIdx.y;
  const size_t base = ((size_t)blockIdx.x * num_heads + h) * num_splits;
  float M = -INFINITY;
  for (int s = 0; s < num_splits; ++s) M = fmaxf(M, part_ml[(base + s) * 2]);
  float L = 0.f;
  for (int s = 0; s < num_splits; ++s) {
    const float ms = part_ml[(base + s) * 2];
    if (ms != -INFINITY) L += part_ml[(base + s) * 2 + 1] * exp2f(ms - M);
  }
  const float inv = 1.f / L;
  const size_t row = (size_t)decodes[blockIdx.x].x * num_heads * head_dim + (size_t)h * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.f;
    for (int s = 0; s < num_splits; ++s) {
      const float ms = part_ml[(base + s) * 2];
      if (ms != -INFINITY) acc += part_o[(base + s) * head_dim + d] * exp2f(ms - M);
    }
    out[row + d] = from_float<T>(acc * inv);
  }
}
}  // namespace llmc_decode

#define LLMC_DECODE_ONE(S, T, NDL, DMAX)                                                                       \
  extern "C" __global__ void __launch_bounds__(128) decode_attention_##S##_d##DMAX(                            \
      const T* q, const T* k_cache, const T* v_cache, float* part_o, float* part_ml, const int2* decodes,       \
      const int* positions, const int* block_tables, int table_stride, int num_heads, int num_kv_heads,         \
      int head_dim, int block_size, int chunk, float scale_log2) {                                               \
    llmc_decode::decode_attention_split<T, NDL>(q, k_cache, v_cache, part_o, part_ml, decodes, positions, block_tables,     \
                                   table_stride, num_heads, num_kv_heads, head_dim, block_size, chunk,          \
                                   scale_log2);                                                                  \
  }
#define LLMC_DECODE(S, T)                                                                                      \
  LLMC_DECODE_ONE(S, T, 1, 32)                                                                                 \
  LLMC_DECODE_ONE(S, T, 2, 64)                                                                                 \
  LLMC_DECODE_ONE(S, T, 4, 128)                                                                                \
  LLMC_DECODE_ONE(S, T, 8, 256)                                                                                \
  extern "C" __global__ void decode_attention_reduce_##S(const float* part_o, const float* part_ml,            \
                                                         const int2* decodes, T* out, int num_heads,           \
                                                         int head_dim, int num_splits) {                       \
    llmc::pdl_wait(); llmc::pdl_launch_dependents();                                                           \
    llmc_decode::decode_attention_reduce<T>(part_o, part_ml, decodes, out, num_heads, head_dim, num_splits);               \
  }
LLMC_FOR_DTYPES(LLMC_DECODE)
