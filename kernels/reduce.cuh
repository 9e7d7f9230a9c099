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

// Sum of `element(k)` over k in [0, n) by one warp, in a fixed order, broadcast from lane 0:
// the row is taken in chunks of 256, lane l adding elements 8l .. 8l + 7 of each chunk in
// turn (non-contracted adds), then a butterfly over the lanes. Every kernel that reduces a
// row this way gets the same bits (the rms_norm kernel and the norm fused into a product's
// prologue), including warp_row_sum_squares, which reads a 16-bit row 16 bytes at a time in
// the same order.
//
// The kRowSumBatch elements a lane takes from consecutive chunks are evaluated before any
// is added, so their loads are in flight together; the additions keep the order above.
constexpr int kRowSumBatch = 32, kRowSumRun = 8, kRowSumChunk = 32 * kRowSumRun;
template <typename F> __device__ __forceinline__ float warp_row_sum(i64 n, F element) {
  const int lane = threadIdx.x & 31;
  float s = 0.0f;
  for (i64 c0 = 0; c0 < n; c0 += (i64)kRowSumChunk * (kRowSumBatch / kRowSumRun)) {
    float e[kRowSumBatch];
#pragma unroll
    for (int u = 0; u < kRowSumBatch; ++u) {
      const i64 k = c0 + (u / kRowSumRun) * kRowSumChunk + lane * kRowSumRun + u % kRowSumRun;
      e[u] = k < n ? element(k) : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kRowSumBatch; ++u) {
      const i64 k = c0 + (u / kRowSumRun) * kRowSumChunk + lane * kRowSumRun + u % kRowSumRun;
      if (k < n)
        s = __fadd_rn(s, e[u]);
    }
  }
  s = warp_reduce(s, SumOp());
  return __shfl_sync(0xffffffffu, s, 0);
}

// warp_row_sum(n, [](k) { float v = to_float(row[k]); return v * v; }) for a row of a 16-bit
// type T with n % 8 == 0 and row 16-byte aligned: one 16-byte load per lane and chunk, the
// same order and bits.
template <typename T>
__device__ __forceinline__ float warp_row_sum_squares(const T *__restrict__ row, i64 n) {
  static_assert(sizeof(T) == 2 && kRowSumRun == 8, "8 values of T per 16-byte load");
  constexpr int kLoads = kRowSumBatch / kRowSumRun;
  const int lane = threadIdx.x & 31;
  float s = 0.0f;
  for (i64 c0 = 0; c0 < n; c0 += (i64)kRowSumChunk * kLoads) {
    uint4 v[kLoads];
#pragma unroll
    for (int q = 0; q < kLoads; ++q) {
      const i64 k = c0 + q * kRowSumChunk + lane * kRowSumRun;
      v[q] = k < n ? *reinterpret_cast<const uint4 *>(row + k) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int q = 0; q < kLoads; ++q) {
      const i64 k = c0 + q * kRowSumChunk + lane * kRowSumRun;
      if (k >= n)
        continue;
      const unsigned w[4] = {v[q].x, v[q].y, v[q].z, v[q].w};
#pragma unroll
      for (int i = 0; i < kRowSumRun; ++i) {
        T t;
        t.bits = (unsigned short)(w[i / 2] >> (16 * (i % 2)));
        const float x = to_float(t);
        s = __fadd_rn(s, x * x);
      }
    }
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
