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
#include "mma.cuh"
#include "tiling.cuh"

namespace chitu {

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
// element per block and few barriers interrupt the stream of weights. MaxRows (1, 4 or
// kGemvMaxRows, picked at run time from M) sizes the accumulators. The lanes' partial sums are
// combined by a butterfly and lane 0 hands the column's NB accumulators to `epilogue(m, n, acc)`,
// for each row m.
constexpr int kGemvLoadsInFlight = 8; // 16-byte weight loads per lane, over the NB products

// smem[m * stride + kk] = load_a(m, k0 + kk) for m < M, kk < kc, by the whole block, stored
// as S (float, or the 16-bit type of the tensor-core routine); each thread evaluates
// kStageBatch elements before storing any, so their loads overlap.
constexpr int kStageBatch = 16;
// With `swizzle` (the 1-byte weight routine, kc and stride multiples of 64), element kk of a
// row lands at kk with its 4-float piece index (bits 2-3) XORed with bits 5-6: a lane reads
// 16 consecutive values of A as 4 float4 pieces, and lanes 64 bytes apart would otherwise
// meet the same banks 4 ways (measured: short-scoreboard stalls of 4.4 per issue on the 8B
// int8 gate/up); swizzled, the 8 lanes of a phase hit 8 distinct 4-bank groups.
__device__ __forceinline__ int swizzle16(int kk) { return kk ^ (((kk >> 5) & 3) << 2); }
// The int4 routine's lanes read 32 consecutive values (8 pieces, 128 bytes apart): the piece
// index (bits 2-4) is XORed with bits 5-7, so the 8 lanes of a phase meet 8 distinct groups.
__device__ __forceinline__ int swizzle32(int kk) { return kk ^ (((kk >> 5) & 7) << 2); }
// Where element kk of a staged row lies: swizzle 0 (none), 16 or 32 (values a lane reads).
__device__ __forceinline__ int swizzled(int kk, int swizzle) {
  return swizzle == 16 ? swizzle16(kk) : swizzle == 32 ? swizzle32(kk) : kk;
}

template <typename S, typename LoadA>
__device__ __forceinline__ void stage_rows(i64 M, int kc, int stride, i64 k0, S *smem,
                                           LoadA load_a, int swizzle = 0) {
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
          smem[m * stride + swizzled(kk, swizzle)] = from_float<S>(v[u]);
      }
    }
}

// ---- 2 to 16 rows of 16-bit operands: tensor cores ---------------------------------------
//
// With more than one row the CUDA-core routine above is bound by shared-memory reads of A
// (each weight meets every row; measured 8B batch 4: 15.4 ms/step on it, 6.4 ms at batch 8
// here). When A and B are both bf16 (or both f16; or B int8, see below) and K % 8 == 0, mma.sync
// m16n8k16 (sm_80+) computes 16 rows x the block's 8 columns instead, accumulating in f32.
// A is used as 16-bit values (exact: they are values of a 16-bit tensor): staged once per
// block when 16 rows of K fit in shared memory (the caller sizes it so for K up to ~3000),
// else read through load_a by the warp that needs them (staging them in rounds per 8-column
// block costs barriers and shared-memory traffic for the same loads). Warps take 32-wide
// slices of K in turn; in a slice, lane (g, t) loads the 8 consecutive weights k = 8t..8t+7 of
// column g with one 16-byte load, and the fragments pair A's and B's k indices by the same
// permutation (the sum does not see it), so no shuffles are needed. The 8 warps' 16 x 8
// partial tiles are summed in shared memory. Rows of A are kept apart by a stride = 32 mod 64
// elements, so the 16-byte fragment loads of neighbouring rows fall in different banks.

// Whether the tensor-core routine takes a product of M rows (mmaOk: A's type is B's 16-bit type;
// TW the weights' storage type). int4 weights take one row there too: converted two at a time
// in A's 16-bit type, they cost about 2 instructions a weight where the CUDA-core routine's
// f32 conversion cost 6.6 (ncu, 8B gate/up: 1.41 TB/s), and the tensor cores have the time.
template <typename TB, typename TW = TB>
__device__ __forceinline__ bool gemv_uses_mma(i64 M, i64 K, bool mmaOk) {
#if __CUDA_ARCH__ >= 800
  return mmaOk && sizeof(TB) == 2 && M > (is_int4<TW>::value ? 0 : 1) && M <= kMmaRows &&
         K % 8 == 0;
#else
  return false;
#endif
}

// Whether the block stages all of A in shared memory (smemFloats floats) before its
// `columnBlocks` column blocks (of `blocks` blocks' share). The tensor-core routine stages A
// only when it fits and each block has at least two column blocks to amortise it over:
// with one, staging 16 rows of K costs as many loads as reading them straight through
// load_a, plus barriers that stall the weight stream.
template <typename TB, typename TW = TB>
__device__ __forceinline__ bool gemv_a_resident(i64 M, i64 K, bool mmaOk, int smemFloats,
                                                i64 columnBlocks, i64 blocks) {
  if (gemv_uses_mma<TB, TW>(M, K, mmaOk))
    return M * mma_row_stride(K) * (i64)sizeof(TB) <= (i64)smemFloats * 4 &&
           columnBlocks >= 2 * blocks;
  return M * K <= kGemvSmemFloats;
}

// How the CUDA-core routine reads A swizzled (stage_rows; 0: not): 1-byte weights with
// K % 64 == 0 by swizzle16, int4 weights with K % 256 == 0 by swizzle32.
template <typename TW> __device__ __forceinline__ int gemv_swizzles_a(i64 K) {
  if constexpr (is_int4<TW>::value)
    return K % 256 == 0 ? 32 : 0;
  return sizeof(TW) == 1 && K % 64 == 0 ? 16 : 0;
}

// Stages all of A for the routine that takes the product (when gemv_a_resident); TB is A's
// type on tensor cores, TW the weights' storage type.
template <typename TB, typename TW = TB, typename LoadA>
__device__ __forceinline__ void gemv_stage_a(i64 M, i64 K, bool mmaOk, float *smem, LoadA load_a) {
  if constexpr (sizeof(TB) == 2) {
    if (gemv_uses_mma<TB, TW>(M, K, mmaOk)) {
      stage_rows(M, (int)K, mma_row_stride(K), 0, reinterpret_cast<TB *>(smem), load_a);
      return;
    }
  }
  stage_rows(M, (int)K, (int)K, 0, smem, load_a, gemv_swizzles_a<TW>(K));
}

