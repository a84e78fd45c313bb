// Random sampling on the GPU, so only token ids cross to the host: temperature, top-k, top-p and min-p (the
// host Sampler's order and semantics), then one draw from a counter-based generator (Philox4x32-10 keyed by the
// request's seed, counter = the request's draw index), one block of 1024 threads per logits row.
// Tokens are totally ordered by a 64-bit key: the FP32 logit made monotone in the high 32 bits (NaN as -inf,
// +inf as the largest float), ~id in the low 32 bits (ties go to the lower id, as the host's sort does). Every
// filter keeps the tokens whose key is at least a threshold, found by a radix select (8-bit digits, from the
// top; it stops as soon as the boundary digit holds one token): top-k by counts, top-p by the probability
// mass (exp((logit - max) / T)) of the top-k survivors. Min-p keeps weights >= minP (the largest weight is 1).
// The draw: each thread sums the kept mass of a contiguous chunk of ids, a block-wide exclusive scan finds the
// chunk where u · total falls, that thread walks its chunk.
// Memory access: every pass reads the row once, coalesced (strided passes) or in per-thread chunks (the draw);
// a 128256-token row is 501 KB and stays in L2 across the passes (one max, up to 2 × 8 select passes, 1-2 for
// sums, 2 for the draw). Shared memory: a 256-bin count and mass (double) histogram and the scan.
// Params per row, 8 ints: temperature (float bits), top_k (<= 0: off), top_p (float bits, >= 1: off), min_p
// (float bits, <= 0: off), seed lo, seed hi, counter lo, counter hi. temperature < 1e-5 means greedy.
#include "common.cuh"

namespace llmc {
namespace smp {

constexpr int THREADS = 1024;

__device__ __forceinline__ float sanitize(float v) {
  if (v != v) return -INFINITY;
  if (v == INFINITY) return 3.4028234663852886e38f;
  return v + 0.0f;  // -0 ranks as +0, as on the host
}

__device__ __forceinline__ uint64_t key_of(float v, int id) {
  unsigned b = __float_as_uint(v);
  b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return ((uint64_t)b << 32) | (uint64_t)(0xFFFFFFFFu - (unsigned)id);
}

__device__ __forceinline__ uint4 philox(uint2 key, uint4 c) {
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    unsigned lo0 = 0xD2511F53u * c.x, hi0 = __umulhi(0xD2511F53u, c.x);
    unsigned lo1 = 0xCD9E8D57u * c.z, hi1 = __umulhi(0xCD9E8D57u, c.z);
    c = make_uint4(hi1 ^ c.y ^ key.x, lo1, hi0 ^ c.w ^ key.y, lo0);
    key.x += 0x9E3779B9u;
    key.y += 0xBB67AE85u;
  }
  return c;
}

struct Shared {
  int cnt[256];
  double mass[256];
  double warp_part[32];
  uint64_t found;
  uint64_t prefix;
  double need;
  int bin_count;
  int token;
  int last_kept;
  float fmax;
  double total;
};

// Exclusive prefix sum of one double per thread over the block, in thread order; *total gets the block sum.
__device__ double block_exclusive_scan(double v, Shared& sh, double* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  double inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    double n = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += n;
  }
  if (lane == 31) sh.warp_part[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    double w = lane < (int)(blockDim.x >> 5) ? sh.warp_part[lane] : 0.0;
    double wi = w;
    for (int o = 1; o < 32; o <<= 1) {
      double n = __shfl_up_sync(0xffffffffu, wi, o);
      if (lane >= o) wi += n;
    }
    sh.warp_part[lane] = wi - w;  // exclusive over warps
    if (lane == 31) sh.total = wi;
  }
  __syncthreads();
  double r = sh.warp_part[warp] + inc - v;
  *total = sh.total;
  __syncthreads();
  return r;
}

// The largest key T such that the candidates (key >= lower) with key >= T reach `need` (a count, or a mass when
// by_mass). If no digit reaches it (mass rounding), the smallest candidate.
__device__ uint64_t radix_select(const float* __restrict__ x, int V, float m, float invT, uint64_t lower,
                                 bool by_mass, double need, Shared& sh) {
  uint64_t prefix = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) {
      sh.cnt[i] = 0;
      sh.mass[i] = 0.0;
    }
    __syncthreads();
    const uint64_t hi_mask = shift == 56 ? 0ull : (~0ull << (shift + 8));
    // Each thread holds a run of one digit in registers and flushes it when the digit changes: the top digits
    // of nearly all tokens agree, and one shared atomic per token on one bin would serialize the block.
    int held = -1, held_cnt = 0;
    double held_mass = 0.0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
      float v = sanitize(x[i]);
      uint64_t key = key_of(v, i);
      if (key < lower || (key & hi_mask) != prefix) continue;
      int d = (int)((key >> shift) & 255);
      if (d != held) {
        if (held >= 0) {
          atomicAdd(&sh.cnt[held], held_cnt);
          if (by_mass) atomicAdd(&sh.mass[held], held_mass);
        }
        held = d;
        held_cnt = 0;
        held_mass = 0.0;
      }
      held_cnt++;
      if (by_mass) held_mass += (double)expf((v - m) * invT);
    }
    if (held >= 0) {
      atomicAdd(&sh.cnt[held], held_cnt);
      if (by_mass) atomicAdd(&sh.mass[held], held_mass);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      double acc = 0.0;
      int bin = -1, lowest = -1;
      for (int b = 255; b >= 0; --b) {
        if (sh.cnt[b] == 0) continue;
        lowest = b;
        double v = by_mass ? sh.mass[b] : (double)sh.cnt[b];
        if (acc + v >= need) {
          bin = b;
          break;
        }
        acc += v;
      }
      if (bin < 0) {  // not reached: take the lowest candidates from here on
        bin = lowest < 0 ? 0 : lowest;
        sh.need = INFINITY;
      } else {
        sh.need = need - acc;
      }
      sh.prefix = prefix | ((uint64_t)bin << shift);
      sh.bin_count = sh.cnt[bin];
    }
    __syncthreads();
    prefix = sh.prefix;
    need = sh.need;
    int count = sh.bin_count;
    __syncthreads();
    if (count == 1 && shift > 0) {  // one token left under this prefix: its key is the answer
      const uint64_t mask = ~0ull << shift;
      for (int i = threadIdx.x; i < V; i += blockDim.x) {
        uint64_t key = key_of(sanitize(x[i]), i);
        if (key >= lower && (key & mask) == prefix) sh.found = key;
      }
      __syncthreads();
      uint64_t f = sh.found;
      __syncthreads();
      return f;
    }
  }
  return prefix;
}

