// Skinny GEMM on tensor cores for decode steps of 1..64 tokens: y[t][o] = sum_i x[t][i] * w[o][i], weights either
// 16-bit (T) or INT8 weight-only (offset-binary bytes u = q + 128, FP32 scales per output channel or per group of
// a power-of-two number >= 64 of columns; see gemv.cu), x in T, FP32 accumulation, y in FP32 or T. Each weight is
// read once for all tokens (the GEMV kernels re-read x per token and run out of CUDA-core issue slots past ~4
// tokens; for INT8 the FP32 dequantization alone costs ~4 instructions per weight, here 1).
// Layout: mma.sync m16n8k16 with the weights as the A operand (16 output rows per warp) and the tokens as the
// B operand (n-tiles of 8 tokens). A thread of lane (g = lane / 4, t = lane % 4) loads 16 contiguous bytes of rows
// g and g + 8 per step (INT8: 16 weights, 4 mma k-steps; 16-bit: 8 weights, 2 k-steps), so a warp reads 64 (INT8)
// or 32 (16-bit) contiguous columns of 16 rows; the dot product does not care which k meets which, so the x
// operand is loaded with the same permutation (thread t's k-step s takes physical columns k0 + 16t + 4s + 0..3
// for INT8) instead of interleaving the weights at load. INT8 bytes become exact halves with one byte permute
// and one packed subtraction (FP16) or via FP32 (BF16); the scale multiplies the FP32 accumulator (per channel:
// once at the end; per group: per 64-column step into the running sum).
// Memory access: streaming 16-byte weight loads (each row segment 64 or 32 contiguous bytes per warp step,
// up to four steps in flight), x through the read-only cache (L1/L2 resident). CTA: 8 warps = 8 / R row tiles of 16
// rows, R warps splitting K per tile (deterministic shared-memory reduction in a fixed order).
// Requires in % 64 == 0 (INT8) or in % 32 == 0 (16-bit); INT8 groups: group == in or a power of two >= 64.
// Each lane loads its first kLoads steps of weights, then waits for the previous kernel (PDL, common.cuh).
// grid.x = ceil(out / (16 * 8 / R)) (swiglu: ceil(out / (8 * 8 / R))), 256 threads.
#include "common.cuh"

namespace llmc_skinny {
using namespace llmc;

constexpr int kWarps = 8;
constexpr int kLoads = 4;  // steps whose weights are in flight together per lane

template <typename T>
__device__ __forceinline__ void mma(float (&c)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                                    unsigned b1) {
  if constexpr (std::is_same<T, __half>::value) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

// Two offset-binary bytes (byte `lo` and `lo + 1` of w) -> a packed pair of exact q values in T.
template <typename T>
__device__ __forceinline__ unsigned w8_pair(unsigned w, int lo) {
  if constexpr (std::is_same<T, __half>::value) {
    // 0x64uu as a half is 1024 + u; minus 1152 (0x6480) is u - 128 = q, exact
    unsigned h = __byte_perm(w, 0x64646464u, lo == 0 ? 0x4140 : 0x4342);
    __half2 r = __hsub2(*reinterpret_cast<__half2*>(&h), __halves2half2(__ushort_as_half(0x6480), __ushort_as_half(0x6480)));
    return *reinterpret_cast<unsigned*>(&r);
  } else {
    float f0 = __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7650 + lo)) - 8388736.f;
    float f1 = __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7650 + lo + 1)) - 8388736.f;
    __nv_bfloat162 r = __floats2bfloat162_rn(f0, f1);  // |q| <= 128 is exact in BF16
    return *reinterpret_cast<unsigned*>(&r);
  }
}

