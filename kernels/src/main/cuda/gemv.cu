// Decode GEMV / skinny GEMM for 1..8 tokens: y[t][o] = sum_i x[t][i] * w[o][i], w row-major [out][in], x
// [tokens][in] in T (FP16/BF16), FP32 accumulation, y in FP32 or T. Two weight formats:
//   - 16-bit: w in T (gemv_<T>_r<R>);
//   - INT8 weight-only (gemv_w8_<T>_r<R>): w as offset-binary bytes u = q + 128 (packed so at load: the byte
//     becomes an exact float with one byte-permute into the mantissa of 2^23 and one subtraction, no I2F), and
//     FP32 scales [out][ceil(in / group)]: w[o][i] = q[o][i] * scale[o][i / group]; group == in is per channel.
// At decode the weights are read once per step and nothing else matters: the kernel is a stream over w.
// Memory access: a CTA has 8 warps and serves 8 / R rows; the R warps of a row split its 16-byte vectors
// (lane j of part p reads vectors p*32 + j, + 32 R, ...; 512-byte coalesced warp transactions), UNROLL vectors
// in flight per lane, streaming (evict-first) weight loads; x (at most 8 x 28 KB) goes through the read-only
// cache and stays in L1/L2. R > 1 (split-K inside the CTA) gives narrow matrices (few rows, e.g. o_proj) more
// warps in flight; the R partial sums meet in shared memory and are added in a fixed order (deterministic).
// Each lane issues its first batch of weight loads and then waits for the previous kernel (PDL, see common.cuh):
// weights never depend on it, so they flow from HBM while it finishes. The SwiGLU epilogue is a separate kernel
// (a template flag), so the plain projections carry no extra argument, register or loop.
// Requires in % 8 == 0 (16-bit) or in % 16 == 0 and group % 16 == 0 (INT8; the last group may be short), 16-byte aligned rows; the host
// checks and sends other shapes elsewhere. grid.x = ceil(out / (8 / R)), 256 threads.
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

// 16 offset-binary bytes -> 16 exact floats q = u - 128: the byte goes under exponent 2^23 (0x4B00_00uu is
// 8388608 + u), then 8388608 + 128 is subtracted.
__device__ __forceinline__ void unpack16_w8(const uint4 v, float* f) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      f[4 * i + b] = __uint_as_float(__byte_perm(words[i], 0x4B000000u, 0x7650 + b)) - 8388736.f;
    }
  }
}

// One weight vector (8 16-bit or 16 INT8 weights) against M token rows of x, added into acc.
template <typename T, int M>
__device__ __forceinline__ void dot_vec(const uint4 wv, const uint4* xr, int xvecs, int v, float* acc, float, const T*) {
  float wf[8];
  unpack8(wv, wf, (const T*)nullptr);
#pragma unroll
  for (int m = 0; m < M; ++m) {
    float xf[8];
    unpack8(__ldg(xr + (size_t)m * xvecs + v), xf, (const T*)nullptr);
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[m] = fmaf(wf[e], xf[e], acc[m]);
  }
}

template <typename T, int M>
__device__ __forceinline__ void dot_vec(const uint4 wv, const uint4* xr, int xvecs, int v, float* acc, float scale,
                                        const uint8_t*) {
  float wf[16];
  unpack16_w8(wv, wf);
#pragma unroll
  for (int m = 0; m < M; ++m) {
    float xf[16];
    unpack8(__ldg(xr + (size_t)m * xvecs + 2 * v), xf, (const T*)nullptr);
    unpack8(__ldg(xr + (size_t)m * xvecs + 2 * v + 1), xf + 8, (const T*)nullptr);
    float d = 0.f;
#pragma unroll
    for (int e = 0; e < 16; ++e) d = fmaf(wf[e], xf[e], d);
    acc[m] = fmaf(d, scale, acc[m]);
  }
}

