// matmul.cuh: a tiled matrix product with f32 accumulation. One 256-thread block computes a
// BM x BN tile of C, each thread a 4x4 sub-tile; K advances BK at a time through shared
// memory.
//
// gemm_tile_fused is the one implementation: it reads A through `load_a(m, k)` (a fused
// prologue: a norm, a reshape, ... or a plain load), computes NB products with the same A
// at once (`load_b(j, k, n)`, e.g. gate and up), and hands each element's NB accumulators
// to `epilogue(m, n, acc)` (bias, activation, residual, cast, the store). Unfused and fused
// kernels therefore accumulate in the same order and give the same bits.
//
// This is the portable baseline every target runs; tensor-core (wgmma/mma) kernels come
// with the performance work and must match it.
#pragma once

#include "common.cuh"

namespace chitu {

constexpr int kGemmBM = 64, kGemmBN = 64, kGemmBK = 16;

// Floats of shared memory gemm_tile_fused<NB> needs.
__host__ __device__ constexpr int gemm_smem_floats(int nb) {
  return (1 + nb) * kGemmBK * (kGemmBN + 4);
}

template <int NB, typename LoadA, typename LoadB, typename Epilogue>
__device__ __forceinline__ void gemm_tile_fused(i64 row0, i64 col0, i64 M, i64 N, i64 K,
                                                float *smem, LoadA load_a, LoadB load_b,
                                                Epilogue epilogue) {
  constexpr int BM = kGemmBM, BN = kGemmBN, BK = kGemmBK;
  static_assert(BM == BN, "one shared-memory row length serves A and B");
  float(*As)[BM + 4] = reinterpret_cast<float(*)[BM + 4]>(smem);
  float(*Bs)[BK][BN + 4] = reinterpret_cast<float(*)[BK][BN + 4]>(smem + BK * (BM + 4));
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16; // 16 x 16 threads, 4 x 4 outputs each
  float acc[NB][4][4];
#pragma unroll
  for (int j = 0; j < NB; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c)
        acc[j][i][c] = 0.0f;

  for (i64 k0 = 0; k0 < K; k0 += BK) {
    // 64*16 = 1024 elements per tile: 4 per thread for A and for each B.
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      int e = tid + l * 256;
      int kk = e % BK, mm = e / BK;
      i64 m = row0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < K) ? load_a(m, k) : 0.0f;
      int nn = e % BN, kb = e / BN;
      i64 n = col0 + nn, kg = k0 + kb;
#pragma unroll
      for (int j = 0; j < NB; ++j)
        Bs[j][kb][nn] = (n < N && kg < K) ? load_b(j, kg, n) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        a[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < NB; ++j) {
        float b[4];
#pragma unroll
        for (int c = 0; c < 4; ++c)
          b[c] = Bs[j][kk][tx * 4 + c];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int c = 0; c < 4; ++c)
            acc[j][i][c] += a[i] * b[c];
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    i64 m = row0 + ty * 4 + i;
    if (m >= M)
      continue;
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      i64 n = col0 + tx * 4 + c;
      if (n < N) {
        float out[NB];
#pragma unroll
        for (int j = 0; j < NB; ++j)
          out[j] = acc[j][i][c];
        epilogue(m, n, out);
      }
    }
  }
}

// ---- few rows (decode) ----------------------------------------------------------------
//
// With at most kGemvMaxRows rows of A the product is a matrix-vector product bound by
// reading B once. Each warp computes one output column: B is [N, K] (a product with
// transpose_rhs), so the column's weights are a contiguous row, read with 16-byte loads,
// kGemvLoadsInFlight per lane (over the NB products) issued before any is used. A's rows go
// through `load_a` into shared memory: all of A once per block when it fits (aResident: the
// caller staged it with stage_rows and the block then loops over column blocks), else as much
// of K at a time as kGemvSmemFloats holds for M rows. A fused prologue thus runs once per
// element per block and few barriers interrupt the stream of weights. MaxRows (1, 4 or kGemvMaxRows,
// picked at run time from M) sizes the accumulators. The lanes' partial sums are combined by
// a butterfly and lane 0 hands the column's NB accumulators to `epilogue(m, n, acc)`, for
// each row m.
constexpr int kGemvMaxRows = 16;
constexpr int kGemvCols = 8;           // columns per block: one per warp of 256 threads
constexpr int kGemvSmemFloats = 8192;  // A staged at a time: M rows of kGemvSmemFloats / M
constexpr int kGemvLoadsInFlight = 8; // 16-byte weight loads per lane, over the NB products
__host__ __device__ constexpr int gemv_smem_floats() { return kGemvSmemFloats; }

// smem[m * stride + kk] = load_a(m, k0 + kk) for m < M, kk < kc, by the whole block; each
// thread evaluates kStageBatch elements before storing any, so their loads overlap.
constexpr int kStageBatch = 16;
template <typename LoadA>
__device__ __forceinline__ void stage_rows(i64 M, int kc, int stride, i64 k0, float *smem,
                                           LoadA load_a) {
  for (i64 m = 0; m < M; ++m)
    for (int kk0 = threadIdx.x; kk0 < kc; kk0 += blockDim.x * kStageBatch) {
      float v[kStageBatch];
#pragma unroll
      for (int u = 0; u < kStageBatch; ++u) {
        const int kk = kk0 + u * blockDim.x;
        v[u] = kk < kc ? load_a(m, k0 + kk) : 0.0f;
      }
#pragma unroll
      for (int u = 0; u < kStageBatch; ++u) {
        const int kk = kk0 + u * blockDim.x;
        if (kk < kc)
          smem[m * stride + kk] = v[u];
      }
    }
}