// 8 16-bit values as one 16-byte fragment, h[0] in the lowest bits.
__device__ __forceinline__ uint4 pack8(const unsigned short (&h)[8]) {
  return make_uint4(h[0] | (unsigned)h[1] << 16, h[2] | (unsigned)h[3] << 16,
                    h[4] | (unsigned)h[5] << 16, h[6] | (unsigned)h[7] << 16);
}

// load_a(m, k .. k + 7) as 8 packed 16-bit values, one 16-byte fragment (k + 8 <= K: the
// tensor-core routines take K % 8 == 0 only).
template <typename TB, typename LoadA>
__device__ __forceinline__ uint4 load_a_packed(LoadA &load_a, i64 m, i64 k) {
  unsigned short h[8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
    h[i] = from_float<TB>(load_a(m, k + i)).bits;
  return pack8(h);
}

// A's rows where the tensor-core routines (decode and tiles) may read them 8 at a time instead
// of element by element through load_a (the code generator fills it when the prologue
// allows): x is A itself, [M, K] row-major, or (gamma set) the input of an rms-norm prologue
// whose rows' scales are scale[m - scale_row0] (the rows of the block's tile); A is then
// round(round(x * scale) * gamma[k]) in TB, as the prologue computes it element by element.
template <typename TB> struct ARows {
  const TB *x = nullptr;
  const TB *gamma = nullptr;
  const float *scale = nullptr;
  i64 scale_row0 = 0;
};

template <typename T> struct is_bf16 {
  static constexpr bool value = false;
};
template <> struct is_bf16<bf16> {
  static constexpr bool value = true;
};

// 8 values of A's row m from k (k % 8 == 0) read through `rows` (rows.x set).
template <typename TB>
__device__ __forceinline__ uint4 a_rows_fragment(const ARows<TB> &rows, i64 m, i64 K, i64 k) {
  if (!rows.gamma)
    return *reinterpret_cast<const uint4 *>(rows.x + m * K + k);
  const float s = rows.scale[m - rows.scale_row0];
#if __CUDA_ARCH__ >= 800
  if constexpr (is_bf16<TB>::value) {
    // Two values per instruction: round(x * s) by cvt.rn.bf16x2, then round(t * gamma) by
    // fma.rn.bf16x2 with a -0 addend, which equals rounding the f32 product (exact for two
    // bf16 values, short of f32 underflow) as the element-by-element prologue does.
    const uint4 xv = *reinterpret_cast<const uint4 *>(rows.x + m * K + k);
    const uint4 gv = *reinterpret_cast<const uint4 *>(rows.gamma + k);
    const unsigned xw[4] = {xv.x, xv.y, xv.z, xv.w}, gw[4] = {gv.x, gv.y, gv.z, gv.w};
    unsigned r[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float lo = __uint_as_float(xw[i] << 16) * s;
      const float hi = __uint_as_float(xw[i] & 0xffff0000u) * s;
      unsigned t;
      asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(t) : "f"(hi), "f"(lo));
      asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r[i]) : "r"(t), "r"(gw[i]), "r"(0x80008000u));
    }
    return make_uint4(r[0], r[1], r[2], r[3]);
  }
#endif
  float x[8], g[8];
  load_floats<8>(rows.x + m * K + k, x);
  load_floats<8>(rows.gamma + k, g);
  unsigned short h[8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
    h[i] = from_float<TB>(to_float(from_float<TB>(x[i] * s)) * g[i]).bits;
  return pack8(h);
}

// 1-byte weights (TB = signed char: int8, or fp8e4m3; TA A's 16-bit type, which holds every
// value of both exactly): a lane loads its 8 weights as 8 bytes,
// converts them exactly to TA where they are used, and product j's column n is scaled by
// S[j][n] once summed.
template <int Bytes> struct raw_words { // a lane's 8 weights as loaded
  using type = uint4;
};
template <> struct raw_words<1> {
  using type = uint2;
};

template <typename TA>
__device__ __forceinline__ unsigned exact_pair_to_packed(float lo, float hi) {
  unsigned r;
  if constexpr (is_bf16<TA>::value)
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  else
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

// int4 weights (TB = int4x2): S[j] are product j's group scales [N, K >> shift], zeros[j] its
// zero points of the same shape (null: 8).
struct Int4Groups {
  const float *const *zeros;
  int shift; // log2 of the group size (5, 6 or 7)
};

// Nibbles 0 and 4 of `bits` (int4, unsigned) as a pair of TA: (128 + u) from the mantissa
// of `magic`, plus `base` (-(128 + zero), a pair), times `scale` (a pair): fma.rn twice, the
// first exact for integer zero points, the second rounding once.
template <typename TA>
__device__ __forceinline__ unsigned int4_pair_to_packed(unsigned bits, unsigned magic,
                                                        unsigned base, unsigned scale) {
  const unsigned biased = (bits & 0x000F000Fu) | magic; // LOP3
  const unsigned one = is_bf16<TA>::value ? 0x3F803F80u : 0x3C003C00u;
  const unsigned negZero = 0x80008000u;
  unsigned d, r;
  if constexpr (is_bf16<TA>::value) {
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(biased), "r"(one), "r"(base));
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(d), "r"(scale), "r"(negZero));
  } else {
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(biased), "r"(one), "r"(base));
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(d), "r"(scale), "r"(negZero));
  }
  return r;
}