// The first kUnroll vectors of this lane's part of row `row` (parts as in row_dot), when the row has that many for it:
// issued before pdl_wait(), since weights never depend on the previous kernel, so under PDL they stream from HBM while
// that kernel finishes (registers, not an L2 prefetch: nothing is fetched twice and nothing is evicted before use).
template <typename W, int R>
__device__ __forceinline__ bool first_batch(const W* __restrict__ w, int row, int in, int part, int lane,
                                            uint4 (&wv)[kUnroll]) {
  constexpr int kPerVec = 16 / sizeof(W);
  const int vecs = in / kPerVec;
  const uint4* wr = reinterpret_cast<const uint4*>(w + (size_t)row * in);
  const int v = part * 32 + lane;
  const bool full = v + 32 * R * (kUnroll - 1) < vecs;
  if (full) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(wr + v + 32 * R * u);
  }
  return full;
}

// Adds one weight row (this warp's part of row `row`: vectors part*32 + lane, + 32 R, ...) times M token rows of x
// into acc; `wv` holds the row's first batch when `full` (first_batch). W = T (16-bit weights, scales unused) or
// uint8_t (INT8 offset-binary, scales [out][ceil(in / group)]). Batches of kUnroll vectors: all loaded, then all
// multiplied; the vectors are consumed in the same order whatever the batching, so every path sums alike. PIPE: the
// next batch is loaded before this one is multiplied (two batches in flight while the lane computes; 16 more registers).
template <typename T, typename W, int M, int R, bool PIPE>
__device__ __forceinline__ void row_dot(const T* __restrict__ x, const W* __restrict__ w,
                                        const float* __restrict__ scales, int row, int in, int group, int part,
                                        int lane, uint4 (&wv)[kUnroll], bool full, float* acc) {
  constexpr int kPerVec = 16 / sizeof(W);  // weights per 16-byte vector
  constexpr bool kInt8 = sizeof(W) == 1;
  const int vecs = in / kPerVec;
  const int xvecs = in >> 3;
  const uint4* wr = reinterpret_cast<const uint4*>(w + (size_t)row * in);
  const uint4* xr = reinterpret_cast<const uint4*>(x);
  const float* sr = kInt8 ? scales + (size_t)row * ((in + group - 1) / group) : nullptr;
  const int vecsPerGroup = kInt8 ? group / kPerVec : 1;
  // per channel: one scale for the row, applied once at the end (no per-vector scale load and division)
  const bool perRow = !kInt8 || group >= in;
  int v = part * 32 + lane;
  while (full) {
    const int vn = v + 32 * R * kUnroll;
    const bool nfull = vn + 32 * R * (kUnroll - 1) < vecs;
    uint4 next[kUnroll];
    if (PIPE && nfull) {  // the next batch's loads go out before this batch's math
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) next[u] = __ldcs(wr + vn + 32 * R * u);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int vu = v + 32 * R * u;
      dot_vec<T, M>(wv[u], xr, xvecs, vu, acc, perRow ? 1.f : __ldg(sr + vu / vecsPerGroup), (const W*)nullptr);
    }
    v = vn;
    full = nfull;
    if (full) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) wv[u] = PIPE ? next[u] : __ldcs(wr + v + 32 * R * u);
    }
  }
  for (; v < vecs; v += 32 * R) {
    dot_vec<T, M>(__ldcs(wr + v), xr, xvecs, v, acc, perRow ? 1.f : __ldg(sr + v / vecsPerGroup), (const W*)nullptr);
  }
  if (kInt8 && perRow) {
    const float s = __ldg(sr);
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] *= s;
  }
}

// Token m's sum, from lane m (after the warp reduction every lane holds all M sums).
template <int M>
__device__ __forceinline__ float pick(const float* acc, int lane) {
  float r = acc[0];
#pragma unroll
  for (int m = 1; m < M; ++m)
    if (lane == m) r = acc[m];
  return r;
}

