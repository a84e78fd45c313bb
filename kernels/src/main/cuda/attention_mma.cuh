// Tensor-core building blocks of the attention kernels (prefill_attention_mma.cu, decode_attention_mma.cu):
// cp.async 16-byte copies into shared memory (with zero fill), ldmatrix.x4 (plain and transposed) and
// mma.sync m16n8k16 with FP32 accumulation for FP16 and BF16, and packing two FP32 values into one register of
// the 16-bit dtype. Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k16"), g = lane / 4, t = lane % 4:
//   A 16x16 row-major: a0 (row g, cols 2t,2t+1), a1 (row g+8, same cols), a2 (row g, cols 2t+8,+9), a3 (row g+8, +8)
//   B 16x8 "col":      b0 (k 2t,2t+1, col g), b1 (k 2t+8,+9, col g)
//   C 16x8 FP32:       c0,c1 (row g, cols 2t,2t+1), c2,c3 (row g+8, cols 2t,2t+1)
// Shared tiles are row-major with rows padded by 8 elements (16 bytes): eight rows read at the same column by
// one ldmatrix then fall in eight different 16-byte bank groups for every head-dim class, without a swizzle.
// Memory access: none of its own (device functions only).
#pragma once
#include "common.cuh"

namespace llmc_mma {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; when !valid the destination is zero-filled and src is not read.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void zero16(void* dst) { *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0); }

// Four 8x8 16-bit matrices; lanes 8i..8i+7 give the row addresses of matrix i, register i receives matrix i.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

// c += a * b (16x8x16), FP32 accumulators.
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma16816<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two FP32 values as one register of two T; lo is the lower-indexed element (the low 16 bits).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);

template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

// Issues the cp.async copies of the K and V rows of keys [base, base + ROWS) of kv head kvh into shared tiles
// ks / vs (rows of DC + 8 elements): keys >= end are zero-filled (never read), columns in [D, DC) are zeros.
// Thread layout: chunk column c = tid % (DC / 8), rows tid / (DC / 8) + i * (THREADS / (DC / 8)); the block-table
// slot walks forward from row to row without a division. `tid`: the thread's index among the THREADS that load the
// tile (threadIdx.x for a CTA's tile, the lane for one warp's own tile).
template <typename T, int DC, int ROWS, int THREADS>
__device__ __forceinline__ void load_kv_rows(T* ks, T* vs, const T* __restrict__ k_cache,
                                             const T* __restrict__ v_cache, const int* __restrict__ table, int base,
                                             int end, int block_size, int num_kv_heads, int kvh, int D, int tid) {
  constexpr int S = DC + 8, CPR = DC / 8, RPP = THREADS / CPR, PASSES = ROWS / RPP;
  static_assert(THREADS % CPR == 0 && ROWS % RPP == 0, "tile shape");
  const int c = tid % CPR, j0 = tid / CPR;
  if (c * 8 >= D) {
#pragma unroll
    for (int i = 0; i < PASSES; ++i) {
      zero16(ks + (j0 + i * RPP) * S + c * 8);
      zero16(vs + (j0 + i * RPP) * S + c * 8);
    }
    return;
  }
  const int p0 = base + j0;
  // every pass's block-table entry first, then the copies: the entries are independent loads in flight together
  // (one L2 round trip a tile), where loading each just before its copy stalled the issue once per block
  int tb[PASSES], in[PASSES];
  {
    int blk = p0 / block_size, inb = p0 - blk * block_size;
#pragma unroll
    for (int i = 0; i < PASSES; ++i) {
      tb[i] = p0 + i * RPP < end ? __ldg(table + blk) : 0;
      in[i] = inb;
      inb += RPP;
      while (inb >= block_size) {
        inb -= block_size;
        ++blk;
      }
    }
  }
#pragma unroll
  for (int i = 0; i < PASSES; ++i) {
    const int j = j0 + i * RPP;
    const bool valid = p0 + i * RPP < end;
    const int64_t off = valid ? (((int64_t)tb[i] * block_size + in[i]) * num_kv_heads + kvh) * D + c * 8 : 0;
    cp_async16(ks + j * S + c * 8, k_cache + off, valid);
    cp_async16(vs + j * S + c * 8, v_cache + off, valid);
  }
}