template <int NB, int CB, typename TA, typename TB, typename LoadA, typename Epilogue>
__device__ __forceinline__ void gemv_tile_mma(i64 col0, i64 M, i64 N, i64 K, float *smem,
                                              bool aResident, LoadA load_a, ARows<TA> rows,
                                              const TB *const *B, const float *const *S,
                                              Epilogue epilogue, Int4Groups q = {}) {
#if __CUDA_ARCH__ >= 800
  static_assert(kGemvCols == 8, "one n8 tile per column block; one warp per 32-wide slice of K");
  static_assert(sizeof(TA) == 2 && (sizeof(TB) == 2 || sizeof(TB) == 1), "16-bit A, B or int8");
  constexpr int kWarps = 8;
  // int8 weights are 8-byte loads: twice as many keep the same bytes in flight.
  constexpr int kLoads = kGemvLoadsInFlight;
  constexpr int U = kLoads / (NB * CB) > 0 ? kLoads / (NB * CB) : 1;
  using Raw = typename raw_words<sizeof(TB)>::type;
  __shared__ float partial[NB][kWarps][kMmaRows * kGemvCols];
  TA *as = reinterpret_cast<TA *>(smem);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int stride = mma_row_stride(K);
  // 8 values of row `row` of A from kk: from shared memory when A is resident, else straight
  // from memory (16-byte loads through `rows` where the prologue allows, else element by
  // element through load_a; no rounds of staging and barriers: each element is loaded once per
  // block and iteration either way, and the loads overlap the weight stream).
  auto a_fragment = [&](int row, int kk) -> uint4 {
    if (row >= M || kk >= K)
      return make_uint4(0, 0, 0, 0);
    if (aResident)
      return *reinterpret_cast<const uint4 *>(as + row * stride + kk);
    if (rows.x)
      return a_rows_fragment(rows, row, K, kk);
    return load_a_packed<TA>(load_a, row, kk);
  };
  float acc[CB][NB][4];
#pragma unroll
  for (int c = 0; c < CB; ++c)
#pragma unroll
    for (int j = 0; j < NB; ++j)
      acc[c][j][0] = acc[c][j][1] = acc[c][j][2] = acc[c][j][3] = 0.0f;
  if constexpr (is_int4<TB>::value) {
    // int4: lane (g, t) loads the 32 weights k = 32t..32t+31 of a 128-wide slice of column g
    // (one 16-byte load, one group: groups are 32..128 wide and aligned). Each 32-bit word
    // (8 weights) becomes 4 pairs of A's 16-bit type with one LOP3 each: nibbles j and j + 4
    // into the mantissas of 128.0 (bf16 0x4300; f16: 1024.0, 0x6400) are 128 + u exactly;
    // minus 128 + zero (exact for integer zero points), times the scale (rounded once: the
    // scale in A's type). The pairs hold elements (j, j + 4), so A's fragments are paired the
    // same way by byte permutes (a_pairs). (K % 32 == 0: a lane's 32 values are all in or out.)
    constexpr bool kBf16 = is_bf16<TA>::value;
    constexpr unsigned kMagic = kBf16 ? 0x43004300u : 0x64006400u;
    constexpr float kBase = kBf16 ? 128.0f : 1024.0f;
    const i64 groups = K >> q.shift;
    for (int s0 = warp * 128; s0 < K; s0 += kWarps * 128) {
      const int kk = s0 + 32 * t;
      uint4 raw[CB][NB];
      unsigned scale[CB][NB], base[CB][NB]; // packed pairs of A's type
#pragma unroll
      for (int c = 0; c < CB; ++c) {
        const i64 n = col0 + c * kGemvCols + g;
#pragma unroll
        for (int j = 0; j < NB; ++j) {
          const bool in = n < N && kk < K;
          raw[c][j] = in ? *reinterpret_cast<const uint4 *>(B[j] + n * (K / 2) + kk / 2)
                         : make_uint4(0, 0, 0, 0);
          const i64 at = n * groups + (kk >> q.shift);
          const float sc = in ? S[j][at] : 0.0f;
          const float zero = in && q.zeros && q.zeros[j] ? q.zeros[j][at] : 8.0f;
          scale[c][j] = exact_pair_to_packed<TA>(sc, sc);
          base[c][j] = exact_pair_to_packed<TA>(-(kBase + zero), -(kBase + zero));
        }
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        // A's 8 values h0..h7 as the pairs (h0, h4), (h1, h5), (h2, h6), (h3, h7) (loaded
        // here, not ahead: registers; A is resident in shared memory whenever it fits).
        const uint4 p = a_fragment(g, kk + 8 * i), r = a_fragment(g + 8, kk + 8 * i);
        const unsigned a0[4] = {__byte_perm(p.x, p.z, 0x5410), __byte_perm(r.x, r.z, 0x5410),
                                __byte_perm(p.x, p.z, 0x7632), __byte_perm(r.x, r.z, 0x7632)};
        const unsigned a1[4] = {__byte_perm(p.y, p.w, 0x5410), __byte_perm(r.y, r.w, 0x5410),
                                __byte_perm(p.y, p.w, 0x7632), __byte_perm(r.y, r.w, 0x7632)};
#pragma unroll
        for (int c = 0; c < CB; ++c)
#pragma unroll
          for (int j = 0; j < NB; ++j) {
            const uint4 v = raw[c][j];
            const unsigned word = i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
            unsigned w[4];
#pragma unroll
            for (int e = 0; e < 4; ++e)
              w[e] = int4_pair_to_packed<TA>(word >> (4 * e), kMagic, base[c][j], scale[c][j]);
            mma_16816(acc[c][j], a0, w[0], w[1], static_cast<const TA *>(nullptr));
            mma_16816(acc[c][j], a1, w[2], w[3], static_cast<const TA *>(nullptr));
          }
      }
    }
  } else {
    // K % 8 == 0, so a lane's 8 values of K are all in or all out.
    for (int s0 = warp * 32; s0 < K; s0 += kWarps * 32 * U) {
      // The slices' weights and A fragments are all requested before any is used: A from L2
      // (not resident) costs a load latency per slice when it is fetched where it is consumed.
      Raw raw[U][CB][NB];
      uint4 ap[U], aq[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int kk = s0 + u * kWarps * 32 + 8 * t;
#pragma unroll
        for (int c = 0; c < CB; ++c) {
          const i64 n = col0 + c * kGemvCols + g;
#pragma unroll
          for (int j = 0; j < NB; ++j)
            raw[u][c][j] = (n < N && kk < K) ? *reinterpret_cast<const Raw *>(B[j] + n * K + kk)
                                             : Raw{};
        }
        ap[u] = a_fragment(g, kk);
        aq[u] = a_fragment(g + 8, kk);
      }
      // B fragments: int8 weights converted (exactly) to A's type, all before the products.
      uint4 w[U][CB][NB];
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int c = 0; c < CB; ++c)
#pragma unroll
          for (int j = 0; j < NB; ++j) {
            if constexpr (sizeof(TB) == 1) {
              float f[8];
              bytes4_to_floats<TB>(raw[u][c][j].x, f);
              bytes4_to_floats<TB>(raw[u][c][j].y, f + 4);
              w[u][c][j] =
                  make_uint4(exact_pair_to_packed<TA>(f[0], f[1]), exact_pair_to_packed<TA>(f[2], f[3]),
                             exact_pair_to_packed<TA>(f[4], f[5]), exact_pair_to_packed<TA>(f[6], f[7]));
            } else {
              w[u][c][j] = raw[u][c][j];
            }
          }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (s0 + u * kWarps * 32 >= K)
          break;
        // One A fragment pair serves the CB column blocks.
        const uint4 p = ap[u], q = aq[u];
        const unsigned a0[4] = {p.x, q.x, p.y, q.y}, a1[4] = {p.z, q.z, p.w, q.w};
#pragma unroll
        for (int c = 0; c < CB; ++c)
#pragma unroll
          for (int j = 0; j < NB; ++j) {
            mma_16816(acc[c][j], a0, w[u][c][j].x, w[u][c][j].y, static_cast<const TA *>(nullptr));
            mma_16816(acc[c][j], a1, w[u][c][j].z, w[u][c][j].w, static_cast<const TA *>(nullptr));
          }
      }
    }
  }
  // C fragment: (row g, columns 2t, 2t+1) and (row g + 8, the same columns); the 8 warps'
  // tiles of each column block are summed in shared memory, one column block at a time.