__device__ __forceinline__ double block_sum_d(double v, Shared& sh) {
  double total;
  block_exclusive_scan(v, sh, &total);
  return total;
}

__device__ void sample_row(const float* __restrict__ x, int V, const int* __restrict__ p, int* __restrict__ out,
                           Shared& sh) {
  float temperature = __int_as_float(p[0]);
  int top_k = p[1];
  float top_p = __int_as_float(p[2]);
  float min_p = __int_as_float(p[3]);
  if (!(temperature >= 1e-5f)) {  // greedy: the argmax, ties to the lowest id
    temperature = 1.f;
    top_k = 1;
    top_p = 1.f;
    min_p = 0.f;
  }
  const float invT = 1.f / temperature;
  // 1. The largest logit.
  float m = -INFINITY;
  for (int i = threadIdx.x; i < V; i += blockDim.x) m = fmaxf(m, sanitize(x[i]));
  m = warp_max(m);
  if ((threadIdx.x & 31) == 0) sh.warp_part[threadIdx.x >> 5] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    float b = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) b = fmaxf(b, (float)sh.warp_part[w]);
    sh.fmax = b;
  }
  __syncthreads();
  m = sh.fmax;
  __syncthreads();
  // 2. Top-k, then top-p on the top-k survivors' mass.
  uint64_t lower = 0;
  if (top_k > 0 && top_k < V) lower = radix_select(x, V, m, invT, 0, false, (double)top_k, sh);
  if (top_p < 1.f) {
    double z = 0.0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
      float v = sanitize(x[i]);
      if (key_of(v, i) >= lower) z += (double)expf((v - m) * invT);
    }
    z = block_sum_d(z, sh);
    lower = radix_select(x, V, m, invT, lower, true, (double)top_p * z, sh);
  }
  // 3. Min-p and the draw over contiguous chunks of ids.
  const int chunk = (V + blockDim.x - 1) / blockDim.x;
  const int begin = min(V, (int)threadIdx.x * chunk), end = min(V, begin + chunk);
  double local = 0.0;
  int last = -1;
  for (int i = begin; i < end; ++i) {
    float v = sanitize(x[i]);
    float w = expf((v - m) * invT);
    if (key_of(v, i) >= lower && (min_p <= 0.f || w >= min_p || v == m)) {
      local += (double)w;
      last = i;
    }
  }
  if (threadIdx.x == 0) {
    sh.token = -1;
    sh.last_kept = -1;
  }
  __syncthreads();
  if (last >= 0) atomicMax(&sh.last_kept, last);
  double total;
  double before = block_exclusive_scan(local, sh, &total);
  uint4 r = philox(make_uint2((unsigned)p[4], (unsigned)p[5]), make_uint4((unsigned)p[6], (unsigned)p[7], 0u, 0x5a4d504cu));
  double u = (double)((((uint64_t)r.x << 32) | r.y) >> 11) * (1.0 / 9007199254740992.0) * total;
  if (local > 0.0 && u >= before && u < before + local) {
    double acc = before;
    for (int i = begin; i < end; ++i) {
      float v = sanitize(x[i]);
      float w = expf((v - m) * invT);
      if (key_of(v, i) >= lower && (min_p <= 0.f || w >= min_p || v == m)) {
        acc += (double)w;
        if (u < acc) {
          sh.token = i;
          break;
        }
      }
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int t = sh.token >= 0 ? sh.token : sh.last_kept;
    *out = t < 0 ? 0 : t;
  }
}

}  // namespace smp
}  // namespace llmc

// One block per row: row r reads logits + r * row_stride (0: every row samples the same logits), params + 8 r.
extern "C" __global__ void __launch_bounds__(llmc::smp::THREADS)
    sample_f32(const float* __restrict__ logits, int row_stride, int vocab, const int* __restrict__ params,
               int* __restrict__ out) {
  __shared__ llmc::smp::Shared sh;
  llmc::smp::sample_row(logits + (size_t)blockIdx.x * row_stride, vocab, params + 8 * blockIdx.x, out + blockIdx.x, sh);
}