// 2^x with the hardware approximation (relative error ~2^-22, subnormal results flushed to 0); 2^-inf = 0.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// exp2 of x - m where m may be -inf (a row that has seen no visible key yet): then every term is 0, not NaN.
__device__ __forceinline__ float safe_max(float m) { return m == -INFINITY ? 0.f : m; }

// One warp's step of the split-K decode attention over its 16 keys of a 64-key tile: the q fragment times K (16x16
// scores for the 16 q rows of the GQA group), keys at or past `end` masked, the online softmax's running max / sum
// (m, l for the two row halves this lane holds) and the P V product into o. `ks`, `vs`: the warp's 16 key rows in
// shared memory (row stride S halves); `kbase`: the first of those keys' positions. Shared by the one-token and the
// several-tokens-per-CTA decode kernels, so both compute bit-identical results.
// SHORT (decode_attention_warp.cu, one warp per task, few warps an SM, so latency shows): the scores in two
// accumulator chains per n-block (even and odd k-steps, added at the end: half the dependent mma latency), and o
// rescaled only when some row's max moved in this warp (alpha is exactly 1 otherwise, so skipping is bit-exact).
template <typename T, int DC, int S, bool SHORT = false>
__device__ __forceinline__ void decode_warp_tile(const T* ks, const T* vs, const uint32_t (&qf)[DC / 16][4], int kbase,
                                                 int end, int lane, float scale_log2, float& m0, float& m1, float& l0,
                                                 float& l1, float (&o)[DC / 8][4]) {
  constexpr int KS = DC / 16, NB = DC / 8;
  const int t4 = lane & 3;
  float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
  if constexpr (SHORT && KS >= 2) {
    float s2[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
      uint32_t b[4];
      ldmatrix_x4(b, ks + ((lane & 7) + ((lane >> 4) << 3)) * S + kk * 16 + ((lane >> 3) & 1) * 8);
      mma16816<T>((kk & 1) ? s2[0] : s[0], qf[kk], b[0], b[1]);
      mma16816<T>((kk & 1) ? s2[1] : s[1], qf[kk], b[2], b[3]);
    }
#pragma unroll
    for (int nb = 0; nb < 2; ++nb) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nb][e] += s2[nb][e];
    }
  } else {
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
      uint32_t b[4];
      ldmatrix_x4(b, ks + ((lane & 7) + ((lane >> 4) << 3)) * S + kk * 16 + ((lane >> 3) & 1) * 8);
      mma16816<T>(s[0], qf[kk], b[0], b[1]);
      mma16816<T>(s[1], qf[kk], b[2], b[3]);
    }
  }
  float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
  for (int nb = 0; nb < 2; ++nb) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int key = kbase + nb * 8 + 2 * t4 + (e & 1);
      if (key >= end) s[nb][e] = -INFINITY;
    }
    mx0 = fmaxf(mx0, fmaxf(s[nb][0], s[nb][1]));
    mx1 = fmaxf(mx1, fmaxf(s[nb][2], s[nb][3]));
  }
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
  const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
  // raw-score max (the scale is positive); the warps' max is kept in log2 units: m * scale
  const float base0 = safe_max(mn0) * scale_log2, base1 = safe_max(mn1) * scale_log2;
  const float alpha0 = fast_exp2(m0 * scale_log2 - base0), alpha1 = fast_exp2(m1 * scale_log2 - base1);
  m0 = mn0;
  m1 = mn1;
  float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
  for (int nb = 0; nb < 2; ++nb) {
    s[nb][0] = fast_exp2(fmaf(s[nb][0], scale_log2, -base0));
    s[nb][1] = fast_exp2(fmaf(s[nb][1], scale_log2, -base0));
    s[nb][2] = fast_exp2(fmaf(s[nb][2], scale_log2, -base1));
    s[nb][3] = fast_exp2(fmaf(s[nb][3], scale_log2, -base1));
    sum0 += s[nb][0] + s[nb][1];
    sum1 += s[nb][2] + s[nb][3];
  }
  l0 = l0 * alpha0 + sum0;
  l1 = l1 * alpha1 + sum1;
  if (!SHORT || __any_sync(0xffffffffu, alpha0 != 1.f || alpha1 != 1.f)) {
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
      o[nb][0] *= alpha0;
      o[nb][1] *= alpha0;
      o[nb][2] *= alpha1;
      o[nb][3] *= alpha1;
    }
  }
  uint32_t a[4];
  a[0] = pack2<T>(s[0][0], s[0][1]);
  a[1] = pack2<T>(s[0][2], s[0][3]);
  a[2] = pack2<T>(s[1][0], s[1][1]);
  a[3] = pack2<T>(s[1][2], s[1][3]);
