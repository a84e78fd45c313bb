// Sampling on the GPU so that only token ids cross to the host: greedy argmax over FP32 logits rows.
// Ties go to the lowest index (as the host sampler's argmax does); NaNs never win.
// Memory access: one block per row; threads stride through the row (consecutive threads on consecutive
// elements: coalesced), each keeping its best (value, index) in registers, then a warp-shuffle and one
// shared-memory reduction. One read per logit; one int written per row.
#include "common.cuh"

extern "C" __global__ void argmax_f32(const float* __restrict__ logits, int vocab, int* __restrict__ out) {
  __shared__ float best_v[32];
  __shared__ int best_i[32];
  const float* x = logits + (size_t)blockIdx.x * vocab;
  float bv = -INFINITY;
  int bi = vocab;  // sentinel: nothing seen
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    float v = x[i];
    if (v > bv) {  // strict: the first (lowest) index of this thread's maximum stays
      bv = v;
      bi = i;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > bv || (ov == bv && oi < bi)) {
      bv = ov;
      bi = oi;
    }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    best_v[warp] = bv;
    best_i[warp] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)((blockDim.x + 31) >> 5); ++w) {
      if (best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)) {
        bv = best_v[w];
        bi = best_i[w];
      }
    }
    out[blockIdx.x] = bi == vocab ? 0 : bi;
  }
}
