// The tensor-core pieces shared by the skinny GEMMs (skinny_mma.cu: weights loaded into registers;
// skinny_staged.cu: weights staged in shared memory by bulk copies): the m16n8k16 mma, the INT8 offset-binary
// byte pair -> exact 16-bit pair conversion, and one 64-byte k-step group of a warp (16 rows x 64 INT8 or 32 16-bit
// columns against up to NT n-tiles of 8 tokens). Layout and permutation: see skinny_mma.cu.
// Memory access: x through the read-only cache (L1/L2 resident); weights arrive in registers.
#pragma once
#include "common.cuh"
#include <type_traits>

namespace llmc_skinny {
using namespace llmc;

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

}  // namespace llmc_skinny