// One k-step group of the warp: 16 rows x (64 INT8 or 32 16-bit) columns starting at column c0, all NT n-tiles.
template <typename T, bool INT8, int NT>
__device__ __forceinline__ void step(const uint4 wa, const uint4 wb, const T* __restrict__ x, int in, int tokens, int k0,
                                     int g, float (&c)[NT][4]) {
  const unsigned* a = reinterpret_cast<const unsigned*>(&wa);
  const unsigned* b = reinterpret_cast<const unsigned*>(&wb);
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int n = nt * 8 + g;
    uint4 x0 = make_uint4(0, 0, 0, 0), x1 = make_uint4(0, 0, 0, 0);
    if (n < tokens) {
      const uint4* xr = reinterpret_cast<const uint4*>(x + (size_t)n * in + k0);
      x0 = __ldg(xr);
      if (INT8) x1 = __ldg(xr + 1);
    }
    const unsigned* xw0 = reinterpret_cast<const unsigned*>(&x0);
    const unsigned* xw1 = reinterpret_cast<const unsigned*>(&x1);
    if constexpr (INT8) {
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        // physical columns k0 + 4s + {0,1} and {2,3}: x halves 4s.. of the 16 this thread loaded
        const unsigned xb0 = s < 2 ? xw0[2 * s] : xw1[2 * s - 4];
        const unsigned xb1 = s < 2 ? xw0[2 * s + 1] : xw1[2 * s - 3];
        mma<T>(c[nt], w8_pair<T>(a[s], 0), w8_pair<T>(b[s], 0), w8_pair<T>(a[s], 2), w8_pair<T>(b[s], 2), xb0, xb1);
      }
    } else {
#pragma unroll
      for (int s = 0; s < 2; ++s) mma<T>(c[nt], a[2 * s], b[2 * s], a[2 * s + 1], b[2 * s + 1], xw0[2 * s], xw0[2 * s + 1]);
    }
  }
}

template <typename T, bool INT8, int NT, int R>
__device__ void skinny(const T* __restrict__ x, const uint8_t* __restrict__ w, const float* __restrict__ scales,
                       void* __restrict__ y, int tokens, int in, int out, int group_log2, int fp32_out, int swiglu) {
  constexpr int kBytes = INT8 ? 1 : 2;
  constexpr int kCols = INT8 ? 64 : 32;  // columns per warp step
  __shared__ float partial[R > 1 ? kWarps : 1][R > 1 ? 32 : 1][R > 1 ? NT * 4 : 1];  // one NT per kernel
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int part = warp % R;
  const int tile = blockIdx.x * (kWarps / R) + warp / R;
  // swiglu: a tile serves 8 activation columns j0..j0+7: mma rows g are gate rows j0 + g, rows g + 8 the up rows
  // out + j0 + g, so a thread holds the gate and the up sum of the same (column, token) pairs. Else 16 output rows.
  const int ra = swiglu ? tile * 8 + g : tile * 16 + g, rb = swiglu ? ra : ra + 8;
  const bool per_channel = !INT8 || (1 << group_log2) >= in;
  const int groups = INT8 ? (per_channel ? 1 : (in + (1 << group_log2) - 1) >> group_log2) : 0;
  float acc[NT][4], tmp[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[nt][i] = 0.f;
  const int steps = in / kCols;
  // rows past `out` (the last tile) compute on a copy of the last row and are never written
  const int ca = min(ra, out - 1), cb = swiglu ? out + ca : min(rb, out - 1);
  const uint8_t* wa = w + (size_t)ca * in * kBytes;
  const uint8_t* wb = w + (size_t)cb * in * kBytes;
  auto load = [&](const uint8_t* w_row, int s) {
    return __ldcs(reinterpret_cast<const uint4*>(w_row + (size_t)(s * kCols + t * (kCols / 4)) * kBytes));
  };
  // The first kLoads steps' weights are loaded before the wait for the previous kernel (PDL, see common.cuh): weights
  // never depend on it, so they stream from HBM while it finishes.
  int s = part;
  uint4 va[kLoads], vb[kLoads];
  bool full = s + (kLoads - 1) * R < steps;
  if (full) {
#pragma unroll
    for (int u = 0; u < kLoads; ++u) {
      va[u] = load(wa, s + u * R);
      vb[u] = load(wb, s + u * R);
    }
  }
  pdl_wait();
  pdl_launch_dependents();
  // One 64-byte step of rows a and b (columns k0 = s * kCols + t * kCols / 4 ..) into acc.
  auto consume = [&](const uint4 va, const uint4 vb, int s) {
    const int k0 = s * kCols + t * (kCols / 4);
    if (per_channel) {
      step<T, INT8, NT>(va, vb, x, in, tokens, k0, g, acc);
    } else {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) tmp[nt][i] = 0.f;
      step<T, INT8, NT>(va, vb, x, in, tokens, k0, g, tmp);
      const int gi = (s * kCols) >> group_log2;
      const float sa = __ldg(scales + (size_t)ca * groups + gi);
      const float sb = __ldg(scales + (size_t)cb * groups + gi);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        acc[nt][0] = fmaf(tmp[nt][0], sa, acc[nt][0]);
        acc[nt][1] = fmaf(tmp[nt][1], sa, acc[nt][1]);
        acc[nt][2] = fmaf(tmp[nt][2], sb, acc[nt][2]);
        acc[nt][3] = fmaf(tmp[nt][3], sb, acc[nt][3]);
      }
    }
  };
  // The weights of kLoads steps are loaded before any of them is multiplied, as in the GEMV: with loads and
  // mma / dequantization interleaved step by step, a lane kept one 32-byte pair in flight and the INT8 kernels
  // (twice the math per byte) streamed ~25% slower than the 16-bit GEMV over the same bytes. Same steps, same order.
  while (full) {
#pragma unroll
    for (int u = 0; u < kLoads; ++u) consume(va[u], vb[u], s + u * R);
    s += kLoads * R;
    full = s + (kLoads - 1) * R < steps;
    if (full) {
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        va[u] = load(wa, s + u * R);
        vb[u] = load(wb, s + u * R);
      }
    }
  }
  for (; s < steps; s += R) consume(load(wa, s), load(wb, s), s);
  if (R > 1) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) partial[warp][lane][nt * 4 + i] = acc[nt][i];
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float s = 0.f;
#pragma unroll
        for (int p = 0; p < R; ++p) s += partial[warp + p][lane][nt * 4 + i];
        acc[nt][i] = s;
      }
  }
  float sa = 1.f, sb = 1.f;
  if (INT8 && per_channel) {
    sa = scales[ca];
    sb = scales[cb];
  }
  if (swiglu) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int n = nt * 8 + 2 * t + i;
        if (n < tokens && ra < out)
          reinterpret_cast<T*>(y)[(size_t)n * out + ra] = from_float<T>(silu_times(acc[nt][i] * sa, acc[nt][i + 2] * sb));
      }
    return;
  }
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int n = nt * 8 + 2 * t + (i & 1);
      const int r = i < 2 ? ra : rb;
      if (n < tokens && r < out) {
        const float v = acc[nt][i] * (i < 2 ? sa : sb);
        if (fp32_out)
          reinterpret_cast<float*>(y)[(size_t)n * out + r] = v;
        else
          reinterpret_cast<T*>(y)[(size_t)n * out + r] = from_float<T>(v);
      }
    }
  }
}

}  // namespace llmc_skinny