template <int NB, int MaxRows, typename TB, typename LoadA, typename Epilogue>
__device__ __forceinline__ void gemv_tile_fused(i64 col0, i64 M, i64 N, i64 K, float *smem,
                                                bool aResident, LoadA load_a, const TB *const *B,
                                                Epilogue epilogue) {
  // Loads in flight per lane: kGemvLoadsInFlight over the products, a quarter of that with
  // the 16-row accumulators (registers).
  constexpr int kLoads = MaxRows > 4 ? kGemvLoadsInFlight / 4 : kGemvLoadsInFlight;
  constexpr int V = 16 / sizeof(TB), U = kLoads / NB > 0 ? kLoads / NB : 1;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const i64 n = col0 + warp;
  const bool vec = (K % V) == 0;
  // Chunk of K staged per round: a multiple of 32 lanes * V, rows kept apart by `chunk`; all
  // of K when the caller staged A already (aResident: M * K <= kGemvSmemFloats).
  const int chunk = aResident ? (int)K : (int)(kGemvSmemFloats / M) / (32 * V) * (32 * V);
  float acc[NB][MaxRows];
#pragma unroll
  for (int j = 0; j < NB; ++j)
#pragma unroll
    for (int m = 0; m < MaxRows; ++m)
      acc[j][m] = 0.0f;
  for (i64 k0 = 0; k0 < K; k0 += chunk) {
    const int kc = (int)(K - k0 < chunk ? K - k0 : chunk);
    if (!aResident) {
      __syncthreads(); // the previous chunk is consumed
      stage_rows(M, kc, chunk, k0, smem, load_a);
      __syncthreads();
    }
    if (n >= N)
      continue;
    if (vec) {
      for (int kk0 = lane * V; kk0 < kc; kk0 += 32 * V * U) {
        float w[U][NB][V];
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int kk = kk0 + u * 32 * V;
#pragma unroll
          for (int j = 0; j < NB; ++j) {
            if (kk < kc)
              load_floats<V>(B[j] + n * K + k0 + kk, w[u][j]);
            else
#pragma unroll
              for (int i = 0; i < V; ++i)
                w[u][j][i] = 0.0f;
          }
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int kk = kk0 + u * 32 * V;
          if (kk >= kc)
            break;
#pragma unroll
          for (int m = 0; m < MaxRows; ++m) {
            if (m >= M)
              break;
            float a[V];
#pragma unroll
            for (int i = 0; i < V; i += 4) {
              const float4 a4 = *reinterpret_cast<const float4 *>(smem + m * chunk + kk + i);
              a[i] = a4.x, a[i + 1] = a4.y, a[i + 2] = a4.z, a[i + 3] = a4.w;
            }
#pragma unroll
            for (int j = 0; j < NB; ++j)
#pragma unroll
              for (int i = 0; i < V; ++i)
                acc[j][m] += a[i] * w[u][j][i];
          }
        }
      }
    } else {
      for (int kk = lane; kk < kc; kk += 32) {
#pragma unroll
        for (int j = 0; j < NB; ++j) {
          const float w = to_float(B[j][n * K + k0 + kk]);
#pragma unroll
          for (int m = 0; m < MaxRows; ++m)
            if (m < M)
              acc[j][m] += smem[m * chunk + kk] * w;
        }
      }
    }
  }
  if (n >= N)
    return;
#pragma unroll
  for (int m = 0; m < MaxRows; ++m) {
    if (m >= M)
      break;
    float out[NB];
#pragma unroll
    for (int j = 0; j < NB; ++j) {
      float v = acc[j][m];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
      out[j] = __shfl_sync(0xffffffffu, v, 0);
    }
    if (lane == 0)
      epilogue(m, n, out);
  }
}

// The matrix-vector routine with accumulators for the fewest row counts that hold M.
template <int NB, typename TB, typename LoadA, typename Epilogue>
__device__ __forceinline__ void gemv_fused(i64 col0, i64 M, i64 N, i64 K, float *smem,
                                           bool aResident, LoadA load_a, const TB *const *B,
                                           Epilogue epilogue) {
  if (M == 1)
    gemv_tile_fused<NB, 1>(col0, M, N, K, smem, aResident, load_a, B, epilogue);
  else if (M <= 4)
    gemv_tile_fused<NB, 4>(col0, M, N, K, smem, aResident, load_a, B, epilogue);
  else
    gemv_tile_fused<NB, kGemvMaxRows>(col0, M, N, K, smem, aResident, load_a, B, epilogue);
}

// C[m, n] = sum_k A[m * sam + k * sak] * B[k * sbk + n * sbn] for the block's tile
// (blockIdx.y: rows, blockIdx.x: columns); the strides carry the transposes.
template <typename TA, typename TB, typename TC>
__device__ __forceinline__ void gemm_tile_64x64(const TA *__restrict__ A, const TB *__restrict__ B,
                                                TC *__restrict__ C, i64 M, i64 N, i64 K, i64 sam,
                                                i64 sak, i64 sbk, i64 sbn) {
  __shared__ float smem[gemm_smem_floats(1)];
  gemm_tile_fused<1>(
      (i64)blockIdx.y * kGemmBM, (i64)blockIdx.x * kGemmBN, M, N, K, smem,
      [&](i64 m, i64 k) { return to_float(A[m * sam + k * sak]); },
      [&](int, i64 k, i64 n) { return to_float(B[k * sbk + n * sbn]); },
      [&](i64 m, i64 n, const float *acc) { C[m * N + n] = from_float<TC>(acc[0]); });
}

} // namespace chitu
