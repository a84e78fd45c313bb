// FlashAttention-3-style prefill attention for Hopper (sm_90a), head dim 128: the same work split, tile list,
// paged K/V and causal rules as prefill_attention_mma.cu (a CTA = 128 (token, query head) rows of one kv head's
// group, tiles longest first), with the matrix work on warpgroup MMA.
// Warp specialization, 384 threads: warpgroup 0 is the producer (setmaxnreg down to 56 registers), gathering each
// 128-key K/V tile through the block table with 16-byte cp.async straight into 128-byte-swizzled shared tiles
// (keys past the sequence zero-filled) of a STAGES-deep ring; every producer thread's copies complete on the
// stage's "full" mbarrier (cp.async.mbarrier.arrive.noinc), so no thread waits for its own copies. Warpgroups 1
// and 2 are consumers, 64 rows each, walking the K/V tiles in score tiles ("subs") of SUB keys (64 or 128): S = Q Kᵀ
// by wgmma m64nSUBk16 (Q and K from shared memory), causal mask, online softmax in registers (exp2 with the scale
// folded into one FMA), P packed to 16 bits in registers and O += P V by wgmma m64n128k16 (V from shared memory,
// N-major). Intra-warpgroup overlap: S of sub j+1 and P V of sub j are issued together, and the softmax of sub j+1
// runs while P V of sub j is still on the tensor cores. After P V of a K/V tile's last sub completes, one lane per
// consumer warp arrives on the stage's "empty" mbarrier, which the producer waits on before refilling it.
// Registers: the consumers raise their limit to 224 with setmaxnreg, which ptxas honours for the code after it
// only if no __trap() is reachable there (see mbar_wait); then 128-key subs (S 64 + O 64 + P 32 registers, ~200
// in all) compile without spills. Until that was found, ptxas kept the consumers at the launch cap
// (65536 / 384 = 168) and only 64-key subs fitted.
// PINGPONG: the two consumer warpgroups take turns issuing their MMAs (two named barriers), so one's softmax
// overlaps the other's matrix work.
// Persistent launch (a grid of one CTA per SM and an item counter, AttentionKernels' persistent variants): each
// CTA takes its next item from the global counter (Schedule below), so the items go out longest first to whichever
// CTA is free; the producer's ring and the mbarrier phases run on across items (a CTA-wide tile counter), so the
// next item's K/V load while this one finishes, and each consumer warpgroup loads the next item's q rows right
// after its last Q Kᵀ, hiding the per-CTA start that a one-item CTA pays.
// Block sizes: any (the gather walks the block table row by row, like attention_mma.cuh's load_kv_rows).
// Memory access: q rows once (cp.async, 16 B, by the consumers); K and V tiles of 128 rows x 256 bytes through the
// block table, 16 B per cp.async, coalesced per row; output written once, 4 bytes per lane per 8 columns.
#include "attention_wgmma.cuh"

