// INT8 KV cache tiles for the tensor-core attention kernels (decode_attention_mma.cu, prefill_attention_mma.cu,
// their _kv8 entry points). The cache holds int8 bytes [slot][kv head][D] and one FP32 scale per (slot, kv head)
// (rope_kv_int8.cu writes them). A K/V tile is staged as bytes with cp.async (double-buffered, so the next tile
// streams in while one computes, as with 16-bit caches), then each thread dequantizes the chunks it copied
// (byte * scale in FP32, rounded once to T) into the single T tile the unchanged mma code reads.
// Memory access: per key row and kv head D bytes (8-byte cp.async chunks, D % 8 == 0) plus one 4-byte scale;
// half the bytes of a 16-bit cache. Rows past the visible range are zero-filled (bytes and scale), never read.
#pragma once
#include "attention_mma.cuh"

namespace llmc_kv8 {
using namespace llmc_mma;

// 8 (or 4) bytes global -> shared through L1; when !valid the destination is zero-filled and src is not read.
__device__ __forceinline__ void cp_async8(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(valid ? 8 : 0));
}

__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(valid ? 4 : 0));
}

// Shared bytes of one staging stage: K and V bytes (ROWS x DC each), then K and V scales (ROWS floats each).
template <int DC, int ROWS>
struct Stage {
  static constexpr int kBytes = 2 * ROWS * DC + 2 * ROWS * 4;
  __device__ static int8_t* k(unsigned char* s) { return reinterpret_cast<int8_t*>(s); }
  __device__ static int8_t* v(unsigned char* s) { return reinterpret_cast<int8_t*>(s) + ROWS * DC; }
  __device__ static float* ks(unsigned char* s) { return reinterpret_cast<float*>(s + 2 * ROWS * DC); }
  __device__ static float* vs(unsigned char* s) { return reinterpret_cast<float*>(s + 2 * ROWS * DC) + ROWS; }
};

// Issues the cp.async copies of keys [base, base + ROWS) of kv head kvh into staging stage `st`: the same thread
// layout as load_kv_rows (chunk column c = tid % (DC / 8), rows tid / (DC / 8) + i * (THREADS / (DC / 8))), so
// each thread later dequantizes exactly the chunks it copied; the thread of chunk 0 of a row copies its scales.
template <int DC, int ROWS, int THREADS>
__device__ __forceinline__ void load_kv_rows_i8(unsigned char* st, const int8_t* __restrict__ k_cache,
                                                const int8_t* __restrict__ v_cache, const float* __restrict__ k_scale,
                                                const float* __restrict__ v_scale, const int* __restrict__ table,
                                                int base, int end, int block_size, int num_kv_heads, int kvh, int D) {
  using St = Stage<DC, ROWS>;
  constexpr int CPR = DC / 8, RPP = THREADS / CPR, PASSES = ROWS / RPP;
  static_assert(THREADS % CPR == 0 && ROWS % RPP == 0, "tile shape");
  const int c = threadIdx.x % CPR, j0 = threadIdx.x / CPR;
  if (c * 8 >= D) return;
  const int p0 = base + j0;
  int blk = p0 / block_size, inb = p0 - blk * block_size;
#pragma unroll
  for (int i = 0; i < PASSES; ++i) {
    const int j = j0 + i * RPP;
    const bool valid = p0 + i * RPP < end;
    const int64_t head = valid ? ((int64_t)table[blk] * block_size + inb) * num_kv_heads + kvh : 0;
    cp_async8(St::k(st) + j * DC + c * 8, k_cache + head * D + c * 8, valid);
    cp_async8(St::v(st) + j * DC + c * 8, v_cache + head * D + c * 8, valid);
    if (c == 0) {
      cp_async4(St::ks(st) + j, k_scale + head, valid);
      cp_async4(St::vs(st) + j, v_scale + head, valid);
    }
    inb += RPP;
    while (inb >= block_size) {
      inb -= block_size;
      ++blk;
    }
  }
}

// Eight bytes as eight dequantized T values (16 bytes).
template <typename T>
__device__ __forceinline__ uint4 dequant8(uint2 raw, float scale) {
  const int8_t* b = reinterpret_cast<const int8_t*>(&raw);
  uint4 r;
  r.x = pack2<T>((float)b[0] * scale, (float)b[1] * scale);
  r.y = pack2<T>((float)b[2] * scale, (float)b[3] * scale);
  r.z = pack2<T>((float)b[4] * scale, (float)b[5] * scale);
  r.w = pack2<T>((float)b[6] * scale, (float)b[7] * scale);
  return r;
}

// Staging stage `st` (complete and visible: after cp_async_wait and a __syncthreads) -> the T tiles ks / vs (rows
// of DC + 8 elements); columns in [D, DC) are written as zeros.
template <typename T, int DC, int ROWS, int THREADS>
__device__ __forceinline__ void dequant_kv_rows(T* ks, T* vs, unsigned char* st, int D) {
  using St = Stage<DC, ROWS>;
  constexpr int S = DC + 8, CPR = DC / 8, RPP = THREADS / CPR, PASSES = ROWS / RPP;
  const int c = threadIdx.x % CPR, j0 = threadIdx.x / CPR;
  const bool inside = c * 8 < D;
#pragma unroll
  for (int i = 0; i < PASSES; ++i) {
    const int j = j0 + i * RPP;
    uint4 kq = make_uint4(0, 0, 0, 0), vq = make_uint4(0, 0, 0, 0);
    if (inside) {
      kq = dequant8<T>(*reinterpret_cast<const uint2*>(St::k(st) + j * DC + c * 8), St::ks(st)[j]);
      vq = dequant8<T>(*reinterpret_cast<const uint2*>(St::v(st) + j * DC + c * 8), St::vs(st)[j]);
    }
    *reinterpret_cast<uint4*>(ks + j * S + c * 8) = kq;
    *reinterpret_cast<uint4*>(vs + j * S + c * 8) = vq;
  }
}
}  // namespace llmc_kv8
