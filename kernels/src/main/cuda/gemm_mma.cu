// The project's own tensor-core GEMM: y[M][N] = x[M][K] · w[N][K]ᵀ (both operands K-contiguous, as the
// weights are stored [out][in]), FP16 or BF16 inputs, FP32 accumulation, FP32 or 16-bit output.
// mma.sync.aligned.m16n8k16 (sm_80+), CTA tile 128×128×32, 8 warps of 64×32, a 3-stage shared-memory pipeline.
// Memory access: each K step, the CTA copies a 128×32 tile of x and of w into shared memory with 16-byte
// cp.async (cache-global, bypassing L1; out-of-range rows/columns zero-filled by a src-size of 0), rows padded
// to 40 elements (80 bytes) so that the 8 row addresses of each ldmatrix fall in distinct banks; warps read
// their fragments with ldmatrix.x4 (A: 16×16 per load, B: two n8 tiles per load); x tiles are reused across the
// 128 output columns of the CTA and w tiles across its 128 rows. Consecutive CTAs (blockIdx.x) walk N, so they
// share the same x rows in L2. The epilogue writes each thread's accumulators with bounds checks (tails in M, N).
// K must be a multiple of 8 for the cp.async path (16-byte rows); gemm_mma_any_* loads with scalar loads and
// handles any K (same tiles, same math).
#include "common.cuh"
#include <type_traits>

namespace llmc {
namespace mma {

constexpr int BM = 128, BN = 128, BK = 32, LDS = BK + 8, STAGES = 3, THREADS = 256;
constexpr int TILE_ELEMS = (BM + BN) * LDS;  // one stage: x tile then w tile

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* smem) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}

template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  if constexpr (std::is_same<T, __half>::value) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Copies rows [row0, row0+128) × columns [k0, k0+32) of a [rows][K] matrix into a padded shared tile.
template <typename T, bool VEC>
__device__ __forceinline__ void load_tile(T* s, const T* __restrict__ g, int rows, int row0, int K, int k0) {
  for (int c = threadIdx.x; c < 128 * (BK / 8); c += THREADS) {
    int r = c >> 2, kc = (c & 3) * 8;
    int gr = row0 + r, gk = k0 + kc;
    T* dst = s + r * LDS + kc;
    if constexpr (VEC) {
      bool ok = gr < rows && gk < K;  // K % 8 == 0: a chunk is wholly in or out
      cp_async16(dst, ok ? (const void*)(g + (size_t)gr * K + gk) : (const void*)g, ok ? 16 : 0);
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        dst[j] = (gr < rows && gk + j < K) ? g[(size_t)gr * K + gk + j] : from_float<T>(0.f);
      }
    }
  }
}

template <typename T, bool VEC>
__device__ __forceinline__ void gemm_mma(const T* __restrict__ x, const T* __restrict__ w, void* __restrict__ y,
                                         int M, int N, int K, int out_f32) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wm = warp >> 2, wn = warp & 3;  // 2 × 4 warps, each 64 rows × 32 columns
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  const int ktiles = (K + BK - 1) / BK;
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) {
      load_tile<T, VEC>(smem + s * TILE_ELEMS, x, M, m0, K, s * BK);
      load_tile<T, VEC>(smem + s * TILE_ELEMS + BM * LDS, w, N, n0, K, s * BK);
    }
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // stage kt is in; everyone is done with the stage the next load overwrites
    int nk = kt + STAGES - 1;
    if (nk < ktiles) {
      T* st = smem + (nk % STAGES) * TILE_ELEMS;
      load_tile<T, VEC>(st, x, M, m0, K, nk * BK);
      load_tile<T, VEC>(st + BM * LDS, w, N, n0, K, nk * BK);
    }
    cp_async_commit();
    const T* As = smem + (kt % STAGES) * TILE_ELEMS;
    const T* Bs = As + BM * LDS;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      unsigned a[4][4], b[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        ldmatrix_x4(a[mi], As + (wm * 64 + mi * 16 + (lane & 15)) * LDS + kk + (lane >> 4) * 8);
      }
#pragma unroll
      for (int nj = 0; nj < 2; ++nj) {
        unsigned r[4];
        ldmatrix_x4(r, Bs + (wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * LDS + kk + ((lane >> 3) & 1) * 8);
        b[2 * nj][0] = r[0];
        b[2 * nj][1] = r[1];
        b[2 * nj + 1][0] = r[2];
        b[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma16816<T>(acc[mi][ni], a[mi], b[ni][0], b[ni][1]);
    }
  }
  cp_async_wait<0>();
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      int col = n0 + wn * 32 + ni * 8 + 2 * t;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        int row = m0 + wm * 64 + mi * 16 + g + h * 8;
        if (row >= M) continue;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          if (col + e < N) {
            float v = acc[mi][ni][2 * h + e];
            if (out_f32) reinterpret_cast<float*>(y)[(size_t)row * N + col + e] = v;
            else reinterpret_cast<T*>(y)[(size_t)row * N + col + e] = from_float<T>(v);
          }
        }
      }
    }
  }
}

}  // namespace mma
}  // namespace llmc

#define LLMC_GEMM_MMA(SUF, T)                                                                                   \
  extern "C" __global__ void __launch_bounds__(llmc::mma::THREADS) gemm_mma_##SUF(                            \
      const T* __restrict__ x, const T* __restrict__ w, void* __restrict__ y, int M, int N, int K, int out_f32) { \
    llmc::mma::gemm_mma<T, true>(x, w, y, M, N, K, out_f32);                                                  \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(llmc::mma::THREADS) gemm_mma_any_##SUF(                        \
      const T* __restrict__ x, const T* __restrict__ w, void* __restrict__ y, int M, int N, int K, int out_f32) { \
    llmc::mma::gemm_mma<T, false>(x, w, y, M, N, K, out_f32);                                                 \
  }
LLMC_FOR_DTYPES(LLMC_GEMM_MMA)
#undef LLMC_GEMM_MMA
