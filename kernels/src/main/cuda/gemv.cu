// Decode GEMV / skinny GEMM for 1..8 tokens: y[t][o] = sum_i x[t][i] * w[o][i], w row-major [out][in] in T
// (the layout every projection keeps), x [tokens][in] in T, FP32 accumulation, y in FP32 or T.
// At decode the weights are read once per step and nothing else matters: the kernel is a stream over w.
// Memory access: one warp per output row; lane j reads 16-byte vectors j, j+32, ... of the row (coalesced
// 512-byte warp transactions), UNROLL vectors in flight per lane, loads marked streaming (evict-first) so the
// weights do not push x out of L1/L2; x (at most 8 x 28 KB) is read through the read-only cache and stays in
// L1/L2 for all rows of a CTA. Requires in % 8 == 0 and 16-byte aligned rows (the host checks, and sends
// other shapes to cuBLAS). grid.x = ceil(out / 8), 256 threads (8 warps, one row each).
#include "common.cuh"

namespace llmc_gemv {
using namespace llmc;

constexpr int kWarps = 8;
constexpr int kUnroll = 4;

__device__ __forceinline__ void unpack8(const uint4 v, float* f, const __half*) {
  const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 p = __half22float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

__device__ __forceinline__ void unpack8(const uint4 v, float* f, const __nv_bfloat16*) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 p = __bfloat1622float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

template <typename T, int M>
__device__ void gemv_rows(const T* __restrict__ x, const T* __restrict__ w, void* __restrict__ y, int in, int out,
                          int fp32_out) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row = blockIdx.x * kWarps + warp;
  if (row >= out) return;
  const int vecs = in >> 3;  // 16-byte vectors per row
  const uint4* wr = reinterpret_cast<const uint4*>(w + (size_t)row * in);
  const uint4* xr = reinterpret_cast<const uint4*>(x);
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.f;
  int v = lane;
  for (; v + 32 * (kUnroll - 1) < vecs; v += 32 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(wr + v + 32 * u);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float wf[8];
      unpack8(wv[u], wf, (const T*)nullptr);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        float xf[8];
        unpack8(__ldg(xr + (size_t)m * vecs + v + 32 * u), xf, (const T*)nullptr);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[m] = fmaf(wf[e], xf[e], acc[m]);
      }
    }
  }
  for (; v < vecs; v += 32) {
    float wf[8];
    unpack8(__ldcs(wr + v), wf, (const T*)nullptr);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      float xf[8];
      unpack8(__ldg(xr + (size_t)m * vecs + v), xf, (const T*)nullptr);
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[m] = fmaf(wf[e], xf[e], acc[m]);
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = warp_sum(acc[m]);
  if (lane < M) {
    float r = acc[0];
#pragma unroll
    for (int m = 1; m < M; ++m)
      if (lane == m) r = acc[m];
    if (fp32_out)
      reinterpret_cast<float*>(y)[(size_t)lane * out + row] = r;
    else
      reinterpret_cast<T*>(y)[(size_t)lane * out + row] = from_float<T>(r);
  }
}

template <typename T>
__device__ void gemv(const T* x, const T* w, void* y, int tokens, int in, int out, int fp32_out) {
  switch (tokens) {
    case 1: gemv_rows<T, 1>(x, w, y, in, out, fp32_out); break;
    case 2: gemv_rows<T, 2>(x, w, y, in, out, fp32_out); break;
    case 3: gemv_rows<T, 3>(x, w, y, in, out, fp32_out); break;
    case 4: gemv_rows<T, 4>(x, w, y, in, out, fp32_out); break;
    case 5: gemv_rows<T, 5>(x, w, y, in, out, fp32_out); break;
    case 6: gemv_rows<T, 6>(x, w, y, in, out, fp32_out); break;
    case 7: gemv_rows<T, 7>(x, w, y, in, out, fp32_out); break;
    case 8: gemv_rows<T, 8>(x, w, y, in, out, fp32_out); break;
    default: break;
  }
}
}  // namespace llmc_gemv

#define LLMC_GEMV(S, T)                                                                                    \
  extern "C" __global__ void __launch_bounds__(256) gemv_##S(const T* x, const T* w, void* y, int tokens,  \
                                                            int in, int out, int fp32_out) {              \
    llmc_gemv::gemv<T>(x, w, y, tokens, in, out, fp32_out);                                                \
  }
LLMC_FOR_DTYPES(LLMC_GEMV)

// Busy-waits `ns` nanoseconds of the GPU's global timer. The benchmark queues it ahead of a step so that the
// host can queue the whole step before the GPU starts it: the step then runs back to back, and the events
// after the spin measure pure device time (the GPU-idle fraction of a normal step is the difference).
// Memory access: none.
extern "C" __global__ void spin_ns(long long ns) {
  unsigned long long start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < (unsigned long long)ns);
}