#pragma unroll
  for (int np = 0; np < DC / 16; ++np) {
    uint32_t b[4];
    ldmatrix_x4_trans(b, vs + ((lane & 7) + ((lane >> 3) & 1) * 8) * S + np * 16 + (lane >> 4) * 8);
    mma16816<T>(o[2 * np], a, b[0], b[1]);
    mma16816<T>(o[2 * np + 1], a, b[2], b[3]);
  }
}

// The CTA-wide merge of the decode kernels' warps, first half: each warp's softmax state for its 16 rows goes to shared
// memory: wm (row max in log2 units, max * scale; -inf stays -inf), wl (row sum, summed over the quad of lanes that
// hold the row), wo [W][16][DC] (unnormalized O in FP32); then the barrier. Shared by decode_attention_mma.cu and
// decode_attention_items.cu.
template <int DC, int W>
__device__ __forceinline__ void decode_warps_to_shared(float* wo, float (&wm)[W][16], float (&wl)[W][16], int warp,
                                                       int lane, float scale_log2, float m0, float m1, float l0,
                                                       float l1, const float (&o)[DC / 8][4]) {
  const int g = lane >> 2, t4 = lane & 3;
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  if (t4 == 0) {
    wm[warp][g] = m0 * scale_log2;
    wl[warp][g] = l0;
    wm[warp][g + 8] = m1 * scale_log2;
    wl[warp][g + 8] = l1;
  }
#pragma unroll
  for (int nb = 0; nb < DC / 8; ++nb) {
    const int d = nb * 8 + 2 * t4;
    float* w0 = wo + ((size_t)warp * 16 + g) * DC + d;
    float* w1 = wo + ((size_t)warp * 16 + g + 8) * DC + d;
    w0[0] = o[nb][0];
    w0[1] = o[nb][1];
    w1[0] = o[nb][2];
    w1[1] = o[nb][3];
  }
  __syncthreads();
}

// Second half: row r, column d of the merged state: M (max in log2 units over the warps), L and O (sum and
// unnormalized output rescaled to M); M = -inf, O = L = 0 when no warp saw a key of the row.
template <int DC, int W>
__device__ __forceinline__ void decode_merged(const float* wo, const float (&wm)[W][16], const float (&wl)[W][16],
                                              int r, int d, float& M, float& O, float& L) {
  M = -INFINITY;
#pragma unroll
  for (int w = 0; w < W; ++w) M = fmaxf(M, wm[w][r]);
  O = 0.f;
  L = 0.f;
  if (M != -INFINITY) {
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float mw = wm[w][r];
      if (mw != -INFINITY) {
        const float f = exp2f(mw - M);
        O += wo[((size_t)w * 16 + r) * DC + d] * f;
        L += wl[w][r] * f;
      }
    }
  }
}

}  // namespace llmc_mma