#pragma unroll
  for (int c = 0; c < CB; ++c) {
    if (col0 + c * kGemvCols >= N)
      break;
#pragma unroll
    for (int j = 0; j < NB; ++j) {
      partial[j][warp][g * 8 + 2 * t] = acc[c][j][0];
      partial[j][warp][g * 8 + 2 * t + 1] = acc[c][j][1];
      partial[j][warp][(g + 8) * 8 + 2 * t] = acc[c][j][2];
      partial[j][warp][(g + 8) * 8 + 2 * t + 1] = acc[c][j][3];
    }
    __syncthreads();
    if (threadIdx.x < kMmaRows * kGemvCols) {
      const int e = threadIdx.x;
      const i64 m = e / kGemvCols, nn = col0 + c * kGemvCols + e % kGemvCols;
      if (m < M && nn < N) {
        float out[NB];
#pragma unroll
        for (int j = 0; j < NB; ++j) {
          float s = 0.0f;
#pragma unroll
          for (int w = 0; w < kWarps; ++w)
            s += partial[j][w][e];
          out[j] = !is_int4<TB>::value && S && S[j] ? s * S[j][nn] : s;
        }
        epilogue(m, nn, out);
      }
    }
    __syncthreads(); // partial is reused by the next column block
  }
#endif
}

// The end of the CUDA-core matrix-vector routines: each lane's partial sums of column
// n0 + c * kGemvCols (warp-wide), product j's scaled by S[j][n] when S and S[j] are set
// (rows of int8 / fp8 weights), handed to epilogue(m, n, out) by lane 0.
template <int NB, int MaxRows, int CB, typename Epilogue>
__device__ __forceinline__ void gemv_reduce_columns(float (&acc)[CB][NB][MaxRows], i64 n0, i64 M,
                                                    i64 N, const float *const *S,
                                                    Epilogue epilogue) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int c = 0; c < CB; ++c) {
    const i64 n = n0 + c * kGemvCols;
    if (n >= N)
      break;
#pragma unroll
    for (int m = 0; m < MaxRows; ++m) {
      if (m >= M)
        break;
      float out[NB];
#pragma unroll
      for (int j = 0; j < NB; ++j) {
        float v = acc[c][j][m];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1)
          v += __shfl_xor_sync(0xffffffffu, v, off);
        out[j] = __shfl_sync(0xffffffffu, v, 0);
        if (S && S[j])
          out[j] *= S[j][n];
      }
      if (lane == 0)
        epilogue(m, n, out);
    }
  }
}

