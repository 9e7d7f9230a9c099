// llm.cuh: the LLM kernels that are not elementwise: paged attention, next-token
// probabilities and drawing tokens. Each mirrors its CPU reference in runtime/cpu/CpuOps.cpp.
#pragma once

#include "common.cuh"
#include "reduce.cuh"

namespace chitu {

constexpr unsigned kErrorInvalidProbabilities = 2;

// ---- paged attention -----------------------------------------------------------------
//
// One block of kWarps warps computes the output of one (token, head). A key's row is read by
// a group of kGroup lanes with 16-byte loads (kVec values each; scalar loads when D is not a
// multiple of kVec), so a warp takes 32 / kGroup keys at once and every group keeps its own
// online softmax (running max m, sum l, weighted values). Each lane has two keys in flight
// per round, and the block table is read a round ahead. The groups merge by shuffles within a
// warp, the warps through shared memory.
// `scratch` holds kWarps * (2 + D) floats.
__host__ __device__ constexpr int pow2_at_least(int x) {
  int p = 1;
  while (p < x)
    p *= 2;
  return p;
}

template <int D, typename T> struct AttentionLayout {
  static constexpr int kVec = D % (16 / sizeof(T)) == 0 ? 16 / sizeof(T) : 1;
  static constexpr int kVecs = D / kVec;
  static constexpr int kGroup = pow2_at_least(kVecs < 32 ? kVecs : 32);
  static constexpr int kPerLane = (kVecs + kGroup - 1) / kGroup;
  static constexpr int kKeysPerWarp = 32 / kGroup;
  static constexpr int kUnroll = 2;
};

// Folds another partial softmax state (m, l, acc) into this one.
template <int N>
__device__ __forceinline__ void merge_softmax_state(float &m, float &l, float (&acc)[N], float om,
                                                    float ol, const float (&oacc)[N]) {
  const float mNew = max_f32(m, om);
  const float a = m == -inf_f32() ? 0.0f : expf(m - mNew);
  const float b = om == -inf_f32() ? 0.0f : expf(om - mNew);
  l = l * a + ol * b;
#pragma unroll
  for (int i = 0; i < N; ++i)
    acc[i] = acc[i] * a + oacc[i] * b;
  m = mNew;
}

template <int D, int kWarps, typename T, typename TT, typename TS, typename TP>
__device__ void paged_attention_one(const T *__restrict__ q, const T *__restrict__ kc,
                                    const T *__restrict__ vc, const TT *__restrict__ tables,
                                    const TS *__restrict__ seqs, const TP *__restrict__ positions,
                                    T *__restrict__ out, i64 t, i64 h, i64 heads, i64 kvHeads,
                                    i64 blockSize, i64 numBlocks, i64 numSeqs, i64 maxBlocks,
                                    float scale, i64 window, unsigned *status, float *scratch) {
  using L = AttentionLayout<D, T>;
  constexpr int kVec = L::kVec, kGroup = L::kGroup, kPerLane = L::kPerLane, kU = L::kUnroll;
  constexpr int kLaneValues = kPerLane * kVec;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int group = lane / kGroup, inGroup = lane % kGroup;
  const i64 s = (i64)seqs[t], p = (i64)positions[t];
  const i64 kvh = h / (heads / kvHeads);
  const bool valid = s >= 0 && s < numSeqs && p >= 0 && p < maxBlocks * blockSize;
  if (!valid && threadIdx.x == 0)
    report_error(status, kErrorIndexOutOfRange);
  const i64 lo = window > 0 ? (p - window + 1 > 0 ? p - window + 1 : 0) : 0;
  const i64 last = valid ? p : lo - 1;

  // The lane's dimensions: vectors inGroup, inGroup + kGroup, ... of the row.
  float qr[kLaneValues], acc[kLaneValues];
#pragma unroll
  for (int r = 0; r < kPerLane; ++r) {
    const int vi = inGroup + kGroup * r;
    float v[kVec];
    if (vi < L::kVecs)
      load_floats<kVec>(q + (t * heads + h) * D + vi * kVec, v);
#pragma unroll
    for (int i = 0; i < kVec; ++i) {
      qr[r * kVec + i] = vi < L::kVecs ? v[i] : 0.0f;
      acc[r * kVec + i] = 0.0f;
    }
  }
  float m = -inf_f32(), l = 0.0f;
  const i64 stride = (i64)kWarps * L::kKeysPerWarp;
  // The group's keys of a round are base + group + u * stride; their cache blocks are read
  // from the table one round ahead, so a round waits for one load latency, not two.
  i64 nextBlocks[kU];
#pragma unroll
  for (int u = 0; u < kU; ++u) {
    const i64 j = lo + warp * L::kKeysPerWarp + group + u * stride;
    nextBlocks[u] = j <= last ? (i64)tables[s * maxBlocks + j / blockSize] : 0;
  }
  // The loop bound is uniform over the warp, so every lane takes part in the shuffles.
  for (i64 base = lo + warp * L::kKeysPerWarp; base <= last; base += stride * kU) {
    float kr[kU][kLaneValues], vr[kU][kLaneValues], dot[kU];
    bool ok[kU];
    i64 blocks[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      blocks[u] = nextBlocks[u];
      const i64 j = base + stride * kU + group + u * stride;
      nextBlocks[u] = j <= last ? (i64)tables[s * maxBlocks + j / blockSize] : 0;
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const i64 j = base + group + u * stride;
      ok[u] = j <= last;
      i64 row = 0;
      if (ok[u]) {
        const i64 block = blocks[u];
        if (block < 0 || block >= numBlocks) {
          if (inGroup == 0)
            report_error(status, kErrorIndexOutOfRange);
          ok[u] = false;
        }
        row = ((block * blockSize + j % blockSize) * kvHeads + kvh) * D;
      }
#pragma unroll
      for (int r = 0; r < kPerLane; ++r) {
        const int vi = inGroup + kGroup * r;
        float kv[kVec], vv[kVec];
        if (ok[u] && vi < L::kVecs) {
          load_floats<kVec>(kc + row + vi * kVec, kv);
          load_floats<kVec>(vc + row + vi * kVec, vv);
        } else {
#pragma unroll
          for (int i = 0; i < kVec; ++i)
            kv[i] = vv[i] = 0.0f;
        }
#pragma unroll
        for (int i = 0; i < kVec; ++i) {
          kr[u][r * kVec + i] = kv[i];
          vr[u][r * kVec + i] = vv[i];
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      float d = 0.0f;
#pragma unroll
      for (int i = 0; i < kLaneValues; ++i)
        d += qr[i] * kr[u][i];
#pragma unroll
      for (int off = kGroup / 2; off > 0; off >>= 1)
        d += __shfl_xor_sync(0xffffffffu, d, off);
      dot[u] = ok[u] ? d * scale : -inf_f32();
    }
    float mNew = m;
#pragma unroll
    for (int u = 0; u < kU; ++u)
      mNew = max_f32(mNew, dot[u]);
    if (mNew == -inf_f32())
      continue; // no key of this group yet
    const float correction = expf(m - mNew);
    l *= correction;
#pragma unroll
    for (int i = 0; i < kLaneValues; ++i)
      acc[i] *= correction;
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const float w = ok[u] ? expf(dot[u] - mNew) : 0.0f;
      l += w;
#pragma unroll
      for (int i = 0; i < kLaneValues; ++i)
        acc[i] += w * vr[u][i];
    }
    m = mNew;
  }
  // Merge the groups of the warp (lanes with the same inGroup hold the same dimensions).
#pragma unroll
  for (int off = kGroup; off < 32; off <<= 1) {
    float oacc[kLaneValues];
#pragma unroll
    for (int i = 0; i < kLaneValues; ++i)
      oacc[i] = __shfl_xor_sync(0xffffffffu, acc[i], off);
    const float om = __shfl_xor_sync(0xffffffffu, m, off);
    const float ol = __shfl_xor_sync(0xffffffffu, l, off);
    merge_softmax_state(m, l, acc, om, ol, oacc);
  }
  // Merge the warps: scratch[w] = m, scratch[kWarps + w] = l, then kWarps rows of D.
  if (lane == 0) {
    scratch[warp] = m;
    scratch[kWarps + warp] = l;
  }
  if (group == 0) {
#pragma unroll
    for (int r = 0; r < kPerLane; ++r) {
      const int vi = inGroup + kGroup * r;
      if (vi < L::kVecs)
#pragma unroll
        for (int i = 0; i < kVec; ++i)
          scratch[2 * kWarps + warp * D + vi * kVec + i] = acc[r * kVec + i];
    }
  }
  __syncthreads();
  float mAll = -inf_f32();
  for (int w = 0; w < kWarps; ++w)
    mAll = max_f32(mAll, scratch[w]);
  float lAll = 0.0f;
  for (int w = 0; w < kWarps; ++w)
    lAll += scratch[w] == -inf_f32() ? 0.0f : scratch[kWarps + w] * expf(scratch[w] - mAll);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (scratch[w] != -inf_f32())
        o += scratch[2 * kWarps + w * D + d] * expf(scratch[w] - mAll);
    out[(t * heads + h) * D + d] = from_float<T>(o / lAll);
  }
  __syncthreads(); // scratch is reused by the block's next (token, head)
}

// ---- next-token probabilities ----------------------------------------------------------

__device__ __forceinline__ float uint_as_float_bits(unsigned b) { return __uint_as_float(b); }

// Number (or mass) of values of `p[0..n)` at least `threshold`, over the whole block.
__device__ __forceinline__ float block_count_at_least(const float *p, i64 n, float threshold,
                                                      bool mass, float *scratch) {
  float c = 0.0f;
  for (i64 i = threadIdx.x; i < n; i += blockDim.x)
    if (p[i] >= threshold)
      c += mass ? p[i] : 1.0f;
  return block_reduce(c, SumOp(), scratch);
}

// The largest bit pattern b in [lo, hi] (positive floats order like their bits) such that
// count_or_mass(p >= float(b)) >= goal.
__device__ __forceinline__ float bisect_threshold(const float *p, i64 n, unsigned lo, unsigned hi,
                                                  float goal, bool mass, float *scratch) {
  while (lo < hi) {
    const unsigned mid = lo + (hi - lo + 1) / 2;
    if (block_count_at_least(p, n, uint_as_float_bits(mid), mass, scratch) >= goal)
      lo = mid;
    else
      hi = mid - 1;
  }
  return uint_as_float_bits(lo);
}

// Greedy argmax: the first index of the largest value.
struct ArgMax {
  float v;
  i64 i;
};
__device__ __forceinline__ ArgMax better(ArgMax a, ArgMax b) {
  return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a;
}

template <typename TH>
__device__ void sampling_probs_row(const float *__restrict__ logits, float *__restrict__ p, i64 n,
                                   float temperature, int topK, float topP, float minP,
                                   float penalty, const TH *__restrict__ history, i64 historyLen,
                                   float *scratch) {
  for (i64 i = threadIdx.x; i < n; i += blockDim.x)
    p[i] = logits[i];
  __syncthreads();
  // Repetition penalty: duplicates write the same value, so each id is penalised once.
  for (i64 j = threadIdx.x; j < historyLen; j += blockDim.x) {
    const i64 id = (i64)history[j];
    if (id >= 0 && id < n) {
      const float l = logits[id];
      p[id] = l > 0.0f ? l / penalty : l * penalty;
    }
  }
  __syncthreads();
  if (!(temperature > 0.0f)) {
    ArgMax best{-inf_f32(), 0};
    for (i64 i = threadIdx.x; i < n; i += blockDim.x)
      best = better(best, ArgMax{p[i], i});
    // Block argmax through shared memory (scratch holds 32 floats: use it for 16 pairs).
    __shared__ ArgMax pairs[32];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      ArgMax other{__shfl_xor_sync(0xffffffffu, best.v, off),
                   __shfl_xor_sync(0xffffffffu, best.i, off)};
      best = better(best, other);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0)
      pairs[warp] = best;
    __syncthreads();
    best = pairs[0];
    for (int w = 1; w < (int)((blockDim.x + 31) / 32); ++w)
      best = better(best, pairs[w]);
    __syncthreads();
    for (i64 i = threadIdx.x; i < n; i += blockDim.x)
      p[i] = i == best.i ? 1.0f : 0.0f;
    __syncthreads();
    return;
  }
  float mx = -inf_f32();
  for (i64 i = threadIdx.x; i < n; i += blockDim.x) {
    p[i] = p[i] / temperature;
    mx = max_f32(mx, p[i]);
  }
  mx = block_reduce(mx, MaxOp(), scratch);
  for (i64 i = threadIdx.x; i < n; i += blockDim.x)
    p[i] = expf(p[i] - mx);
  __syncthreads();
  float threshold = 0.0f;
  const unsigned one = __float_as_uint(1.0f);
  if (topK > 0 && topK < n)
    threshold = bisect_threshold(p, n, 0u, one, (float)topK, false, scratch);
  if (topP < 1.0f) {
    const float kept = block_count_at_least(p, n, threshold, true, scratch);
    threshold = bisect_threshold(p, n, __float_as_uint(threshold), one, topP * kept, true, scratch);
  }
  if (minP > 0.0f)
    threshold = max_f32(threshold, minP);
  const float total = block_count_at_least(p, n, threshold, true, scratch);
  for (i64 i = threadIdx.x; i < n; i += blockDim.x)
    p[i] = p[i] >= threshold ? p[i] / total : 0.0f;
  __syncthreads();
}