// SWIGLU false: y[t][row] = x[t] . w[row] for row < out. SWIGLU true (the gate|up projection, w [2 out][in]): the warp
// streams gate row `row` and up row `out + row` and writes y[t][row] (T) = silu(gate) * up, the down projection's
// input, which the separate silu_mul kernel would compute from the FP32 outputs: same sums, same rounding. A compile-time
// choice, so the plain kernels carry none of the SwiGLU's registers or loop.
template <typename T, typename W, int M, int R, bool SWIGLU, bool PIPE = false>
__device__ void gemv_rows(const T* __restrict__ x, const W* __restrict__ w, const float* __restrict__ scales,
                          void* __restrict__ y, int in, int out, int group, int fp32_out) {
  constexpr int kRows = SWIGLU ? 2 : 1;
  __shared__ float partial[kWarps][kRows][M];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int part = warp % R;
  const int row = blockIdx.x * (kWarps / R) + warp / R;
  uint4 wv[kUnroll];
  bool full = row < out && first_batch<W, R>(w, row, in, part, lane, wv);
  pdl_wait();
  pdl_launch_dependents();
  float acc[kRows][M];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) acc[r][m] = 0.f;
  // one copy of the streaming loop for both rows of the SwiGLU (a second inlined copy would add ~40% to the fatbin)
#pragma unroll 1
  for (int pass = 0; pass < kRows && row < out; ++pass) {
    if (pass > 0) full = first_batch<W, R>(w, row + pass * out, in, part, lane, wv);
    float sum[M];
#pragma unroll
    for (int m = 0; m < M; ++m) sum[m] = 0.f;
    row_dot<T, W, M, R, PIPE>(x, w, scales, row + pass * out, in, group, part, lane, wv, full, sum);
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      if (r == pass) {
#pragma unroll
        for (int m = 0; m < M; ++m) acc[r][m] = sum[m];
      }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) acc[r][m] = warp_sum(acc[r][m]);
  float res[kRows];
  if (R > 1) {
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r)
#pragma unroll
        for (int m = 0; m < M; ++m) partial[warp][r][m] = acc[r][m];
    }
    __syncthreads();
    if (part != 0) return;
    if (lane < M) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        float s = 0.f;
#pragma unroll
        for (int p = 0; p < R; ++p) s += partial[warp + p][r][lane];
        res[r] = s;  // lane m holds token m's sum
      }
    }
  } else if (lane < M) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) res[r] = pick<M>(acc[r], lane);
  }
  if (row < out && lane < M) {
    if constexpr (SWIGLU)
      reinterpret_cast<T*>(y)[(size_t)lane * out + row] = from_float<T>(silu_times(res[0], res[kRows - 1]));
    else if (fp32_out)
      reinterpret_cast<float*>(y)[(size_t)lane * out + row] = res[0];
    else
      reinterpret_cast<T*>(y)[(size_t)lane * out + row] = from_float<T>(res[0]);
  }
}

// ONE: the kernel serves one token only (gemv1_* entry points). The registers of a kernel are those of its largest
// case, so in the 1..8-token kernels M = 1 ran with M = 8's (72 instead of ~40 for 16-bit weights): fewer CTAs per SM,
// an extra partial wave on the narrow matrices.
// PIPE (one token only, gemv1p_* entry points): row_dot's double-buffered loads.
template <typename T, typename W, int R, bool SWIGLU, bool ONE, bool PIPE = false>
__device__ void gemv(const T* x, const W* w, const float* scales, void* y, int tokens, int in, int out, int group,
                     int fp32_out) {
  if (ONE || PIPE) {
    if (tokens == 1) gemv_rows<T, W, 1, R, SWIGLU, PIPE>(x, w, scales, y, in, out, group, fp32_out);
    else pdl_wait();
    return;
  }
  switch (tokens) {
    case 1: gemv_rows<T, W, 1, R, SWIGLU>(x, w, scales, y, in, out, group, fp32_out); break;
    case 2: gemv_rows<T, W, 2, R, SWIGLU>(x, w, scales, y, in, out, group, fp32_out); break;
    case 3: gemv_rows<T, W, 3, R, SWIGLU>(x, w, scales, y, in, out, group, fp32_out); break;
    case 4: gemv_rows<T, W, 4, R, SWIGLU>(x, w, scales, y, in, out, group, fp32_out); break;
    case 5: gemv_rows<T, W, 5, R, SWIGLU>(x, w, scales, y, in, out, group, fp32_out); break;
    case 6: gemv_rows<T, W, 6, R, SWIGLU>(x, w, scales, y, in, out, group, fp32_out); break;
    case 7: gemv_rows<T, W, 7, R, SWIGLU>(x, w, scales, y, in, out, group, fp32_out); break;
    case 8: gemv_rows<T, W, 8, R, SWIGLU>(x, w, scales, y, in, out, group, fp32_out); break;
    default: pdl_wait(); break;
  }
}
}  // namespace llmc_gemv