#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
namespace llmc_prefill_wgmma {
using namespace llmc_mma;
using namespace llmc_wgmma;

constexpr int kRows = 128;                   // (token, head) rows per CTA: prefill_attention_mma.cu's tile list
constexpr int kKeys = 128;                   // keys per K/V tile (one pipeline stage)
constexpr int kTileBytes = 128 * 128 * 2;    // a 128-row x 128-column 16-bit tile (Q, or K or V of one stage)
constexpr int kProducerRegs = 56, kConsumerRegs = 224;  // 56 * 128 + 224 * 256 <= 64K registers
constexpr int kPingBarrier = 3;              // named barriers 3, 4: consumer warpgroup 0's and 1's turn to issue

constexpr int kItemSlots = 4;                // dynamic schedule: item numbers handed from the producer to the consumers

// 1024 bytes of alignment slack, the q tile, K and V per stage, two mbarriers per stage, and the dynamic schedule's
// item slots (two mbarriers and an int each); AttentionKernels mirrors it
constexpr int shared_bytes(int stages) {
  return 1024 + kTileBytes * (1 + 2 * stages) + 16 * stages + 20 * kItemSlots;
}
static_assert(shared_bytes(3) <= 227 * 1024, "three stages fit the H100/H200 limit of 227 KiB per block");

// Producer: K and V of the item's K/V tiles into the ring, rows of 128 keys x 16 chunks; `g` counts this CTA's
// tiles over all its items (stage g % STAGES, its (g / STAGES)-th use). This thread copies chunk (tid % 16) of rows
// tid / 16 + 8 i, so every row it writes has the same swizzle phase (row % 8 = tid / 16).
// TABLE says how a thread gets the block-table entries of its rows. 0: each row's entry is loaded right before its
// copies, so every row waits for one load latency (16 in a row per tile: in the SASS each row's LDG feeds its address
// math directly). 1: the entries of 8 rows are loaded together first (8 loads in flight), then their copies. 2 (block
// sizes >= 5, where a 128-key tile spans at most 32 blocks; smaller ones take 1): lane l of each producer warp loads
// the entry of the tile's l-th block one tile ahead, before the wait for the stage to be free (as FlashAttention-3's
// paged K/V loader does), and each row takes its entry from the right lane with a shuffle: no load latency on the
// way to the copies, one register for the entries. 3 and 4: produce_rows below (4 with its conflict-free order).
template <typename T, int STAGES, int TABLE>
__device__ __forceinline__ void produce(unsigned char* kv, uint64_t* full, uint64_t* empty, const T* __restrict__ k_cache,
                                        const T* __restrict__ v_cache, const int* __restrict__ table, int kv_len,
                                        int block_size, int num_kv_heads, int kvh, int& g) {
  const int tid = threadIdx.x, c = tid & 15, j0 = tid >> 4, lane = tid & 31;
  const uint32_t dst0 = (uint32_t)((c >> 3) * kKeys * 128 + j0 * 128 + (((c & 7) ^ j0) << 4));
  const int n_tiles = (kv_len + kKeys - 1) / kKeys;
  const int64_t row_stride = (int64_t)num_kv_heads * 128;  // elements from one cache slot to the next
  const T* kbase = k_cache + (size_t)kvh * 128 + c * 8;
  const T* vbase = v_cache + (size_t)kvh * 128 + c * 8;
  const bool by_lane = TABLE == 2 && block_size >= 5;
  auto lane_entry = [&](int it) {  // entry of block (first block of tile it) + lane, 0 past the sequence
    const int first = it * kKeys / block_size, last = (min(it * kKeys + kKeys, kv_len) - 1) / block_size;
    return first + lane <= last ? table[first + lane] : 0;
  };
  int entries = by_lane ? lane_entry(0) : 0;
  for (int it = 0; it < n_tiles; ++it, ++g) {
    const int s = g % STAGES;
    const int next_entries = by_lane && it + 1 < n_tiles ? lane_entry(it + 1) : 0;
    if (g >= STAGES) mbar_wait(empty + s, (g / STAGES - 1) & 1);
    unsigned char* ks = kv + s * 2 * kTileBytes + dst0;
    unsigned char* vs = ks + kTileBytes;
    const int p0 = it * kKeys + j0;
    const int blk0 = p0 / block_size, inb0 = p0 - blk0 * block_size;
    if (by_lane) {
      const int first = it * kKeys / block_size;
      int blk = blk0, inb = inb0;
#pragma unroll
      for (int i = 0; i < kKeys / 8; ++i) {
        const bool valid = p0 + 8 * i < kv_len;
        const int e = __shfl_sync(0xffffffffu, entries, (blk - first) & 31);
        const int64_t off = valid ? ((int64_t)e * block_size + inb) * row_stride : 0;
        cp_async16(ks + i * 1024, kbase + off, valid);
        cp_async16(vs + i * 1024, vbase + off, valid);
        inb += 8;
        while (inb >= block_size) {
          inb -= block_size;
          ++blk;
        }
      }
      entries = next_entries;
    } else if (TABLE >= 1) {
      int blk = blk0, inb = inb0;
#pragma unroll
      for (int h = 0; h < 2; ++h) {  // two halves of 8 rows: 16 entries at once would not fit the 56 registers
        constexpr int R = kKeys / 16;
        int entry[R], in[R];
#pragma unroll
        for (int i = 0; i < R; ++i) {
          entry[i] = p0 + 8 * (h * R + i) < kv_len ? table[blk] : 0;
          in[i] = inb;
          inb += 8;
          while (inb >= block_size) {
            inb -= block_size;
            ++blk;
          }
        }
#pragma unroll
        for (int i = 0; i < R; ++i) {
          const int row = h * R + i;
          const bool valid = p0 + 8 * row < kv_len;
          const int64_t off = valid ? ((int64_t)entry[i] * block_size + in[i]) * row_stride : 0;
          cp_async16(ks + row * 1024, kbase + off, valid);
          cp_async16(vs + row * 1024, vbase + off, valid);
        }
      }
    } else {
      int blk = blk0, inb = inb0;
#pragma unroll
      for (int i = 0; i < kKeys / 8; ++i) {
        const bool valid = p0 + 8 * i < kv_len;
        const int64_t off = valid ? (((int64_t)table[blk] * block_size + inb) * num_kv_heads + kvh) * 128 + c * 8 : 0;
        cp_async16(ks + i * 1024, k_cache + off, valid);
        cp_async16(vs + i * 1024, v_cache + off, valid);
        inb += 8;
        while (inb >= block_size) {
          inb -= block_size;
          ++blk;
        }
      }
    }
    mbar_arrive_cp_async(full + s);
  }
}

// Producer with a row per thread pair (the producer of TABLE 3): thread t copies row t / 2 + 64 q (q = 0, 1) of a
// tile, the 16-byte chunks 2 i + t % 2 (i = 0..7) of its K and V rows, so a warp's copy i reads 16 whole 32-byte
// sectors. Per tile a thread computes 2 row addresses and loads 2 block-table entries (for the next tile, before
// waiting for its stage to be free: they are in registers by then) instead of 16 of each as produce() does, whose
// per-row loads made the producer the bottleneck (Nsight Compute, 8 x 2048, v10: the producer warps always busy, the
// consumers waiting for the stage's "full" barrier in 15% of the samples; with this one 0.9%). Its weak point,
// measured: the shared-memory writes conflict 2-way (45% excess wavefronts), since the 8 copies of a quarter-warp
// (4 rows x 2 chunks 2 i, 2 i + 1) land on 4 swizzle slots; lane pairs taking chunks i % 4 and 4 + i % 4 of a
// 64-column half would hit 8 (docs/gpu.md). SPREAD takes that order: copy i of lane pair member h is chunk
// 8 (i / 4) + 4 h + i % 4, so a quarter-warp's 8 copies land on 8 different slots (no conflicts; checked by
// enumerating the offsets), at the price of 16-byte instead of 32-byte pieces per lane pair in global memory.
template <typename T, int STAGES, bool SPREAD>
__device__ __forceinline__ void produce_rows(unsigned char* kv, uint64_t* full, uint64_t* empty,
                                             const T* __restrict__ k_cache, const T* __restrict__ v_cache,
                                             const int* __restrict__ table, int kv_len, int block_size,
                                             int num_kv_heads, int kvh, int& g) {
  const int tid = threadIdx.x, h1 = tid & 1, k = tid >> 1;  // k < 64: the row within each half of the tile
  const int n_tiles = (kv_len + kKeys - 1) / kKeys;
  const int64_t row_stride = (int64_t)num_kv_heads * 128;
  const T* kbase = k_cache + (size_t)kvh * 128 + (SPREAD ? 32 : 8) * h1;
  const T* vbase = v_cache + (size_t)kvh * 128 + (SPREAD ? 32 : 8) * h1;
  auto chunk = [&](int i) { return SPREAD ? 8 * (i >> 2) + 4 * h1 + (i & 3) : 2 * i + h1; };
  // shared offsets of this thread's chunks within a stage's tile (row r = k + 64 q, so r % 8 = k % 8)
  uint32_t dst[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) dst[i] = (uint32_t)((i >> 2) * kKeys * 128 + k * 128 + (((chunk(i) & 7) ^ (k & 7)) << 4));
  auto entry = [&](int pos) { return pos < kv_len ? table[pos / block_size] : 0; };
  int e0 = entry(k), e1 = entry(64 + k);
  for (int it = 0; it < n_tiles; ++it, ++g) {
    const int s = g % STAGES;
    int n0 = 0, n1 = 0;
    if (it + 1 < n_tiles) {  // the next tile's entries, in flight while this thread waits for the stage
      n0 = entry((it + 1) * kKeys + k);
      n1 = entry((it + 1) * kKeys + 64 + k);
    }
    if (g >= STAGES) mbar_wait(empty + s, (g / STAGES - 1) & 1);
    unsigned char* ks = kv + s * 2 * kTileBytes;
    unsigned char* vs = ks + kTileBytes;
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      const int pos = it * kKeys + 64 * q + k;
      const bool valid = pos < kv_len;
      const int64_t off = valid ? ((int64_t)(q ? e1 : e0) * block_size + pos % block_size) * row_stride : 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int col = SPREAD ? 64 * (i >> 2) + 8 * (i & 3) : 16 * i;  // chunk(i) * 8 minus the lane's own part
        cp_async16(ks + q * 64 * 128 + dst[i], kbase + off + col, valid);
        cp_async16(vs + q * 64 * 128 + dst[i], vbase + off + col, valid);
      }
    }
    mbar_arrive_cp_async(full + s);
    e0 = n0;
    e1 = n1;
  }
}

