// matmul.cuh: a tiled matrix product with f32 accumulation for any operand layout
// (strides carry the transposes). One 256-thread block computes a BM x BN tile of C,
// each thread a 4x4 sub-tile; K advances BK at a time through shared memory.
//
// This is the portable baseline every target runs; tensor-core (wgmma/mma) kernels come
// with the performance work and must match it.
#pragma once

#include "common.cuh"

namespace chitu {

template <typename TA, typename TB, typename TC>
__device__ __forceinline__ void gemm_tile_64x64(const TA *__restrict__ A, const TB *__restrict__ B,
                                                TC *__restrict__ C, i64 M, i64 N, i64 K, i64 sam,
                                                i64 sak, i64 sbk, i64 sbn) {
  constexpr int BM = 64, BN = 64, BK = 16;
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16; // 16 x 16 threads, 4 x 4 outputs each
  const i64 row0 = (i64)blockIdx.y * BM, col0 = (i64)blockIdx.x * BN;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
      acc[i][j] = 0.0f;

  for (i64 k0 = 0; k0 < K; k0 += BK) {
    // 64*16 = 1024 elements per tile: 4 per thread for A and for B.
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      int e = tid + l * 256;
      int kk = e % BK, mm = e / BK;
      i64 m = row0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < K) ? to_float(A[m * sam + k * sak]) : 0.0f;
      int nn = e % BN, kb = e / BN;
      i64 n = col0 + nn, kg = k0 + kb;
      Bs[kb][nn] = (n < N && kg < K) ? to_float(B[kg * sbk + n * sbn]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        a[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j)
        b[j] = Bs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    i64 m = row0 + ty * 4 + i;
    if (m >= M)
      continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      i64 n = col0 + tx * 4 + j;
      if (n < N)
        C[m * N + n] = from_float<TC>(acc[i][j]);
    }
  }
}

} // namespace chitu