// CB columns per warp (warp w of the block's 8 takes columns col0 + c * 8 + w, c < CB).
// Quantized weights (TB = signed char): product j's column n is scaled by S[j][n] once its
// sum is complete (S null: no scales), so each weight costs a conversion and an FMA.
template <int NB, int MaxRows, int CB, typename TB, typename LoadA, typename Epilogue>
__device__ __forceinline__ void gemv_tile_fused(i64 col0, i64 M, i64 N, i64 K, float *smem,
                                                bool aResident, LoadA load_a, const TB *const *B,
                                                const float *const *S, Epilogue epilogue) {
  // Loads in flight per lane: kGemvLoadsInFlight over the products and columns, a quarter of
  // that with the 16-row accumulators (registers).
  constexpr int kLoads = MaxRows > 4 ? kGemvLoadsInFlight / 4 : kGemvLoadsInFlight;
  constexpr int V = 16 / sizeof(TB), U = kLoads / (NB * CB) > 0 ? kLoads / (NB * CB) : 1;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const i64 n0 = col0 + warp;
  const bool vec = (K % V) == 0;
  // Chunk of K staged per round: a multiple of 32 lanes * V, rows kept apart by `chunk`; all
  // of K when the caller staged A already (aResident: M * K <= kGemvSmemFloats).
  const int chunk = aResident ? (int)K : (int)(kGemvSmemFloats / M) / (32 * V) * (32 * V);
  float acc[CB][NB][MaxRows];
#pragma unroll
  for (int c = 0; c < CB; ++c)
#pragma unroll
    for (int j = 0; j < NB; ++j)
#pragma unroll
      for (int m = 0; m < MaxRows; ++m)
        acc[c][j][m] = 0.0f;
  for (i64 k0 = 0; k0 < K; k0 += chunk) {
    const int kc = (int)(K - k0 < chunk ? K - k0 : chunk);
    if (!aResident) {
      __syncthreads(); // the previous chunk is consumed
      stage_rows(M, kc, chunk, k0, smem, load_a, gemv_swizzles_a<TB>(K));
      __syncthreads();
    }
    if (n0 >= N)
      continue;
    if constexpr (sizeof(TB) == 1) {
      if (vec) {
        // 1-byte weights (int8, fp8): the 16-byte words are held as loaded (4 registers for 16
        // weights, where floats would take 16) and converted where they are summed. With one
        // row the next round's words are requested before this round's are converted, so a
        // warp's loads overlap its conversions (8B gate/up at batch 1: 1.68 -> 1.60 ms). With
        // 16 rows' accumulators, one load per product and column at a time (registers).
        constexpr bool kPrefetch = MaxRows == 1;
        constexpr int UQ = MaxRows > 4 ? 1 : U, kStep = 32 * V * UQ;
        const bool swizzled = gemv_swizzles_a<TB>(K);
        uint4 raw[UQ][CB][NB], next[UQ][CB][NB];
        auto fetch = [&](uint4(&r)[UQ][CB][NB], int kk0) {
#pragma unroll
          for (int u = 0; u < UQ; ++u) {
            const int kk = kk0 + u * 32 * V;
#pragma unroll
            for (int c = 0; c < CB; ++c) {
              const i64 n = n0 + c * kGemvCols;
#pragma unroll
              for (int j = 0; j < NB; ++j)
                r[u][c][j] = kk < kc && n < N
                                 ? *reinterpret_cast<const uint4 *>(B[j] + n * K + k0 + kk)
                                 : make_uint4(0, 0, 0, 0);
            }
          }
        };
        if (kPrefetch)
          fetch(raw, lane * V);
        for (int kk0 = lane * V; kk0 < kc; kk0 += kStep) {
          if (!kPrefetch)
            fetch(raw, kk0);
          else if (kk0 + kStep < kc)
            fetch(next, kk0 + kStep);
#pragma unroll
          for (int u = 0; u < UQ; ++u) {
            const int kk = kk0 + u * 32 * V;
            if (kk >= kc)
              break;
            // All columns' and products' weights of this slice, then one read of A's values
            // per row serves them.
            float w[CB * NB][16];
#pragma unroll
            for (int c = 0; c < CB; ++c)
#pragma unroll
              for (int j = 0; j < NB; ++j) {
                const uint4 r = raw[u][c][j];
                bytes4_to_floats<TB>(r.x, w[c * NB + j]);
                bytes4_to_floats<TB>(r.y, w[c * NB + j] + 4);
                bytes4_to_floats<TB>(r.z, w[c * NB + j] + 8);
                bytes4_to_floats<TB>(r.w, w[c * NB + j] + 12);
              }
#pragma unroll
            for (int m = 0; m < MaxRows; ++m) {
              if (m >= M)
                break;
#pragma unroll
              for (int i = 0; i < 16; i += 4) {
                // Piece i / 4 of the lane's 16 values, where stage_rows put it.
                const int at = swizzled ? swizzle16(kk + i) : kk + i;
                const float4 a4 = *reinterpret_cast<const float4 *>(smem + m * chunk + at);
#pragma unroll
                for (int c = 0; c < CB; ++c)
#pragma unroll
                  for (int j = 0; j < NB; ++j) {
                    float &sum = acc[c][j][m];
                    sum += a4.x * w[c * NB + j][i];
                    sum += a4.y * w[c * NB + j][i + 1];
                    sum += a4.z * w[c * NB + j][i + 2];
                    sum += a4.w * w[c * NB + j][i + 3];
                  }
              }
            }
          }
          if (kPrefetch)
#pragma unroll
            for (int u = 0; u < UQ; ++u)
#pragma unroll
              for (int c = 0; c < CB; ++c)
#pragma unroll
                for (int j = 0; j < NB; ++j)
                  raw[u][c][j] = next[u][c][j];
        }
        continue;
      }
    }
    if (vec) {
      for (int kk0 = lane * V; kk0 < kc; kk0 += 32 * V * U) {
        // Converted as loaded: holding raw 16-byte words instead made ptxas spill.
        float w[U][CB][NB][V];
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int kk = kk0 + u * 32 * V;
#pragma unroll
          for (int c = 0; c < CB; ++c) {
            const i64 n = n0 + c * kGemvCols;
#pragma unroll
            for (int j = 0; j < NB; ++j) {
              if (kk < kc && n < N)
                load_floats<V>(B[j] + n * K + k0 + kk, w[u][c][j]);
              else
#pragma unroll
                for (int i = 0; i < V; ++i)
                  w[u][c][j][i] = 0.0f;
            }
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
            // One read of A's values serves the CB columns and NB products.
            float a[V];
#pragma unroll
            for (int i = 0; i < V; i += 4) {
              const float4 a4 = *reinterpret_cast<const float4 *>(smem + m * chunk + kk + i);
              a[i] = a4.x, a[i + 1] = a4.y, a[i + 2] = a4.z, a[i + 3] = a4.w;
            }
#pragma unroll
            for (int c = 0; c < CB; ++c)
#pragma unroll
              for (int j = 0; j < NB; ++j)
#pragma unroll
                for (int i = 0; i < V; ++i)
                  acc[c][j][m] += a[i] * w[u][c][j][i];
          }
        }
      }
    } else {
      for (int kk = lane; kk < kc; kk += 32) {
#pragma unroll
        for (int c = 0; c < CB; ++c) {
          const i64 n = n0 + c * kGemvCols;
          if (n >= N)
            break;
#pragma unroll
          for (int j = 0; j < NB; ++j) {
            const float w = to_float(B[j][n * K + k0 + kk]);
#pragma unroll
            for (int m = 0; m < MaxRows; ++m)
              if (m < M)
                acc[c][j][m] += smem[m * chunk + kk] * w;
          }
        }
      }
    }
  }
  gemv_reduce_columns<NB, MaxRows, CB>(acc, n0, M, N, S, epilogue);
}