// One unit of work: 128 (token, head) rows of one tile and one kv head's group (or a chunk of it).
struct Item {
  int first, tokens, h0, nh, rows, kvh, kv_len, min_pos;
  const int* table;
};

// Item w of the longest-first order: tiles from the last, kv heads (and head chunks) fastest.
__device__ __forceinline__ Item item_at(int w, const int4* __restrict__ tiles, const int* __restrict__ positions,
                                        const int* __restrict__ block_tables, int table_stride, int num_tiles,
                                        int group, int chunks, int heads_y, int heads_per_cta) {
  const int4 tile = tiles[num_tiles - 1 - w / heads_y];
  Item it;
  it.first = tile.x;
  it.tokens = tile.y;
  it.kvh = (w % heads_y) / chunks;
  const int chunk = w % chunks;
  it.h0 = it.kvh * group + chunk * heads_per_cta;
  it.nh = min(heads_per_cta, group - chunk * heads_per_cta);
  it.rows = tile.y * it.nh;
  it.table = block_tables + (size_t)tile.z * table_stride;
  it.kv_len = positions[tile.x + tile.y - 1] + 1;
  it.min_pos = positions[tile.x];
  return it;
}

// Which items a CTA works on, in order. Static (no counter: one CTA per item): item blockIdx.x, then none.
// Dynamic (the persistent variants, a grid of one CTA per SM): each next item is the next number of a global
// counter (atomicAdd), so the items are handed out longest first to whichever CTA is free, like the hardware's
// block scheduler does for one CTA per item, but without a CTA start per item; a number >= items ends the CTA.
// One producer thread takes the number and passes it to the rest of the CTA through a ring of kItemSlots shared
// slots (slot r % kItemSlots holds the CTA's r-th item; "full" when written, "empty" once all 384 threads read it).
// The last CTA to take its final number sets the counter back to 0 for the next launch (counter[1] counts the
// CTAs that finished), so no memset is needed between launches.
struct Schedule {
  int* counter;          // [2] in global memory, or null for the static schedule
  int* slot;             // [kItemSlots] in shared memory
  uint64_t* slot_full;   // [kItemSlots], one arrival (the taking thread)
  uint64_t* slot_empty;  // [kItemSlots], 384 arrivals