// skinny_<S>_r<R>_n<NT>(x, w, y, tokens, in, out, fp32_out, swiglu) for 16-bit weights and skinny_w8_<S>_r<R>_n<NT>(x,
// wq, scales, y, tokens, in, out, group_log2, fp32_out, swiglu) for INT8 (swiglu = 1: y[t][j] (T) = silu(gate) * up
// for j < out, w [2 out][in] gate rows then up rows; grid over ceil(out / 8) tiles) (group_log2 >= log2(in): per channel): R = 1, 2, 4, 8
// warps per 16-row tile, NT = 1, 2, 4, 8 n-tiles of 8 tokens (one kernel each, so that M = 1 is not held to the
// registers of M = 64).
#define LLMC_SKINNY_RN(S, T, R, NT)                                                                           \
  extern "C" __global__ void __launch_bounds__(256) skinny_##S##_r##R##_n##NT(                                  \
      const T* x, const T* w, void* y, int tokens, int in, int out, int fp32_out, int swiglu) {               \
    llmc_skinny::skinny<T, false, NT, R>(x, reinterpret_cast<const uint8_t*>(w), nullptr, y, tokens, in, out, 30, \
                                         fp32_out, swiglu);                                                   \
  }                                                                                                           \
  extern "C" __global__ void __launch_bounds__(256) skinny_w8_##S##_r##R##_n##NT(                               \
      const T* x, const uint8_t* w, const float* scales, void* y, int tokens, int in, int out, int group_log2,  \
      int fp32_out, int swiglu) {                                                                             \
    llmc_skinny::skinny<T, true, NT, R>(x, w, scales, y, tokens, in, out, group_log2, fp32_out, swiglu);       \
  }
#define LLMC_SKINNY_R(S, T, R) LLMC_SKINNY_RN(S, T, R, 1) LLMC_SKINNY_RN(S, T, R, 2) LLMC_SKINNY_RN(S, T, R, 4) \
  LLMC_SKINNY_RN(S, T, R, 8)
#define LLMC_SKINNY(S, T) LLMC_SKINNY_R(S, T, 1) LLMC_SKINNY_R(S, T, 2) LLMC_SKINNY_R(S, T, 4) LLMC_SKINNY_R(S, T, 8)
LLMC_FOR_DTYPES(LLMC_SKINNY)