// int4 weights on CUDA cores (every row count without tensor cores; 1 row with them): CB
// columns per warp as in gemv_tile_fused. A lane takes 32 consecutive weights of a column
// at a time (one 16-byte load, one group), sums a[k] * (128 + nibble) over them (int4_biased:
// two integer operations a weight, no conversion) and adds the group's scale times (that
// sum - (128 + zero) * the sum of the 32 a[k]); the a[k] sum serves every column and product.
// With one row the next round's words (and scales) are requested before this round's are used.
template <int NB, int MaxRows, int CB, typename LoadA, typename Epilogue>
__device__ __forceinline__ void gemv_tile_int4(i64 col0, i64 M, i64 N, i64 K, float *smem,
                                               bool aResident, LoadA load_a,
                                               const int4x2 *const *B, const float *const *S,
                                               Int4Groups q, Epilogue epilogue) {
  constexpr int kLoads = MaxRows > 4 ? kGemvLoadsInFlight / 4 : kGemvLoadsInFlight / 2;
  constexpr int U = kLoads / (NB * CB) > 0 ? kLoads / (NB * CB) : 1, kStep = 32 * 32 * U;
  constexpr bool kPrefetch = MaxRows == 1;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const i64 n0 = col0 + warp, groups = K >> q.shift;
  // Chunk of K staged per round: a multiple of 256 (whole swizzled blocks; lanes take 32
  // values, K % 32 == 0).
  const int chunk = aResident ? (int)K : (int)(kGemvSmemFloats / M) / 256 * 256;
  const int swizzle = gemv_swizzles_a<int4x2>(K);
  float acc[CB][NB][MaxRows];
#pragma unroll
  for (int c = 0; c < CB; ++c)
#pragma unroll
    for (int j = 0; j < NB; ++j)
#pragma unroll
      for (int m = 0; m < MaxRows; ++m)
        acc[c][j][m] = 0.0f;
  struct Round { // a round's words, scales and (128 + zero) * scale per column and product
    uint4 raw[U][CB][NB];
    float scale[U][CB][NB], bias[U][CB][NB];
  };
  auto fetch = [&](Round &r, i64 k0, int kc, int kk0) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int kk = kk0 + u * 1024;
#pragma unroll
      for (int c = 0; c < CB; ++c) {
        const i64 n = n0 + c * kGemvCols;
#pragma unroll
        for (int j = 0; j < NB; ++j) {
          const bool in = kk < kc && n < N;
          const i64 k = k0 + kk, at = n * groups + (k >> q.shift);
          r.raw[u][c][j] = in ? *reinterpret_cast<const uint4 *>(B[j] + n * (K / 2) + k / 2)
                              : make_uint4(0, 0, 0, 0);
          const float sc = in ? S[j][at] : 0.0f;
          r.scale[u][c][j] = sc;
          r.bias[u][c][j] = (128.0f + (in && q.zeros && q.zeros[j] ? q.zeros[j][at] : 8.0f)) * sc;
        }
      }
    }
  };
  for (i64 k0 = 0; k0 < K; k0 += chunk) {
    const int kc = (int)(K - k0 < chunk ? K - k0 : chunk);
    if (!aResident) {
      __syncthreads(); // the previous chunk is consumed
      stage_rows(M, kc, chunk, k0, smem, load_a, swizzle);
      __syncthreads();
    }
    if (n0 >= N)
      continue;
    Round cur, next;
    if (kPrefetch)
      fetch(cur, k0, kc, lane * 32);
    for (int kk0 = lane * 32; kk0 < kc; kk0 += kStep) {
      if (!kPrefetch)
        fetch(cur, k0, kc, kk0);
      else if (kk0 + kStep < kc)
        fetch(next, k0, kc, kk0 + kStep);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int kk = kk0 + u * 1024;
        if (kk >= kc)
          break;
#pragma unroll
        for (int m = 0; m < MaxRows; ++m) {
          if (m >= M)
            break;
          float a[32], asum = 0.0f;
#pragma unroll
          for (int i = 0; i < 32; i += 4) {
            const float4 a4 =
                *reinterpret_cast<const float4 *>(smem + m * chunk + swizzled(kk + i, swizzle));
            a[i] = a4.x, a[i + 1] = a4.y, a[i + 2] = a4.z, a[i + 3] = a4.w;
            asum += (a4.x + a4.y) + (a4.z + a4.w);
          }
#pragma unroll
          for (int c = 0; c < CB; ++c)
#pragma unroll
            for (int j = 0; j < NB; ++j) {
              const uint4 v = cur.raw[u][c][j];
              const unsigned words[4] = {v.x, v.y, v.z, v.w};
              float sum = 0.0f;
#pragma unroll
              for (int x = 0; x < 4; ++x) {
                const unsigned w = words[x];
                const float *ax = a + 8 * x;
                sum += ax[0] * int4_biased<0>(w);
                sum += ax[1] * int4_biased<1>(w);
                sum += ax[2] * int4_biased<2>(w);
                sum += ax[3] * int4_biased<3>(w);
                sum += ax[4] * int4_biased<4>(w);
                sum += ax[5] * int4_biased<5>(w);
                sum += ax[6] * int4_biased<6>(w);
                sum += ax[7] * int4_biased<7>(w);
              }
              acc[c][j][m] += cur.scale[u][c][j] * sum - cur.bias[u][c][j] * asum;
            }
        }
      }
      if (kPrefetch)
        cur = next;
    }
  }
  gemv_reduce_columns<NB, MaxRows, CB>(acc, n0, M, N, nullptr, epilogue); // (groups scaled)
}

// ---- many rows of 16-bit operands: tensor cores ---------------------------------------
//
// gemm_tile_mma computes a kMmaBM x kMmaBN tile of C (all NB products together: each product
// takes kMmaBN / NB columns) with mma.sync m16n8k16 (sm_80+) when A and B are both bf16 (or
// both f16), B is [N, K] (transpose_rhs, one pointer per product) and K % 8 == 0. The tile is
// large because operands come from L2: a 64 x 64 tile reads 8 bytes per 64 MACs and measured
// 37-71 TFLOP/s (L2-bound), 128 x 128 halves the traffic per product. 8 warps as 2 x 4, each
// 64 rows x (kMmaBN / NB / 4) columns of every product; f32 accumulators. K advances kMmaBK at
// a time through kMmaStages shared-memory stages with one barrier per step:
//   - B rows are copied by cp.async (no registers) a step ahead;
//   - A goes through `load_a` (the prologue: a norm, an activation, ...) into registers one
//     step ahead and is stored as 16-bit values (exact: they are values of a 16-bit tensor)
//     after the current step's products;
//   - fragments come from shared memory by ldmatrix (rows padded by 16 bytes: the 8 rows of
//     each 8 x 8 matrix hit different banks).
// Two stages (40 KiB) let two blocks share an SM; deeper pipelines are for a wgmma version.
// (Tile sizes and gemm_mma_smem_floats: tiling.cuh.)

template <typename TB> __device__ __forceinline__ bool gemm_uses_mma(i64 K, bool mmaOk) {
#if __CUDA_ARCH__ >= 800
  return mmaOk && sizeof(TB) == 2 && K % 8 == 0;
#else
  return false;
#endif
}