  // the r-th item of this CTA; `taker` (one producer thread) draws it, everyone calls this for every r in order
  __device__ __forceinline__ int next(int r, bool taker) const {
    if (counter == nullptr) return r == 0 ? (int)blockIdx.x : INT_MAX;
    const int k = r % kItemSlots, use = r / kItemSlots;
    if (taker) {
      if (use > 0) mbar_wait(slot_empty + k, (use - 1) & 1);
      const int w = atomicAdd(counter, 1);
      slot[k] = w;
      mbar_arrive(slot_full + k);
    }
    mbar_wait(slot_full + k, use & 1);
    const int w = slot[k];
    mbar_arrive(slot_empty + k);
    return w;
  }

  // after the taker drew its final number (>= items): the last CTA resets the counter
  __device__ __forceinline__ void finish() const {
    if (counter == nullptr) return;
    __threadfence();
    if (atomicAdd(counter + 1, 1) == (int)gridDim.x - 1) {
      atomicExch(counter, 0);
      atomicExch(counter + 1, 0);
    }
  }
};

// Causal mask (when the tile reaches past the first row's position) and the online softmax of one 64 x N score
// tile in place (N / 2 accumulators per thread): s becomes p = 2^(s * scale - m * scale); returns the rescale
// factors of the two rows in alpha.
template <int N>
__device__ __forceinline__ void softmax_tile(float (&s)[N / 2], bool mask, int kbase, int t4, const int (&pos)[2],
                                             float (&m)[2], float (&l)[2], float (&alpha)[2], float scale_log2) {
  constexpr int J = N / 8;
  if (mask) {
#pragma unroll
    for (int j = 0; j < J; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if (kbase + j * 8 + 2 * t4 + (e & 1) > pos[e >> 1]) s[4 * j + e] = -INFINITY;
  }
  float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int j = 0; j < J; ++j) {
    mx[0] = fmaxf(mx[0], fmaxf(s[4 * j], s[4 * j + 1]));
    mx[1] = fmaxf(mx[1], fmaxf(s[4 * j + 2], s[4 * j + 3]));
  }
  float base[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
    const float mn = fmaxf(m[h], mx[h]);
    base[h] = safe_max(mn) * scale_log2;
    alpha[h] = fast_exp2(m[h] * scale_log2 - base[h]);
    m[h] = mn;
  }
  float sum[2] = {0.f, 0.f};
#pragma unroll
  for (int j = 0; j < J; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      s[4 * j + e] = fast_exp2(fmaf(s[4 * j + e], scale_log2, -base[e >> 1]));
      sum[e >> 1] += s[4 * j + e];
    }
  l[0] = l[0] * alpha[0] + sum[0];  // this lane's share; the 4 lanes of a row are added at the end
  l[1] = l[1] * alpha[1] + sum[1];
}

