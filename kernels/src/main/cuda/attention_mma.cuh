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
// slot walks forward from row to row without a division.
template <typename T, int DC, int ROWS, int THREADS>
__device__ __forceinline__ void load_kv_rows(T* ks, T* vs, const T* __restrict__ k_cache,
                                             const T* __restrict__ v_cache, const int* __restrict__ table, int base,
                                             int end, int block_size, int num_kv_heads, int kvh, int D) {
  constexpr int S = DC + 8, CPR = DC / 8, RPP = THREADS / CPR, PASSES = ROWS / RPP;
  static_assert(THREADS % CPR == 0 && ROWS % RPP == 0, "tile shape");
  const int c = threadIdx.x % CPR, j0 = threadIdx.x / CPR;
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

}  // namespace llmc_mma
