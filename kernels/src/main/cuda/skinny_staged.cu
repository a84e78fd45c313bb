// Skinny GEMM for decode steps of 1..8 tokens with the weights staged in shared memory by bulk copies (sm_90):
// y[t][o] = sum_i x[t][i] * w[o][i], weights 16-bit (T) or INT8 weight-only per channel (offset-binary bytes, FP32
// scale per row, see gemv.cu), x in T, FP32 accumulation, y in FP32 or T; swiglu = 1: the gate|up projection with
// y[t][j] (T) = silu(gate) * up, as in skinny_mma.cu.
// Why: at batch 1 the small matrices (qkv, o_proj; 17-25 MB in INT8) are a few microseconds of HBM time, and the
// register-loading kernels (gemv.cu, skinny_mma.cu) lose ~3-4 us per launch to ramp and tail: each lane keeps only
// 64-128 bytes in flight, so a CTA walks its rows in two or more dependent round trips, and the INT8 GEMV spends
// ~4 instructions per weight on the FP32 dequantization. Here one CTA owns a 16-row tile; a warp's lanes ask the
// TMA engine for whole row segments (one instruction per 2 KB), so a CTA has its first two 32 KB stages in flight
// before it waits for the previous kernel (PDL, common.cuh), e.g. the whole INT8 o_proj (256 tiles of 64 KB) is
// requested at launch. The math is skinny_mma.cu's (mma.sync m16n8k16, INT8 bytes -> halves with a byte permute
// and a packed subtraction), reading the staged bytes from shared memory.
// Layout: stage s holds the tile's 16 rows x kc bytes (kc = CHUNK, 1024 or 512, the largest that divides the row), row i
// at i * (kc + 16): the 16-byte pad puts rows g = 0..7 of a warp's loads in different banks (conflict-free, 4
// wavefronts per 512 bytes). Warp w takes the 64-byte steps w * kc / 512 .. of every row of every chunk, lane
// (g, t) the 16 bytes at t * 16 of rows g and g + 8 (skinny_mma.cu's fragment); the 8 warps' partial sums meet in
// shared memory in a fixed order (deterministic).
// Pipeline: two stages, one mbarrier each (expected bytes, completed by the copies); chunk c + 2 refills a stage
// after every warp is done with chunk c (__syncthreads). Row segments past `out` (the last tile) copy the last row.
// Memory access: bulk copies global -> shared of 16 row segments per stage (kc bytes each, 16-byte aligned), x
// through the read-only cache (L1/L2 resident), 4 KB of shared memory for the reduction at the end.
// Requires sm_90 (on sm_80 the entry points exist but do nothing; the host offers them only on 9.x), in * bytes of
// a weight % 512 == 0, tokens 1..8. grid.x = ceil(out / 16) (swiglu: ceil(out / 8)), 256 threads,
// shared_bytes<CHUNK>() of dynamic shared memory (mirrored by CudaKernels.stagedSharedBytes).
#include "skinny_mma.cuh"

namespace llmc_staged {
using namespace llmc;

constexpr int kWarps = 8;
constexpr int kRows = 16;  // mma rows g and g + 8
constexpr int kPad = 16;
constexpr int kStages = 2;
// CHUNK: the largest chunk (bytes of each row per stage), 2048 or 1024
template <int CHUNK>
__host__ __device__ constexpr int stage_bytes() { return kRows * (CHUNK + kPad); }
template <int CHUNK>
__host__ __device__ constexpr int shared_bytes() { return kStages * stage_bytes<CHUNK>() + kStages * 8; }  // stages, then an mbarrier each
static_assert(shared_bytes<2048>() == 66064 && shared_bytes<1024>() == 33296 && 1024 % (64 * kWarps) == 0,
              "CudaKernels.stagedSharedBytes mirrors them");

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void bar_init(uint64_t* bar) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(smem_addr(bar)) : "memory");
}

// The producer's arrival that also announces `bytes` of copies the phase waits for.
__device__ __forceinline__ void bar_expect(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}

// Waits for the phase of parity `parity`. A pipeline bug would hang the GPU: after ~2^26 tries (seconds; a real wait
// is microseconds) it traps, so the launch fails instead.
__device__ __forceinline__ void bar_wait(uint64_t* bar, int parity) {
  uint32_t done, tries = 0;
  do {
    if (++tries == (1u << 26)) __trap();
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(smem_addr(bar)), "r"(parity)
                 : "memory");
  } while (!done);
}

// `bytes` (multiple of 16, 16-byte aligned ends) from global to shared, completing that many bytes on `bar`.
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   smem_addr(dst)),
               "l"(src), "r"(bytes), "r"(smem_addr(bar))
               : "memory");
}
#endif