// gemv_<S>_r<R>(x, w, y, tokens, in, out, fp32_out) and gemv_w8_<S>_r<R>(x, wq, scales, y, tokens, in, out, group,
// fp32_out) for R = 1, 2, 4, 8 warps per output row; gemv_swiglu_<S>_r<R>(x, w, act, tokens, in, inter) and
// gemv_w8_swiglu_<S>_r<R>(x, wq, scales, act, tokens, in, inter, group): w has 2 inter rows (gate then up), act [tokens]
// [inter] in T = silu(gate) * up. Each also as gemv1_*: the same for one token, with one token's registers, and the
// 16-bit ones as gemv1p_*: one token with the next batch of weights loaded before the current one is multiplied.
// 16-bit weights (plain, SwiGLU) and INT8 weights (plain, SwiGLU) of one family P.
#define LLMC_GEMV16_RP(S, T, R, P, ONE, PIPE)                                                                 \
  extern "C" __global__ void __launch_bounds__(256) P##_##S##_r##R(const T* x, const T* w, void* y,           \
      int tokens, int in, int out, int fp32_out) {                                                            \
    llmc_gemv::gemv<T, T, R, false, ONE, PIPE>(x, w, nullptr, y, tokens, in, out, in, fp32_out);             \
  }                                                                                                         \
  extern "C" __global__ void __launch_bounds__(256) P##_swiglu_##S##_r##R(const T* x, const T* w, T* act,     \
      int tokens, int in, int inter) {                                                                        \
    llmc_gemv::gemv<T, T, R, true, ONE, PIPE>(x, w, nullptr, act, tokens, in, inter, in, 0);                 \
  }
#define LLMC_GEMV8_RP(S, T, R, P, ONE)                                                                        \
  extern "C" __global__ void __launch_bounds__(256) P##_w8_##S##_r##R(                                        \
      const T* x, const uint8_t* w, const float* scales, void* y, int tokens, int in, int out, int group,     \
      int fp32_out) {                                                                                         \
    llmc_gemv::gemv<T, uint8_t, R, false, ONE>(x, w, scales, y, tokens, in, out, group, fp32_out);            \
  }                                                                                                         \
  extern "C" __global__ void __launch_bounds__(256) P##_w8_swiglu_##S##_r##R(                                 \
      const T* x, const uint8_t* w, const float* scales, T* act, int tokens, int in, int inter, int group) {  \
    llmc_gemv::gemv<T, uint8_t, R, true, ONE>(x, w, scales, act, tokens, in, inter, group, 0);                \
  }
// gemv1p_* for 16-bit weights only: the INT8 one-token kernels lost 4-15% with it on the H200 (64-80 instead of 48-62
// registers, and their dequantization already keeps the lane busy between batches; docs/benchmarks.md).
#define LLMC_GEMV_R(S, T, R)                                                                                  \
  LLMC_GEMV16_RP(S, T, R, gemv, false, false) LLMC_GEMV8_RP(S, T, R, gemv, false)                            \
  LLMC_GEMV16_RP(S, T, R, gemv1, true, false) LLMC_GEMV8_RP(S, T, R, gemv1, true)                            \
  LLMC_GEMV16_RP(S, T, R, gemv1p, true, true)