template <int NB, typename TB, typename LoadA, typename Epilogue>
__device__ __forceinline__ void gemm_tile_mma(i64 row0, i64 col0, i64 M, i64 N, i64 K, float *smem,
                                              LoadA load_a, ARows<TB> rows, const TB *const *B,
                                              Epilogue epilogue) {
#if __CUDA_ARCH__ >= 800
  constexpr int PN = kMmaBN / NB, WN = PN / 4, NT = WN / 8; // per product: tile, warp, n8 tiles
  static_assert(NB >= 1 && NB <= 2 && kMmaBM == 128 && kMmaBN == 128, "8 warps of 64 x WN");
  constexpr int kStage = (kMmaBM + kMmaBN) * kMmaBKPad;
  TB *ring = reinterpret_cast<TB *>(smem); // stages of {A [128][pad], B [NB][PN][pad]}
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3, wm = warp >> 2, wn = warp & 3;
  // This thread's share of a step: 8 consecutive k of rows lr and lr + 64 of A and of B.
  const int lr = tid >> 2, lc = (tid & 3) * 8;
  const i64 steps = (K + kMmaBK - 1) / kMmaBK;
  auto copy_b = [&](i64 step) {
    if (step < steps) {
      const i64 k = step * kMmaBK + lc;
      TB *bs = ring + (int)(step % kMmaStages) * kStage + kMmaBM * kMmaBKPad;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = lr + 64 * h, j = r / PN;
        const i64 n = col0 + r % PN;
        const bool ok = n < N && k < K;
        cp_async_16(bs + r * kMmaBKPad + lc, ok ? B[j] + n * K + k : B[j], ok);
      }
    }
    cp_async_commit(); // possibly empty: every step commits one group
  };
  uint4 ra[2];
  auto load_a_step = [&](i64 step) {
    const i64 k = step * kMmaBK + lc;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const i64 m = row0 + lr + 64 * h;
      ra[h] = !(m < M && k < K) ? make_uint4(0, 0, 0, 0)
              : rows.x            ? a_rows_fragment(rows, m, K, k)
                                  : load_a_packed<TB>(load_a, m, k);
    }
  };
  auto store_a = [&](i64 step) {
    TB *as = ring + (int)(step % kMmaStages) * kStage;
#pragma unroll
    for (int h = 0; h < 2; ++h)
      *reinterpret_cast<uint4 *>(as + (lr + 64 * h) * kMmaBKPad + lc) = ra[h];
  };
  float acc[NB][4][NT][4];
#pragma unroll
  for (int j = 0; j < NB; ++j)
#pragma unroll
    for (int mt = 0; mt < 4; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c)
          acc[j][mt][nt][c] = 0.0f;
  copy_b(0);
  load_a_step(0);
  store_a(0);
  // ldmatrix row addresses: lanes 8i..8i+7 give the rows of matrix i. A's x4 is (rows 0-7,
  // k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = a[0..3]; B's is
  // (columns 0-7, k 0-7), (0-7, k 8-15), (8-15, k 0-7), (8-15, k 8-15) = b0, b1 of 2 n8 tiles.
  const int mi = lane >> 3, r8 = lane & 7;
  const int aOffset = (wm * 64 + (mi & 1) * 8 + r8) * kMmaBKPad + (mi >> 1) * 8;
  const int bOffset = (wn * WN + (mi >> 1) * 8 + r8) * kMmaBKPad + (mi & 1) * 8;
  for (i64 step = 0; step < steps; ++step) {
    cp_async_wait<0>(); // this step's B has landed
    __syncthreads();    // ... for every thread, with A stored; step - 1's stage is free
    copy_b(step + 1);
    if (step + 1 < steps)
      load_a_step(step + 1);
    const TB *as = ring + (int)(step % kMmaStages) * kStage, *bs = as + kMmaBM * kMmaBKPad;
#pragma unroll
    for (int kk = 0; kk < kMmaBK; kk += 16) {
      unsigned a[4][4];
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
        ldmatrix_x4(a[mt], as + aOffset + mt * 16 * kMmaBKPad + kk);
#pragma unroll
      for (int j = 0; j < NB; ++j)
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          unsigned b[4];
          ldmatrix_x4(b, bs + (j * PN + np * 16) * kMmaBKPad + bOffset + kk);
#pragma unroll
          for (int mt = 0; mt < 4; ++mt) {
            mma_16816(acc[j][mt][2 * np], a[mt], b[0], b[1], B[j]);
            mma_16816(acc[j][mt][2 * np + 1], a[mt], b[2], b[3], B[j]);
          }
        }
    }
    if (step + 1 < steps)
      store_a(step + 1);
  }
  __syncthreads(); // the stages are free for the block's next tile
  // C fragment: (row g, columns 2t, 2t+1) and (row g + 8, the same columns).
#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const i64 m = row0 + wm * 64 + mt * 16 + g + (c >= 2 ? 8 : 0);
        const i64 n = col0 + wn * WN + nt * 8 + 2 * t + (c & 1);
        if (m < M && n < N) {
          float out[NB];
#pragma unroll
          for (int j = 0; j < NB; ++j)
            out[j] = acc[j][mt][nt][c];
          epilogue(m, n, out);
        }
      }
#endif
}

// gemm_tile_fused over a rows x cols tile (multiples of 64): the CUDA-core routine where the
// tensor-core tile was planned but does not apply at run time (K % 8 != 0, an older GPU).
template <int NB, typename LoadA, typename LoadB, typename Epilogue>
__device__ __forceinline__ void gemm_tiles_fused(i64 row0, i64 col0, int rows, int cols, i64 M,
                                                 i64 N, i64 K, float *smem, LoadA load_a,
                                                 LoadB load_b, Epilogue epilogue) {
  for (int r = 0; r < rows; r += kGemmBM)
    for (int c = 0; c < cols; c += kGemmBN)
      if (row0 + r < M && col0 + c < N)
        gemm_tile_fused<NB>(row0 + r, col0 + c, M, N, K, smem, load_a, load_b, epilogue);
}

// The matrix-vector routine for M rows over the columns of one iteration at col0: tensor
// cores for 2..16 rows of 16-bit operands (see gemv_uses_mma) with CBRows column blocks (of
// kGemvCols) per iteration, else CUDA cores with accumulators for the fewest rows that hold M
// and CBVector column blocks per iteration. An iteration's columns share each load of A and
// keep more weight loads in flight, with one drain of the block's pipeline (reduction,
// epilogue) per iteration instead of per column block; the code generator picks both sizes
// (gemvColumnBlocksPerIteration) and lays out the iterations by the routine M selects.
// TA: A's type on tensor cores (B's, or A's own 16-bit type when B is int8 weights).
template <int NB, int CBRows, int CBVector, typename TA, typename TB, typename LoadA,
          typename Epilogue>