template <typename T, bool INT8, int CHUNK>
__device__ void staged(const T* __restrict__ x, const uint8_t* __restrict__ w, const float* __restrict__ scales,
                       void* __restrict__ y, int tokens, int in, int out, int fp32_out, int swiglu) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) uint8_t smem[];
  constexpr int kBytes = INT8 ? 1 : 2;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int tile = blockIdx.x;
  const int rowBytes = in * kBytes;
  constexpr int kStageBytes = stage_bytes<CHUNK>();
  const int kc = rowBytes % CHUNK == 0 ? CHUNK : rowBytes % 1024 == 0 ? 1024 : 512;
  const int stride = kc + kPad;
  const int chunks = rowBytes / kc;
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + kStages * kStageBytes);
  // mma rows: 16 output rows, or (swiglu) gate rows j0 + g and up rows out + j0 + g of 8 activation columns
  const int ra = swiglu ? tile * 8 + g : tile * 16 + g, rb = swiglu ? ra : ra + 8;
  const int ca = min(ra, out - 1), cb = swiglu ? out + ca : min(rb, out - 1);
  if (threadIdx.x == 0) {
#pragma unroll
    for (int s = 0; s < kStages; ++s) bar_init(full + s);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  // warp 0 fills the stage of chunk c: lane 0 announces the bytes, lanes 0..15 copy one row segment each
  auto issue = [&](int c) {
    const int st = c % kStages;
    if (lane == 0) bar_expect(full + st, kRows * kc);
    __syncwarp();
    if (lane < kRows) {
      const int j = swiglu ? min(tile * 8 + (lane & 7), out - 1) : min(tile * 16 + lane, out - 1);
      const int src = swiglu && lane >= 8 ? out + j : j;
      bulk_copy(smem + st * kStageBytes + lane * stride, w + (size_t)src * rowBytes + (size_t)c * kc, kc, full + st);
    }
  };
  if (warp == 0)
    for (int c = 0; c < kStages && c < chunks; ++c) issue(c);
  // weights never depend on the previous kernel: the first stages stream while it finishes
  pdl_wait();
  pdl_launch_dependents();
  float acc[1][4] = {{0.f, 0.f, 0.f, 0.f}};
  const int spw = kc / (64 * kWarps);  // 64-byte steps of each row per warp per chunk (1, 2 or 4)
  for (int c = 0; c < chunks; ++c) {
    const int st = c % kStages;
    bar_wait(full + st, (c / kStages) & 1);
    const uint8_t* base = smem + st * kStageBytes;
    for (int j = 0; j < spw; ++j) {
      const int off = (warp * spw + j) * 64 + t * 16;
      const uint4 va = *reinterpret_cast<const uint4*>(base + g * stride + off);
      const uint4 vb = *reinterpret_cast<const uint4*>(base + (g + 8) * stride + off);
      llmc_skinny::step<T, INT8, 1>(va, vb, x, in, tokens, (c * kc + off) / kBytes, g, acc);
    }
    if (c + kStages < chunks) {
      __syncthreads();  // every warp is done with this stage
      if (warp == 0) issue(c + kStages);
    }
  }
  __syncthreads();  // every chunk was waited for: no copy is in flight, stage 0 becomes the reduction buffer
  float4* partial = reinterpret_cast<float4*>(smem);
  partial[warp * 32 + lane] = make_float4(acc[0][0], acc[0][1], acc[0][2], acc[0][3]);
  __syncthreads();
  if (warp != 0) return;
  float sum[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
  for (int p = 0; p < kWarps; ++p) {
    const float4 v = partial[p * 32 + lane];
    sum[0] += v.x;
    sum[1] += v.y;
    sum[2] += v.z;
    sum[3] += v.w;
  }
  const float sa = INT8 ? scales[ca] : 1.f, sb = INT8 ? scales[cb] : 1.f;
  if (swiglu) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int n = 2 * t + i;
      if (n < tokens && ra < out)
        reinterpret_cast<T*>(y)[(size_t)n * out + ra] = from_float<T>(silu_times(sum[i] * sa, sum[i + 2] * sb));
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int n = 2 * t + (i & 1);
    const int r = i < 2 ? ra : rb;
    if (n < tokens && r < out) {
      const float v = sum[i] * (i < 2 ? sa : sb);
      if (fp32_out)
        reinterpret_cast<float*>(y)[(size_t)n * out + r] = v;
      else
        reinterpret_cast<T*>(y)[(size_t)n * out + r] = from_float<T>(v);
    }
  }
#else
  pdl_wait();
#endif
}
}  // namespace llmc_staged

// skinny_s<C>_<S>(x, w, y, tokens, in, out, fp32_out, swiglu) for 16-bit weights and skinny_s<C>_w8_<S>(x, wq, scales,
// y, tokens, in, out, fp32_out, swiglu) for INT8 per-channel weights, C = 2k or 1k: chunks of up to 2048 bytes (66 KB
// of shared memory, 3 CTAs an SM) or 1024 (33 KB, 6 CTAs); swiglu = 1: w [2 out][in], gate rows then up rows.
#define LLMC_SKINNY_STAGED_C(S, T, C, CHUNK)                                                                      \
  extern "C" __global__ void __launch_bounds__(256) skinny_s##C##_##S(const T* x, const T* w, void* y, int tokens, \
                                                                      int in, int out, int fp32_out, int swiglu) { \
    llmc_staged::staged<T, false, CHUNK>(x, reinterpret_cast<const uint8_t*>(w), nullptr, y, tokens, in, out,     \
                                         fp32_out, swiglu);                                                        \
  }                                                                                                               \
  extern "C" __global__ void __launch_bounds__(256) skinny_s##C##_w8_##S(                                         \
      const T* x, const uint8_t* w, const float* scales, void* y, int tokens, int in, int out, int fp32_out,      \
      int swiglu) {                                                                                               \
    llmc_staged::staged<T, true, CHUNK>(x, w, scales, y, tokens, in, out, fp32_out, swiglu);                     \
  }
#define LLMC_SKINNY_STAGED(S, T) LLMC_SKINNY_STAGED_C(S, T, 2k, 2048) LLMC_SKINNY_STAGED_C(S, T, 1k, 1024)
LLMC_FOR_DTYPES(LLMC_SKINNY_STAGED)