#define LLMC_GEMV(S, T) LLMC_GEMV_R(S, T, 1) LLMC_GEMV_R(S, T, 2) LLMC_GEMV_R(S, T, 4) LLMC_GEMV_R(S, T, 8)
LLMC_FOR_DTYPES(LLMC_GEMV)

// out[r][c] (T) = (u[r][c] - 128) * scales[r][c / group] for r < rows: INT8 weights back to the run dtype, so
// that large token counts (prefill) can use cuBLAS on a chunk of rows at a time. cols % 16 == 0.
// Memory access: one thread per 16 bytes, grid-stride; 16-byte loads, two 16-byte stores.
#define LLMC_DEQUANT_W8(S, T)                                                                                \
  extern "C" __global__ void dequant_w8_##S(const uint8_t* __restrict__ w, const float* __restrict__ scales,   \
                                            T* __restrict__ out, int rows, int cols, int group) {            \
    const long long vecs = (long long)rows * (cols / 16);                                                     \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < vecs;                            \
         i += (long long)gridDim.x * blockDim.x) {                                                            \
      const long long r = i / (cols / 16);                                                                    \
      const int c = (int)(i - r * (cols / 16)) * 16;                                                          \
      float f[16];                                                                                            \
      llmc_gemv::unpack16_w8(__ldcs(reinterpret_cast<const uint4*>(w) + i), f);                               \
      const float s = scales[r * ((cols + group - 1) / group) + c / group];                                                 \
      alignas(16) T o[16];                                                                                              \
      _Pragma("unroll") for (int e = 0; e < 16; ++e) o[e] = llmc::from_float<T>(f[e] * s);                    \
      reinterpret_cast<uint4*>(out)[2 * i] = *reinterpret_cast<uint4*>(o);                                    \
      reinterpret_cast<uint4*>(out)[2 * i + 1] = *reinterpret_cast<uint4*>(o + 8);                            \
    }                                                                                                         \
  }
LLMC_FOR_DTYPES(LLMC_DEQUANT_W8)

// Symmetric INT8 quantization of 16-bit rows, the rule of the CPU backend (Int8Matrix) per group of `group`
// columns: scale = max|w| / 127, q = rint(w / scale) clamped to +-127 (0 when the group is all zero), stored as
// offset-binary u = q + 128 for the GEMV kernels. IEEE division and rint, so the Java twin (Int8Rows) gives the
// same bytes and scales bit for bit. Load time only. One warp per (row, group): a max pass, then a write pass.
// Memory access: coalesced 2-byte loads (twice) and 1-byte stores per lane; grid.x = ceil(rows * groups / 8).
#define LLMC_QUANTIZE_W8(S, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(256) quantize_w8_##S(const T* __restrict__ w,                  \
      uint8_t* __restrict__ q, float* __restrict__ scales, int rows, int cols, int group) {                    \
    const int groups = (cols + group - 1) / group;                                                            \
    const long long task = (long long)blockIdx.x * 8 + (threadIdx.x >> 5);                                    \
    const int lane = threadIdx.x & 31;                                                                        \
    if (task >= (long long)rows * groups) return;                                                             \
    const long long r = task / groups;                                                                        \
    const int c0 = (int)(task - r * groups) * group, c1 = min(cols, c0 + group);                              \
    const T* wr = w + r * cols;                                                                               \
    float m = 0.f;                                                                                            \
    for (int c = c0 + lane; c < c1; c += 32) m = fmaxf(m, fabsf(llmc::to_float(wr[c])));                      \
    m = llmc::warp_max(m);                                                                                    \
    const float scale = m / 127.f;                                                                            \
    if (lane == 0) scales[task] = scale;                                                                      \
    for (int c = c0 + lane; c < c1; c += 32) {                                                                \
      const float v = scale == 0.f ? 0.f : fminf(127.f, fmaxf(-127.f, rintf(llmc::to_float(wr[c]) / scale))); \
      q[r * cols + c] = (uint8_t)((int)v + 128);                                                              \
    }                                                                                                         \
  }
LLMC_FOR_DTYPES(LLMC_QUANTIZE_W8)

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