// P as the A operand of the 16-key k-steps of P V: accumulator pairs are already in A-fragment order.
template <typename T, int N>
__device__ __forceinline__ void pack_p(uint32_t (&p)[N / 4], const float (&s)[N / 2]) {
#pragma unroll
  for (int i = 0; i < N / 4; ++i) p[i] = pack2<T>(s[2 * i], s[2 * i + 1]);
}

template <typename T, int STAGES, bool PINGPONG, int SUB, int TABLE, bool FENCE>
__device__ __forceinline__ void prefill_attention_wgmma(const T* __restrict__ q, const T* __restrict__ k_cache,
                                        const T* __restrict__ v_cache, T* __restrict__ out,
                                        const int4* __restrict__ tiles, const int* __restrict__ positions,
                                        const int* __restrict__ block_tables, int table_stride, int num_heads,
                                        int num_kv_heads, int block_size, int heads_per_cta, int num_tiles,
                                        float scale_log2, int* __restrict__ counter) {
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  unsigned char* qs = base;
  unsigned char* kv = base + kTileBytes;  // stage s: K at kv + 2 s tiles, V right after it
  uint64_t* full = reinterpret_cast<uint64_t*>(kv + 2 * STAGES * kTileBytes);
  uint64_t* empty = full + STAGES;
  const Schedule sched{counter, reinterpret_cast<int*>(empty + STAGES + 2 * kItemSlots), empty + STAGES,
                       empty + STAGES + kItemSlots};

  const int group = num_heads / num_kv_heads;
  const int chunks = (group + heads_per_cta - 1) / heads_per_cta;
  const int heads_y = num_kv_heads * chunks;
  const int items = num_tiles * heads_y;
  auto item = [&](int w) {
    return item_at(w, tiles, positions, block_tables, table_stride, num_tiles, group, chunks, heads_y, heads_per_cta);
  };

  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(full + s, 128);  // one cp.async completion arrival per producer thread
      mbar_init(empty + s, 8);   // one arrival per consumer warp
    }
    for (int k = 0; k < kItemSlots; ++k) {
      mbar_init(sched.slot_full + k, 1);
      mbar_init(sched.slot_empty + k, 384);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  // the warpgroup index through a shuffle: provably warp-uniform (setmaxnreg wants each role in one branch)
  const int wg = __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 7), 0);
  if (wg == 0) {
    regs_dec<kProducerRegs>();
    int g = 0;
    for (int r = 0;; ++r) {
      const int w = sched.next(r, threadIdx.x == 0);
      if (w >= items) break;
      const Item it = item(w);
      if (TABLE >= 3)
        produce_rows<T, STAGES, TABLE == 4>(kv, full, empty, k_cache, v_cache, it.table, it.kv_len, block_size, num_kv_heads, it.kvh, g);
      else
        produce<T, STAGES, TABLE>(kv, full, empty, k_cache, v_cache, it.table, it.kv_len, block_size, num_kv_heads, it.kvh, g);
    }
    if (threadIdx.x == 0) sched.finish();
    cp_async_wait<0>();
  } else {
    regs_inc<kConsumerRegs>();
    const int cw = wg - 1, lt = threadIdx.x & 127, warp = lt >> 5, lane = lt & 31, g4 = lane >> 2, t4 = lane & 3;
    const int q_dim = num_heads * 128;
    // this warpgroup's 64 q rows of an item -> swizzled shared rows cw * 64 ..; rows past the tile zero-filled
    auto load_q = [&](const Item& it) {
      const int c = lt & 15;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int r = cw * 64 + (lt >> 4) + 8 * i;
        const bool valid = r < it.rows;
        const T* src = valid ? q + (size_t)(it.first + r / it.nh) * q_dim + (size_t)(it.h0 + r % it.nh) * 128 + c * 8 : q;
        cp_async16(qs + sw128_offset(kRows, r, c), src, valid);
      }
      cp_async_commit();
    };

    // score tiles ("subs") of SUB keys: sub j of an item is part j % SPT of its K/V tile j / SPT, the CTA's tile
    // g + j / SPT
    constexpr int SPT = kKeys / SUB;
    const uint32_t q_addr = smem_u32(qs) + cw * 64 * 128, kv_addr = smem_u32(kv);
    int g = 0;
    auto stage_of = [&](int sub) { return (g + sub / SPT) % STAGES; };
    auto qk = [&](float (&s)[SUB / 2], int sub) {
      const uint32_t k_addr = kv_addr + stage_of(sub) * 2 * kTileBytes + (sub % SPT) * SUB * 128;
#pragma unroll
      for (int k = 0; k < 8; ++k)
        mma_ss<T>(s, desc_sw128(q_addr + (k >> 2) * kRows * 128 + (k & 3) * 32, 16, 1024),
                  desc_sw128(k_addr + (k >> 2) * kKeys * 128 + (k & 3) * 32, 16, 1024), k > 0);
    };
    auto pv = [&](float (&o)[64], const uint32_t (&p)[SUB / 4], int sub) {
      const uint32_t v_addr = kv_addr + stage_of(sub) * 2 * kTileBytes + kTileBytes + (sub % SPT) * SUB * 128;
#pragma unroll
      for (int k = 0; k < SUB / 16; ++k)
        mma_rs<T>(o, p[4 * k], p[4 * k + 1], p[4 * k + 2], p[4 * k + 3],
                  desc_sw128(v_addr + k * 2048, kKeys * 128, 1024));
    };
    auto wait_full = [&](int sub) {  // the first sub of a K/V tile waits for its copies
      if (sub % SPT == 0) {
        mbar_wait(full + stage_of(sub), ((g + sub / SPT) / STAGES) & 1);
        fence_async_shared();
      }
    };
    // ping-pong: wait for this warpgroup's turn, then hand the turn to the other one; per item warpgroup 1 gives
    // warpgroup 0 the first turn and skips its own last hand-over, so both barriers end every item balanced
    auto turn_wait = [&]() {
      if (PINGPONG) named_sync(kPingBarrier + cw, 256);
    };
    auto turn_pass = [&](bool last) {
      if (PINGPONG && !(cw == 1 && last)) named_arrive(kPingBarrier + (cw ^ 1), 256);
    };
    auto release = [&](int sub) {  // P V of the K/V tile's last sub is done: the producer may refill the stage
      __syncwarp();
      if (lane == 0) mbar_arrive(empty + stage_of(sub));
    };

    const int w0 = sched.next(0, false);
    if (w0 >= items) return;  // dynamic schedule: the other CTAs took every item
    Item cur = item(w0);
    load_q(cur);
    for (int r = 0;; ++r) {
      cp_async_wait<0>();
      fence_async_shared();
      named_sync(1 + cw, 128);
      int pos[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = cw * 64 + warp * 16 + g4 + 8 * h;
        pos[h] = row < cur.rows ? positions[cur.first + row / cur.nh] : -1;
      }
      if (PINGPONG && cw == 1) named_arrive(kPingBarrier, 256);

      const int n_sub = (cur.kv_len + SUB - 1) / SUB;
      float o[64], s[SUB / 2], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, alpha[2];
      uint32_t p[SUB / 4];
#pragma unroll
      for (int i = 0; i < 64; ++i) o[i] = 0.f;

      wait_full(0);
      turn_wait();
      wgmma_fence();
      qk(s, 0);
      wgmma_commit();
      turn_pass(false);
      wgmma_wait<0>();
      reg_fence(s);
      softmax_tile<SUB>(s, SUB - 1 > cur.min_pos, 0, t4, pos, m, l, alpha, scale_log2);
      pack_p<T, SUB>(p, s);

#pragma unroll 1
      for (int j = 1; j < n_sub; ++j) {
        wait_full(j);
        turn_wait();
        reg_fence(o);
        reg_fence(p);
        wgmma_fence();
        qk(s, j);
        wgmma_commit();
        pv(o, p, j - 1);
        wgmma_commit();
        turn_pass(false);
        wgmma_wait<1>();
        reg_fence(s);
        const int kbase = j * SUB;
        softmax_tile<SUB>(s, kbase + SUB - 1 > cur.min_pos, kbase, t4, pos, m, l, alpha, scale_log2);
        // FENCE: a loop between the softmax and the wait for P V (a try-wait on this sub's "full" phase, complete
        // since wait_full, and it stays so until this warpgroup releases the stage below): ptxas schedules within a
        // basic block and otherwise puts the wait (WARPGROUP.DEPBAR) at the top of the softmax's block, so P V of
        // sub j - 1 would not overlap the softmax of sub j.
        if (FENCE) mbar_wait(full + stage_of(j), ((g + j / SPT) / STAGES) & 1);
        wgmma_wait<0>();
        reg_fence(o);
        reg_fence(p);
        if ((j - 1) % SPT == SPT - 1) release(j - 1);
#pragma unroll
        for (int i = 0; i < 16; ++i) {
          o[4 * i] *= alpha[0];
          o[4 * i + 1] *= alpha[0];
          o[4 * i + 2] *= alpha[1];
          o[4 * i + 3] *= alpha[1];
        }
        pack_p<T, SUB>(p, s);
      }
      // every Q Kᵀ of this item is complete: this warpgroup's q rows may take the next item's
      const int wn = sched.next(r + 1, false);
      const bool more = wn < items;
      Item next = cur;
      if (more) {
        next = item(wn);
        load_q(next);
      }
      turn_wait();
      reg_fence(o);
      reg_fence(p);
      wgmma_fence();
      pv(o, p, n_sub - 1);
      wgmma_commit();
      turn_pass(true);
      wgmma_wait<0>();
      reg_fence(o);
      release(n_sub - 1);

#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float lsum = l[h];
        lsum += __shfl_xor_sync(0xffffffffu, lsum, 1);
        lsum += __shfl_xor_sync(0xffffffffu, lsum, 2);
        const int row = cw * 64 + warp * 16 + g4 + 8 * h;
        if (row >= cur.rows) continue;
        const float inv = 1.f / lsum;
        T* orow = out + (size_t)(cur.first + row / cur.nh) * q_dim + (size_t)(cur.h0 + row % cur.nh) * 128;
#pragma unroll
        for (int i = 0; i < 16; ++i)
          *reinterpret_cast<uint32_t*>(orow + 8 * i + 2 * t4) =
              pack2<T>(o[4 * i + 2 * h] * inv, o[4 * i + 2 * h + 1] * inv);
      }
      g += (n_sub + SPT - 1) / SPT;
      if (!more) break;
      cur = next;
    }
  }
}
}  // namespace llmc_prefill_wgmma
#endif

