// reduce.cuh: warp and block reductions used by the generated reduction, softmax and
// normalisation kernels. Blocks have a multiple of 32 threads, at most 1024.
#pragma once

#include "common.cuh"

namespace chitu {

struct SumOp {
  template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct SumWrapOp { // integer sums wrap instead of overflowing
  __device__ __forceinline__ i32 operator()(i32 a, i32 b) const { return add_i32(a, b); }
  __device__ __forceinline__ i64 operator()(i64 a, i64 b) const { return add_i64(a, b); }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return max_f32(a, b); }
  __device__ __forceinline__ i32 operator()(i32 a, i32 b) const { return max_int(a, b); }
  __device__ __forceinline__ i64 operator()(i64 a, i64 b) const { return max_int(a, b); }
};

template <typename T, typename Op> __device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum of `element(k)` over k in [0, n) by one warp, in a fixed order (lane l adds k = l,
// l + 32, ... in turn, then a butterfly over the lanes), broadcast from lane 0: every kernel
// that reduces a row this way gets the same bits (the rms_norm kernel and the norm fused
// into a product's prologue).
//
// The elements of kRowSumBatch strides are evaluated before any is added, so their loads are
// in flight together (a row sum is otherwise one load latency per stride); the additions
// keep the order above.
constexpr int kRowSumBatch = 32;
template <typename F> __device__ __forceinline__ float warp_row_sum(i64 n, F element) {
  const int lane = threadIdx.x & 31;
  float s = 0.0f;
  for (i64 k0 = lane; k0 < n; k0 += 32 * kRowSumBatch) {
    float e[kRowSumBatch];
#pragma unroll
    for (int u = 0; u < kRowSumBatch; ++u)
      e[u] = k0 + 32 * u < n ? element(k0 + 32 * u) : 0.0f;
#pragma unroll
    for (int u = 0; u < kRowSumBatch; ++u)
      if (k0 + 32 * u < n)
        s += e[u];
  }
  s = warp_reduce(s, SumOp());
  return __shfl_sync(0xffffffffu, s, 0);
}

// Reduces one value per thread over the whole block; every thread gets the result.
// `scratch` holds 32 values of T in shared memory; it may be reused after the call.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T *scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  v = warp_reduce(v, op);
  __syncthreads(); // scratch may still be read by a previous call
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  T r = scratch[0];
  for (int w = 1; w < warps; ++w)
    r = op(r, scratch[w]);
  return r;
}

} // namespace chitu