__device__ __forceinline__ void gemv_fused(i64 col0, i64 M, i64 N, i64 K, float *smem,
                                           bool aResident, bool mmaOk, LoadA load_a,
                                           ARows<TA> rows, const TB *const *B,
                                           const float *const *S, Epilogue epilogue,
                                           Int4Groups q = {}) {
  if constexpr (is_int4<TB>::value) {
    // Tensor cores take every row count when they can (a compile-time fact where mmaOk and K
    // are constants: the CUDA-core routines then drop out of the kernel).
    if constexpr (sizeof(TA) == 2) {
      if (gemv_uses_mma<TA, TB>(kMmaRows, K, mmaOk)) {
        gemv_tile_mma<NB, CBRows>(col0, M, N, K, smem, aResident, load_a, rows, B, S, epilogue,
                                  q);
        return;
      }
    }
    if (M == 1)
      gemv_tile_int4<NB, 1, CBVector>(col0, M, N, K, smem, aResident, load_a, B, S, q, epilogue);
    else {
      if (M <= 4)
        gemv_tile_int4<NB, 4, CBVector>(col0, M, N, K, smem, aResident, load_a, B, S, q,
                                        epilogue);
      else
        for (int c = 0; c < CBVector; ++c)
          gemv_tile_int4<NB, kGemvMaxRows, 1>(col0 + c * kGemvCols, M, N, K, smem, aResident,
                                              load_a, B, S, q, epilogue);
    }
  } else {
    if constexpr (sizeof(TA) == 2 && (sizeof(TB) == 2 || sizeof(TB) == 1)) {
      if (gemv_uses_mma<TA>(M, K, mmaOk)) {
        gemv_tile_mma<NB, CBRows>(col0, M, N, K, smem, aResident, load_a, rows, B, S, epilogue);
        return;
      }
    }
    if (M == 1) {
      gemv_tile_fused<NB, 1, CBVector>(col0, M, N, K, smem, aResident, load_a, B, S, epilogue);
      return;
    }
    // Tensor cores took 2..16 rows if they could: a compile-time fact where mmaOk and K are
    // constants, so the CUDA-core routines below (and their registers) drop out of the kernel.
    if ((sizeof(TB) == 2 || sizeof(TB) == 1) && gemv_uses_mma<TA>(kMmaRows, K, mmaOk))
      return;
    if (M <= 4)
      gemv_tile_fused<NB, 4, CBVector>(col0, M, N, K, smem, aResident, load_a, B, S, epilogue);
    else // 16-row accumulators: one column block at a time (registers)
      for (int c = 0; c < CBVector; ++c)
        gemv_tile_fused<NB, kGemvMaxRows, 1>(col0 + c * kGemvCols, M, N, K, smem, aResident,
                                              load_a, B, S, epilogue);
  }
}

// C[m, n] = sum_k A[m * sam + k * sak] * B[k * sbk + n * sbn] for the block's tile
// (blockIdx.y: rows, blockIdx.x: columns); the strides carry the transposes.
// Library route (kRouteLibraryA): rows [row0, row0 + rows) of A, as the kernel's prologue
// computes them (load_a), stored as A's type for the library GEMM.
template <typename T, typename LoadA>
__device__ __forceinline__ void library_store_a(i64 row0, i64 rows, i64 M, i64 K, T *__restrict__ out,
                                                LoadA load_a) {
  const i64 count = rows * K;
  for (i64 i = threadIdx.x; i < count; i += blockDim.x) {
    const i64 m = row0 + i / K, k = i % K;
    if (m >= M)
      break;
    out[m * K + k] = from_float<T>(load_a(m, k));
  }
}

// Library route (kRouteLibraryB): 1-byte weights values[N, K] times their row scales[N, 1],
// rounded to T ([N, K] into out), as chitu.dequantize computes them, 16 weights per thread
// and step: one 16-byte load, two 16-byte stores (K % 16 == 0).
template <typename T, typename TW>
__device__ __forceinline__ void library_dequantize_rows(const TW *__restrict__ values,
                                                        const float *__restrict__ scales, i64 N,
                                                        i64 K, T *__restrict__ out) {
  const i64 groups = N * K / 16, stride = (i64)gridDim.x * blockDim.x;
  for (i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const i64 n = g * 16 / K;
    const float s = scales[n];
    float w[16];
    load_floats<16>(values + g * 16, w);
    unsigned short h[16];
#pragma unroll
    for (int i = 0; i < 16; ++i)
      h[i] = from_float<T>(w[i] * s).bits;
    uint4 *dst = reinterpret_cast<uint4 *>(out + g * 16);
    dst[0] = pack8(reinterpret_cast<const unsigned short(&)[8]>(h[0]));
    dst[1] = pack8(reinterpret_cast<const unsigned short(&)[8]>(h[8]));
  }
}

// Library route (kRouteLibraryB): int4 weights (values [N, K / 2] packed, scales and zeros
// [N, K >> shift], zeros null: 8) as (nibble - zero) * scale rounded to T ([N, K] into out),
// as chitu.dequantize computes them; 32 weights per thread and step (one group): one 16-byte
// load, four 16-byte stores (K % 32 == 0).
template <typename T>
__device__ __forceinline__ void library_dequantize_int4(const int4x2 *__restrict__ values,
                                                        const float *__restrict__ scales,
                                                        const float *__restrict__ zeros, int shift,
                                                        i64 N, i64 K, T *__restrict__ out) {
  const i64 pieces = N * K / 32, stride = (i64)gridDim.x * blockDim.x;
  for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < pieces; p += stride) {
    const i64 n = p * 32 / K, k = p * 32 - n * K, at = n * (K >> shift) + (k >> shift);
    const float s = scales[at], zero = zeros ? zeros[at] : 8.0f;
    const uint4 v = *reinterpret_cast<const uint4 *>(values + p * 16);
    const unsigned words[4] = {v.x, v.y, v.z, v.w};
    uint4 *dst = reinterpret_cast<uint4 *>(out + p * 32);
#pragma unroll
    for (int x = 0; x < 4; ++x) {
      unsigned short h[8];
#pragma unroll
      for (int j = 0; j < 8; ++j)
        h[j] = from_float<T>(((float)((words[x] >> (4 * j)) & 15u) - zero) * s).bits;
      dst[x] = pack8(h);
    }
  }
}

// Library route (kRouteLibraryEpilogue): the epilogue of one rows x cols tile, from the
// NB products the library wrote ([M, N] each).
template <int NB, typename T, typename Epilogue>
__device__ __forceinline__ void library_epilogue(i64 row0, i64 col0, int rows, int cols, i64 M,
                                                 i64 N, const T *const (&products)[NB],
                                                 Epilogue epilogue) {
  for (int i = threadIdx.x; i < rows * cols; i += blockDim.x) {
    const i64 m = row0 + i / cols, n = col0 + i % cols;
    if (m >= M || n >= N)
      continue;
    float acc[NB];
#pragma unroll
    for (int j = 0; j < NB; ++j)
      acc[j] = to_float(products[j][m * N + n]);
    epilogue(m, n, acc);
  }
}

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