// Entry points prefill_attention_wgmma_{f16,bf16}_d128_w{0..3}, the parameters of prefill_attention_mma_* minus
// head_dim (always 128) plus the tile count and the item counter: w0 = 64-key subs + ping-pong, w1 = 64-key subs
// without, w2 = 128-key subs + ping-pong, w3 = 128-key subs without; all with a 3-stage ring. Each runs one CTA per
// item (counter null) or persistent (a grid of one CTA per SM, counter = two zeroed ints that the kernel leaves
// zeroed). AttentionKernels.WGMMA_VARIANTS mirrors them. Only the sm_90a SASS has a body; AttentionKernels launches
// them on compute capability 9.0 only, and anything else that reached them would trap instead of writing nothing.
#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define LLMC_WGMMA_BODY(T, STAGES, PP, SUB, TABLE, FENCE)                                                          \
  llmc_prefill_wgmma::prefill_attention_wgmma<T, STAGES, PP, SUB, TABLE, FENCE>(q, k_cache, v_cache, out, tiles, positions,          \
                                                             block_tables, table_stride, num_heads, num_kv_heads,  \
                                                             block_size, heads_per_cta, num_tiles, scale_log2, \
                                                             counter);
#else
#define LLMC_WGMMA_BODY(T, STAGES, PP, SUB, TABLE, FENCE) __trap();
#endif
#define LLMC_PREFILL_WGMMA_ONE(S, T, V, STAGES, PP, SUB, TABLE, FENCE)                                                               \
  extern "C" __global__ void __launch_bounds__(384, 1) prefill_attention_wgmma_##S##_d128_w##V(                   \
      const T* q, const T* k_cache, const T* v_cache, T* out, const int4* tiles, const int* positions,            \
      const int* block_tables, int table_stride, int num_heads, int num_kv_heads, int block_size,                 \
      int heads_per_cta, int num_tiles, float scale_log2, int* counter) {                                          \
    LLMC_WGMMA_BODY(T, STAGES, PP, SUB, TABLE, FENCE)                                                                            \
  }
