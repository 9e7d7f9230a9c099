// llm.cuh: the LLM kernels that are not elementwise: paged attention, next-token
// probabilities and drawing tokens. Each mirrors its CPU reference in runtime/cpu/CpuOps.cpp.
#pragma once

#include "common.cuh"
#include "reduce.cuh"

namespace chitu {

constexpr unsigned kErrorInvalidProbabilities = 2;

// ---- paged attention -----------------------------------------------------------------
//
// One block of kWarps warps computes the output of one (token, head): warps take keys in
// turn, lanes split the head dimension (D <= 32 * kPerLane), each warp keeps an online
// softmax, and the warps' partial results are merged through shared memory at the end.
// `scratch` holds kWarps * (2 + D) floats.
template <int D, int kWarps, typename T, typename TT, typename TS, typename TP>
__device__ void paged_attention_one(const T *__restrict__ q, const T *__restrict__ kc,
                                    const T *__restrict__ vc, const TT *__restrict__ tables,
                                    const TS *__restrict__ seqs, const TP *__restrict__ positions,
                                    T *__restrict__ out, i64 t, i64 h, i64 heads, i64 kvHeads,
                                    i64 blockSize, i64 numBlocks, i64 numSeqs, i64 maxBlocks,
                                    float scale, i64 window, unsigned *status, float *scratch) {
  constexpr int kPerLane = (D + 31) / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const i64 s = (i64)seqs[t], p = (i64)positions[t];
  const i64 kvh = h / (heads / kvHeads);
  bool valid = s >= 0 && s < numSeqs && p >= 0 && p < maxBlocks * blockSize;
  if (!valid && threadIdx.x == 0)
    report_error(status, kErrorIndexOutOfRange);
  const i64 lo = window > 0 ? (p - window + 1 > 0 ? p - window + 1 : 0) : 0;

  float qr[kPerLane], acc[kPerLane];
#pragma unroll
  for (int r = 0; r < kPerLane; ++r) {
    const int d = lane + 32 * r;
    qr[r] = d < D ? to_float(q[(t * heads + h) * D + d]) : 0.0f;
    acc[r] = 0.0f;
  }
  float m = -inf_f32(), l = 0.0f;
  if (valid) {
    for (i64 j = lo + warp; j <= p; j += kWarps) {
      const i64 block = (i64)tables[s * maxBlocks + j / blockSize];
      if (block < 0 || block >= numBlocks) {
        if (lane == 0)
          report_error(status, kErrorIndexOutOfRange);
        continue;
      }
      const i64 row = ((block * blockSize + j % blockSize) * kvHeads + kvh) * D;
      float dot = 0.0f;
#pragma unroll
      for (int r = 0; r < kPerLane; ++r) {
        const int d = lane + 32 * r;
        if (d < D)
          dot += qr[r] * to_float(kc[row + d]);
      }
      dot = warp_reduce(dot, SumOp()) * scale;
      const float mNew = max_f32(m, dot);
      const float correction = expf(m - mNew), w = expf(dot - mNew);
      l = l * correction + w;
#pragma unroll
      for (int r = 0; r < kPerLane; ++r) {
        const int d = lane + 32 * r;
        if (d < D)
          acc[r] = acc[r] * correction + w * to_float(vc[row + d]);
      }
      m = mNew;
    }
  }
  // Merge the warps: scratch[w] = m, scratch[kWarps + w] = l, then kWarps rows of D.
  if (lane == 0) {
    scratch[warp] = m;
    scratch[kWarps + warp] = l;
  }
#pragma unroll
  for (int r = 0; r < kPerLane; ++r) {
    const int d = lane + 32 * r;
    if (d < D)
      scratch[2 * kWarps + warp * D + d] = acc[r];
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
// The block scans the row in chunks of blockDim values; `scratch` holds 32 floats.
__device__ int multinomial_row(const float *__restrict__ p, i64 n, long long seed, unsigned *status,
                               float *scratch) {
  __shared__ float warpSums[32];
  __shared__ unsigned long long found;
  __shared__ long long scratch64[32];
  float partial = 0.0f;
  for (i64 i = threadIdx.x; i < n; i += blockDim.x)
    partial += p[i]; // NaN propagates into the total, as on the CPU
  const float total = block_reduce(partial, SumOp(), scratch);
  if (!(total > 0.0f)) {
    if (threadIdx.x == 0)
      report_error(status, kErrorInvalidProbabilities);
    return 0;
  }
  const float target = (float)(uniform_from_seed((unsigned long long)seed) * (double)total);
  if (threadIdx.x == 0)
    found = ~0ull;
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) / 32;
  float base = 0.0f;
  i64 lastPositive = -1;
  for (i64 start = 0; start < n; start += blockDim.x) {
    const i64 i = start + threadIdx.x;
    const float v = i < n && p[i] > 0.0f ? p[i] : 0.0f;
    float x = v; // inclusive scan of v over the warp, then over the block
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, x, off);
      if (lane >= off)
        x += y;
    }
    if (lane == 31)
      warpSums[warp] = x;
    __syncthreads();
    float before = 0.0f, chunk = 0.0f;
    for (int w = 0; w < warps; ++w) {
      if (w < warp)
        before += warpSums[w];
      chunk += warpSums[w];
    }
    if (v > 0.0f) {
      lastPositive = i;
      if (base + before + x > target)
        atomicMin(&found, (unsigned long long)i);
    }
    __syncthreads();
    if (found != ~0ull)
      break;
    base += chunk;
  }
  if (found != ~0ull)
    return (int)found;
  // Rounding left the target at the total: take the last index with mass.
  return (int)block_reduce((long long)lastPositive, MaxOp(), scratch64);
}

} // namespace chitu