// ---- drawing a token -------------------------------------------------------------------

__device__ __forceinline__ double uniform_from_seed(unsigned long long seed) {
  unsigned long long z = seed + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

// The first index whose running sum exceeds u * total (and has a positive probability).
// Each thread owns a contiguous segment of the row: one pass sums the segments, a block scan
// gives each segment's starting sum, and the threads whose segment ends past the target scan
// it (the smallest index found wins). `scratch` holds 32 floats.
__device__ int multinomial_row(const float *__restrict__ p, i64 n, long long seed, unsigned *status,
                               float *scratch) {
  __shared__ float warpSums[32];
  __shared__ unsigned long long found;
  __shared__ long long scratch64[32];
  const i64 per = (n + blockDim.x - 1) / blockDim.x;
  const i64 begin = min(n, (i64)threadIdx.x * per), end = min(n, begin + per);
  float partial = 0.0f, mass = 0.0f;
  i64 lastPositive = -1;
  for (i64 i = begin; i < end; ++i) {
    const float v = p[i];
    partial += v; // NaN propagates into the total, as on the CPU
    if (v > 0.0f) {
      mass += v;
      lastPositive = i;
    }
  }
  const float total = block_reduce(partial, SumOp(), scratch);
  if (!(total > 0.0f)) {
    if (threadIdx.x == 0)
      report_error(status, kErrorInvalidProbabilities);
    return 0;
  }
  const float target = (float)(uniform_from_seed((unsigned long long)seed) * (double)total);
  // Exclusive scan of the segments' mass: over the warp, then over the warps.
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float x = mass;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const float y = __shfl_up_sync(0xffffffffu, x, off);
    if (lane >= off)
      x += y;
  }
  if (lane == 31)
    warpSums[warp] = x;
  if (threadIdx.x == 0)
    found = ~0ull;
  __syncthreads();
  float before = x - mass;
  for (int w = 0; w < warp; ++w)
    before += warpSums[w];
  if (before + mass > target) {
    float run = before;
    for (i64 i = begin; i < end; ++i) {
      const float v = p[i];
      if (v > 0.0f) {
        run += v;
        if (run > target) {
          atomicMin(&found, (unsigned long long)i);
          break;
        }
      }
    }
  }
  __syncthreads();
  const unsigned long long pick = found;
  if (pick != ~0ull)
    return (int)pick;
  // Rounding left the target at the total: take the last index with mass.
  return (int)block_reduce((long long)lastPositive, MaxOp(), scratch64);
}

} // namespace chitu