// the persistent variants are the same code: only the grid and the counter differ
#define LLMC_PREFILL_WGMMA(S, T)                        \
  LLMC_PREFILL_WGMMA_ONE(S, T, 0, 3, true, 64, 0, false)   \
  LLMC_PREFILL_WGMMA_ONE(S, T, 1, 3, false, 64, 0, false)  \
  LLMC_PREFILL_WGMMA_ONE(S, T, 2, 3, true, 128, 0, false)  \
  LLMC_PREFILL_WGMMA_ONE(S, T, 3, 3, false, 128, 0, false) \
  LLMC_PREFILL_WGMMA_ONE(S, T, 4, 3, true, 128, 1, false)  \
  LLMC_PREFILL_WGMMA_ONE(S, T, 5, 3, true, 128, 0, true)   \
  LLMC_PREFILL_WGMMA_ONE(S, T, 6, 3, true, 128, 1, true)   \
  LLMC_PREFILL_WGMMA_ONE(S, T, 7, 3, false, 128, 1, true)  \
  LLMC_PREFILL_WGMMA_ONE(S, T, 8, 3, true, 128, 2, true)   \
  LLMC_PREFILL_WGMMA_ONE(S, T, 9, 3, false, 128, 2, true)  \
  LLMC_PREFILL_WGMMA_ONE(S, T, 10, 3, true, 128, 3, false) \
  LLMC_PREFILL_WGMMA_ONE(S, T, 11, 3, false, 128, 3, false) \
  LLMC_PREFILL_WGMMA_ONE(S, T, 12, 3, true, 128, 4, true)   \
  LLMC_PREFILL_WGMMA_ONE(S, T, 13, 3, true, 128, 4, false)
LLMC_FOR_DTYPES(LLMC_PREFILL_WGMMA)
