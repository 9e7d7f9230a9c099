// llm.cuh: the LLM kernels that are not elementwise: paged attention, next-token
// probabilities and drawing tokens. Each mirrors its CPU reference in runtime/cpu/CpuOps.cpp.
#pragma once

#include "common.cuh"
#include "mma.cuh"
#include "reduce.cuh"
#include "tiling.cuh"

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
// `scratch` holds paged_attention_smem_floats(D, kWarps, GH) floats.
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
  static constexpr int kUnroll = 4;
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

// The keys token t attends to, lo .. last (last < lo: none, e.g. a bad sequence or position,
// which the attention routine reports).
struct KeyRange {
  i64 lo, last;
  bool valid;
};
template <typename TS, typename TP>
__device__ __forceinline__ KeyRange attention_keys(const TS *__restrict__ seqs,
                                                   const TP *__restrict__ positions, i64 t,
                                                   i64 numSeqs, i64 maxBlocks, i64 blockSize,
                                                   i64 window) {
  const i64 s = (i64)seqs[t], p = (i64)positions[t];
  const bool valid = s >= 0 && s < numSeqs && p >= 0 && p < maxBlocks * blockSize;
  const i64 lo = window > 0 ? (p - window + 1 > 0 ? p - window + 1 : 0) : 0;
  return {lo, valid ? p : lo - 1, valid};
}

// GH query heads h0 .. h0 + GH - 1 of one KV head (GQA) at once: every key and value row read
// serves all of them (GH = 1: one head). With GH > 1 each lane keeps GH query and accumulator
// rows, so it keeps one key per round in flight instead of kUnroll (registers).
// With parts > 1 the routine takes only part `part` of the token's keys (parts of equal
// size) and writes, for each head g, the part's running max, sum and unnormalised output
// (D values) to partial + g * kSplitMaxParts * (2 + D), for paged_attention_split.
template <int D, int kWarps, int GH, typename T, typename TT, typename TS, typename TP>
__device__ void paged_attention_one(const T *__restrict__ q, const T *__restrict__ kc,
                                    const T *__restrict__ vc, const TT *__restrict__ tables,
                                    const TS *__restrict__ seqs, const TP *__restrict__ positions,
                                    T *__restrict__ out, i64 t, i64 h0, i64 heads, i64 kvHeads,
                                    i64 blockSize, i64 numBlocks, i64 numSeqs, i64 maxBlocks,
                                    float scale, i64 window, unsigned *status, float *scratch,
                                    int part = 0, int parts = 1, float *partial = nullptr) {
  using L = AttentionLayout<D, T>;
  constexpr int kVec = L::kVec, kGroup = L::kGroup, kPerLane = L::kPerLane;
  constexpr int kU = GH > 1 ? 1 : L::kUnroll;
  constexpr int kLaneValues = kPerLane * kVec;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int group = lane / kGroup, inGroup = lane % kGroup;
  const i64 s = (i64)seqs[t];
  const i64 kvh = h0 / (heads / kvHeads);
  const KeyRange keys =
      attention_keys(seqs, positions, t, numSeqs, maxBlocks, blockSize, window);
  if (!keys.valid && threadIdx.x == 0)
    report_error(status, kErrorIndexOutOfRange);
  i64 lo = keys.lo, last = keys.last;
  if (parts > 1) {
    const i64 per = (last - lo + parts) / parts;
    lo += part * per;
    last = min(last, lo + per - 1);
  }

  // The lane's dimensions: vectors inGroup, inGroup + kGroup, ... of the row.
  float qr[GH][kLaneValues], acc[GH][kLaneValues];
#pragma unroll
  for (int g = 0; g < GH; ++g)
#pragma unroll
    for (int r = 0; r < kPerLane; ++r) {
      const int vi = inGroup + kGroup * r;
      float v[kVec];
      if (vi < L::kVecs)
        load_floats<kVec>(q + (t * heads + h0 + g) * D + vi * kVec, v);
#pragma unroll
      for (int i = 0; i < kVec; ++i) {
        qr[g][r * kVec + i] = vi < L::kVecs ? v[i] : 0.0f;
        acc[g][r * kVec + i] = 0.0f;
      }
    }
  float m[GH], l[GH];
#pragma unroll
  for (int g = 0; g < GH; ++g)
    m[g] = -inf_f32(), l[g] = 0.0f;
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
    float kr[kU][kLaneValues], vr[kU][kLaneValues], dot[kU][GH];
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
    for (int u = 0; u < kU; ++u)
#pragma unroll
      for (int g = 0; g < GH; ++g) {
        float d = 0.0f;
#pragma unroll
        for (int i = 0; i < kLaneValues; ++i)
          d += qr[g][i] * kr[u][i];
#pragma unroll
        for (int off = kGroup / 2; off > 0; off >>= 1)
          d += __shfl_xor_sync(0xffffffffu, d, off);
        dot[u][g] = ok[u] ? d * scale : -inf_f32();
      }
#pragma unroll
    for (int g = 0; g < GH; ++g) {
      float mNew = m[g];
#pragma unroll
      for (int u = 0; u < kU; ++u)
        mNew = max_f32(mNew, dot[u][g]);
      if (mNew == -inf_f32())
        continue; // no key of this group yet
      const float correction = expf(m[g] - mNew);
      l[g] *= correction;
#pragma unroll
      for (int i = 0; i < kLaneValues; ++i)
        acc[g][i] *= correction;
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const float w = ok[u] ? expf(dot[u][g] - mNew) : 0.0f;
        l[g] += w;
#pragma unroll
        for (int i = 0; i < kLaneValues; ++i)
          acc[g][i] += w * vr[u][i];
      }
      m[g] = mNew;
    }
  }
  // Merge the groups of the warp (lanes with the same inGroup hold the same dimensions).
#pragma unroll
  for (int g = 0; g < GH; ++g)
#pragma unroll
    for (int off = kGroup; off < 32; off <<= 1) {
      float oacc[kLaneValues];
#pragma unroll
      for (int i = 0; i < kLaneValues; ++i)
        oacc[i] = __shfl_xor_sync(0xffffffffu, acc[g][i], off);
      const float om = __shfl_xor_sync(0xffffffffu, m[g], off);
      const float ol = __shfl_xor_sync(0xffffffffu, l[g], off);
      merge_softmax_state(m[g], l[g], acc[g], om, ol, oacc);
    }
  // Merge the warps, all heads at once (paged_attention_smem_floats): each warp's m, l and
  // D values per head; then thread (g, w) computes warp w's weight exp(m_w - max) for head g
  // (w = 0 keeps the head's max), and thread (g, d) sums dimension d and the sum l over the
  // warps with those weights.
  float *mS = scratch, *lS = mS + GH * kWarps, *fS = lS + GH * kWarps, *maxS = fS + GH * kWarps;
  float *accS = maxS + GH;
#pragma unroll
  for (int g = 0; g < GH; ++g) {
    if (lane == 0) {
      mS[g * kWarps + warp] = m[g];
      lS[g * kWarps + warp] = l[g];
    }
    if (group == 0) {
#pragma unroll
      for (int r = 0; r < kPerLane; ++r) {
        const int vi = inGroup + kGroup * r;
        if (vi < L::kVecs)
#pragma unroll
          for (int i = 0; i < kVec; ++i)
            accS[(g * kWarps + warp) * D + vi * kVec + i] = acc[g][r * kVec + i];
      }
    }
  }
  __syncthreads();
  if (threadIdx.x < GH * kWarps) {
    const int g = threadIdx.x / kWarps;
    float mAll = -inf_f32();
#pragma unroll
    for (int w = 0; w < kWarps; ++w)
      mAll = max_f32(mAll, mS[g * kWarps + w]);
    const float mw = mS[threadIdx.x];
    fS[threadIdx.x] = mw == -inf_f32() ? 0.0f : expf(mw - mAll);
    if (threadIdx.x % kWarps == 0)
      maxS[g] = mAll;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < GH * D; i += blockDim.x) {
    const int g = i / D, d = i % D;
    float o = 0.0f, l = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float f = fS[g * kWarps + w];
      o += accS[(g * kWarps + w) * D + d] * f;
      l += lS[g * kWarps + w] * f;
    }
    if (partial) {
      float *row = partial + g * kSplitMaxParts * split_partial_floats(D);
      row[2 + d] = o;
      if (d == 0) {
        row[0] = maxS[g];
        row[1] = l;
      }
    } else {
      out[(t * heads + h0 + g) * D + d] = from_float<T>(o / l);
    }
  }
  __syncthreads(); // scratch is reused by the next (token, head)
}

// ---- flash attention for prefill ---------------------------------------------------------
//
// With many query tokens the per-(token, head) routine above reads every key once per query.
// flash_attention_tile instead takes kFlashRows consecutive tokens of one head per block
// (16 warps x 16 rows, their queries staged in shared memory once) and streams the keys of
// their sequence through shared memory kFlashKeys at a time (cp.async, two stages), so each
// key is read once per tile: S = Q K^T and O += P V on tensor cores (mma.sync m16n8k16, f32
// accumulation, fragments by ldmatrix), kFlashSubKeys keys at a time, an online softmax per
// row in registers (exp2 with the scale folded in), P rounded to the 16-bit input type as the
// A operand of P V. Causality, windows and ragged batches come from each token's own
// position and sequence: a tile whose tokens span several sequences makes one pass per
// sequence over that sequence's keys. 16-bit types, D % 16 == 0 and D <= 128 only (registers:
// D / 2 accumulators per lane). Sizes: kernels/tiling.cuh.
constexpr int kFlashMaxSequences = 4; // a tile spanning more sequences: per-(token, head) too

template <int D, typename T> __host__ __device__ constexpr bool flash_attention_supported() {
  return flash_attention_supported(D, int(sizeof(T)));
}

// One sub-tile of kFlashSubKeys keys for a warp's 16 query rows (the lane's rows g and
// g + 8): S = Q K^T on tensor cores from shared memory (`qrow`: the lane's ldmatrix address
// of its A fragments; `keys`: the sub-tile's first key row, rows of D + 8 elements, its values
// `valueOffset` bytes further), `logit(nt, c, s)` turns each product of the lane's C fragments
// into its log2-domain logit (scaled; -inf hides the key), then the online softmax update of
// the rows' running max m, sums l and output fragments o, and O += P V with P rounded to T
// (the C fragments of two key octets are the A fragment of 16 keys; V's B fragments come
// transposed from its row-major stage by ldmatrix).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
template <int D, typename T, typename Logit>
__device__ __forceinline__ void flash_subtile(unsigned qrow, unsigned keys, unsigned valueOffset,
                                              Logit logit, float (&m)[2], float (&l)[2],
                                              float (&o)[D / 8][4]) {
  constexpr int P = D + 8;
  const int lane = threadIdx.x & 31;
  const unsigned kst = keys + (((lane >> 4) * 8 + (lane & 7)) * P + ((lane >> 3) & 1) * 8) * 2;
  const unsigned vst =
      keys + valueOffset + ((((lane >> 3) & 1) * 8 + (lane & 7)) * P + (lane >> 4) * 8) * 2;
  const T *type = nullptr; // picks the mma's input type
  float sc[kFlashSubKeys / 8][4];
#pragma unroll
  for (int nt = 0; nt < kFlashSubKeys / 8; ++nt)
#pragma unroll
    for (int c = 0; c < 4; ++c)
      sc[nt][c] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    unsigned a[4];
    ldmatrix_x4(a, qrow + kk * 32);
#pragma unroll
    for (int nt = 0; nt < kFlashSubKeys / 8; nt += 2) {
      unsigned b[4];
      ldmatrix_x4(b, kst + (nt * 8 * P + kk * 16) * 2);
      mma_16816(sc[nt], a, b[0], b[1], type);
      mma_16816(sc[nt + 1], a, b[2], b[3], type);
    }
  }
  float mx[2] = {-inf_f32(), -inf_f32()};
#pragma unroll
  for (int nt = 0; nt < kFlashSubKeys / 8; ++nt)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      sc[nt][c] = logit(nt, c, sc[nt][c]);
      mx[c >> 1] = max_f32(mx[c >> 1], sc[nt][c]);
    }
  float base[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = max_f32(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = max_f32(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    const float mNew = max_f32(m[r], mx[r]);
    base[r] = mNew == -inf_f32() ? 0.0f : mNew;
    const float correction = exp2f(m[r] - base[r]);
    l[r] *= correction;
#pragma unroll
    for (int d = 0; d < D / 8; ++d) {
      o[d][2 * r] *= correction;
      o[d][2 * r + 1] *= correction;
    }
    m[r] = mNew;
  }
#pragma unroll
  for (int nt = 0; nt < kFlashSubKeys / 8; ++nt)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      sc[nt][c] = exp2f(sc[nt][c] - base[c >> 1]);
      l[c >> 1] += sc[nt][c];
    }
#pragma unroll
  for (int kk = 0; kk < kFlashSubKeys / 16; ++kk) {
    const unsigned pa[4] = {pack2<T>(sc[2 * kk][0], sc[2 * kk][1]),
                            pack2<T>(sc[2 * kk][2], sc[2 * kk][3]),
                            pack2<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                            pack2<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
    for (int np = 0; np < D / 16; ++np) {
      unsigned b[4];
      ldmatrix_x4_trans(b, vst + (kk * 16 * P + np * 16) * 2);
      mma_16816(o[2 * np], pa, b[0], b[1], type);
      mma_16816(o[2 * np + 1], pa, b[2], b[3], type);
    }
  }
}

// The start of a lane's two flash rows: no keys seen (running max -inf, sums and outputs 0).
template <int D>
__device__ __forceinline__ void flash_start_rows(float (&o)[D / 8][4], float (&m)[2],
                                                 float (&l)[2]) {
#pragma unroll
  for (int d = 0; d < D / 8; ++d)
#pragma unroll
    for (int c = 0; c < 4; ++c)
      o[d][c] = 0.0f;
  m[0] = m[1] = -inf_f32();
  l[0] = l[1] = 0.0f;
}

// The end of a warp's flash rows: each row's sum l is split over the 4 lanes of its quad;
// the lane's output fragments times inv(l) go to rows out0 and out1 (nullptr: past the end).
template <int D, typename T, typename Inverse>
__device__ __forceinline__ void flash_store_rows(const float (&o)[D / 8][4], float (&l)[2],
                                                 Inverse inv, T *out0, T *out1) {
  const int t4 = threadIdx.x & 3;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  const float inv0 = inv(l[0]), inv1 = inv(l[1]);
#pragma unroll
  for (int d = 0; d < D / 8; ++d) {
    const int col = d * 8 + 2 * t4;
    if (out0)
      *reinterpret_cast<unsigned *>(out0 + col) = pack2<T>(o[d][0] * inv0, o[d][1] * inv0);
    if (out1)
      *reinterpret_cast<unsigned *>(out1 + col) = pack2<T>(o[d][2] * inv1, o[d][3] * inv1);
  }
}

// Streams the key tiles kt0, kt0 + kFlashKeys, ... up to `last` through two shared-memory
// stages: load_keys(stage, kt) issues a tile's cp.async loads (the next tile's while this one
// is computed), visit(stage, kt) runs once the tile has landed, before its stage is reused.
template <typename Load, typename Visit>
__device__ __forceinline__ void flash_key_stages(i64 kt0, i64 last, Load load_keys, Visit visit) {
  load_keys(0, kt0);
  cp_async_commit();
  int stage = 0;
  for (i64 kt = kt0; kt <= last; kt += kFlashKeys, stage ^= 1) {
    if (kt + kFlashKeys <= last)
      load_keys(stage ^ 1, kt + kFlashKeys);
    cp_async_commit();
    cp_async_wait<1>(); // this stage's keys (and the queries) have landed
    __syncthreads();
    visit(stage, kt);
    __syncthreads(); // the stage is read before the next round's loads overwrite it
  }
  cp_async_wait<0>();
}
#endif

template <int D, int kWarps, typename T, typename TT, typename TS, typename TP>
__device__ void
flash_attention_tile(const T *__restrict__ q, const T *__restrict__ kc, const T *__restrict__ vc,
                     const TT *__restrict__ tables, const TS *__restrict__ seqs,
                     const TP *__restrict__ positions, T *__restrict__ out, i64 t0, i64 h,
                     i64 tokens, i64 heads, i64 kvHeads, i64 blockSize, i64 numBlocks, i64 numSeqs,
                     i64 maxBlocks, float scale, i64 window, unsigned *status, float *smem) {
#if __CUDA_ARCH__ >= 800
  static_assert(kWarps * 16 == kFlashRows, "16 query rows per warp");
  static_assert(kFlashKeys % kFlashSubKeys == 0 && kFlashSubKeys % 16 == 0, "key tiling");
  constexpr int P = D + 8, kChunks = D / 8; // row pitch (elements), 16-byte chunks per row
  T *qs = reinterpret_cast<T *>(smem);      // [kFlashRows][P]
  T *ks = qs + kFlashRows * P;              // [2][kFlashKeys][P]
  T *vs = ks + 2 * kFlashKeys * P;          // [2][kFlashKeys][P]
  int *rowSeq = reinterpret_cast<int *>(vs + 2 * kFlashKeys * P); // -1: invalid or done
  int *rowPos = rowSeq + kFlashRows, *rowLo = rowPos + kFlashRows, *ctl = rowLo + kFlashRows;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const i64 kvh = h / (heads / kvHeads);
  // The tile's queries, once for all passes (rows past the last token read as zeros).
  for (int c = tid; c < kFlashRows * kChunks; c += blockDim.x) {
    const int row = c / kChunks, chunk = c % kChunks;
    const bool ok = t0 + row < tokens;
    cp_async_16(qs + row * P + chunk * 8, ok ? q + ((t0 + row) * heads + h) * D + chunk * 8 : q,
                ok);
  }
  cp_async_commit();
  if (tid < kFlashRows) {
    const i64 t = t0 + tid;
    int s = -1, p = 0, lo = 0;
    if (t < tokens) {
      const i64 ss = (i64)seqs[t], pp = (i64)positions[t];
      if (ss >= 0 && ss < numSeqs && pp >= 0 && pp < maxBlocks * blockSize) {
        s = (int)ss;
        p = (int)pp;
        lo = window > 0 && pp - window + 1 > 0 ? (int)(pp - window + 1) : 0;
      } else {
        report_error(status, kErrorIndexOutOfRange);
      }
    }
    rowSeq[tid] = s;
    rowPos[tid] = p;
    rowLo[tid] = lo;
  }
  __syncthreads();
  // The lane's two rows: g and g + 8 of the warp's 16.
  const int r0 = warp * 16 + g, r1 = r0 + 8;
  const int seq0 = rowSeq[r0], seq1 = rowSeq[r1];
  // (The rows' positions and window starts stay in shared memory: read where needed.)
  // ldmatrix row addresses (shared space, bytes): the warp's A fragments (rows, then columns
  // + 8 for lanes 16..31), and the lane's offsets into a stage for K's B fragments of a pair
  // of key octets (lanes 16..31: the second octet) and V's transposed ones.
  const unsigned qrow = shared_address(
      qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * P + (lane >> 4) * 8);
  // (The K and V offsets are recomputed per sub-tile: registers are at the 128 cap.)
  const unsigned kbase = shared_address(ks);
  constexpr unsigned kVOffset = 2 * kFlashKeys * P * 2; // vs - ks, bytes
  const float scaleLog2 = scale * 1.4426950408889634f;
  float o[D / 8][4], m[2], l[2];
  flash_start_rows<D>(o, m, l);
  for (;;) {
    // One pass per sequence among the rows, in the order of their first rows.
    if (tid == 0) {
      ctl[0] = kFlashRows;
      ctl[1] = 0x7fffffff;
      ctl[2] = -1;
    }
    __syncthreads();
    if (tid < kFlashRows && rowSeq[tid] >= 0)
      atomicMin(&ctl[0], tid);
    __syncthreads();
    const int first = ctl[0];
    if (first == kFlashRows)
      break;
    const int s = rowSeq[first];
    if (tid < kFlashRows && rowSeq[tid] == s) {
      atomicMin(&ctl[1], rowLo[tid]);
      atomicMax(&ctl[2], rowPos[tid]);
    }
    __syncthreads();
    const int kmin = ctl[1], kmax = ctl[2];
    __syncthreads(); // every thread has read rowSeq and ctl of this pass
    if (tid < kFlashRows && rowSeq[tid] == s)
      rowSeq[tid] = -1;
    const bool in0 = seq0 == s, in1 = seq1 == s;
    // The warp's key range in this pass; warps outside a key tile skip its products.
    int wlo = min_int(in0 ? rowLo[r0] : 0x7fffffff, in1 ? rowLo[r1] : 0x7fffffff);
    int whi = max_int(in0 ? rowPos[r0] : -1, in1 ? rowPos[r1] : -1);
    // Keys [wfrom, wto] are visible to every row of the warp (all in this pass's sequence):
    // sub-tiles inside that range skip the per-element mask.
    int wfrom = max_int(rowLo[r0], rowLo[r1]), wto = min_int(rowPos[r0], rowPos[r1]);
    const bool allIn = __all_sync(0xffffffffu, in0 && in1);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      wlo = min_int(wlo, __shfl_xor_sync(0xffffffffu, wlo, off));
      whi = max_int(whi, __shfl_xor_sync(0xffffffffu, whi, off));
      wfrom = max_int(wfrom, __shfl_xor_sync(0xffffffffu, wfrom, off));
      wto = min_int(wto, __shfl_xor_sync(0xffffffffu, wto, off));
    }
    if (!allIn)
      wto = wfrom - 1;
    auto load_keys = [&](int stage, i64 kt) {
      for (int c = tid; c < 2 * kFlashKeys * kChunks; c += blockDim.x) {
        const bool isV = c >= kFlashKeys * kChunks;
        const int cc = isV ? c - kFlashKeys * kChunks : c, key = cc / kChunks;
        const int j = int(kt) + key;
        const T *src = isV ? vc : kc;
        bool ok = j <= kmax;
        if (ok) {
          const i64 block = (i64)tables[(i64)s * maxBlocks + j / blockSize];
          if (block < 0 || block >= numBlocks) {
            report_error(status, kErrorIndexOutOfRange);
            ok = false;
          } else {
            src += ((block * blockSize + j % blockSize) * kvHeads + kvh) * D + (cc % kChunks) * 8;
          }
        }
        cp_async_16((isV ? vs : ks) + (stage * kFlashKeys + key) * P + (cc % kChunks) * 8, src, ok);
      }
    };
    flash_key_stages(kmin / kFlashKeys * kFlashKeys, kmax, load_keys, [&](int stage, i64 kt64) {
      const int kt = int(kt64);
#pragma unroll
      for (int half = 0; half < kFlashKeys / kFlashSubKeys; ++half) {
        const int ks0 = kt + half * kFlashSubKeys;
        if (whi < ks0 || wlo >= ks0 + kFlashSubKeys)
          continue;
        // Mask (causal, window, other sequences) unless every key of the sub-tile is visible
        // to every row of the warp (most of a long prompt's).
        const bool allVisible = ks0 >= wfrom && ks0 + kFlashSubKeys - 1 <= wto;
        const int lo0 = rowLo[r0], lo1 = rowLo[r1], pos0 = rowPos[r0], pos1 = rowPos[r1];
        flash_subtile<D, T>(
            qrow, kbase + (stage * kFlashKeys + half * kFlashSubKeys) * P * 2, kVOffset,
            [&](int nt, int c, float product) {
              const int j = ks0 + nt * 8 + 2 * t4 + (c & 1);
              const bool ok = allVisible || (c < 2 ? in0 && j >= lo0 && j <= pos0
                                                   : in1 && j >= lo1 && j <= pos1);
              return ok ? product * scaleLog2 : -inf_f32();
            },
            m, l, o);
      }
    });
  }
  flash_store_rows<D, T>(
      o, l, [](float sum) { return sum > 0.0f ? 1.0f / sum : 0.0f; },
      t0 + r0 < tokens ? out + ((t0 + r0) * heads + h) * D : nullptr,
      t0 + r1 < tokens ? out + ((t0 + r1) * heads + h) * D : nullptr);
  cp_async_wait<0>(); // a tile without rows to compute still drains its query loads
  __syncthreads();    // shared memory is reused by the block's next item
#endif
}

// Whether the block takes the tile of `rows` tokens from t0 with flash_attention_tile: its
// tokens span at most kFlashMaxSequences sequences (counted as changes between neighbours).
template <typename TS>
__device__ __forceinline__ bool flash_tile_qualifies(const TS *__restrict__ seqs, i64 t0,
                                                     i64 rows) {
  const i64 r = threadIdx.x;
  const bool change = r > 0 && r < rows && seqs[t0 + r] != seqs[t0 + r - 1];
  return __syncthreads_count(change) < kFlashMaxSequences;
}

// All (token, head) outputs of a paged attention, by the block's share of the grid: with at
// least kFlashMinTokens tokens (and a supported type and D), the work is first the tiles of
// kFlashRows tokens per head that qualify for flash_attention_tile, longest (last) tiles
// first, then the (token, head) pairs of the tiles that do not; else all pairs, GH heads of
// a KV head per block when there are at least kGroupedAttentionMinPairs of them.
// Decode batches of at least this many (token, head) pairs take GH heads per block: two
// blocks' worth per SM of a 132-SM GPU at one head each (the routine's registers allow one
// 512-thread block per SM), where grouping still leaves a block for most SMs.
constexpr long long kGroupedAttentionMinPairs = 256;

// Decode attention split over the keys: block w takes part w / items of (token, group)
// w % items when the token's keys make that many parts (at least
// kSplitMinKeys keys each, about kSplitTargetBlocks blocks in all), writes the part's softmax
// state to the scratch and counts it done; the block that completes the count merges the
// parts into the output and zeroes the counter for the next launch.
template <int D, int kWarps, int GH, typename T, typename TT, typename TS, typename TP>
__device__ void paged_attention_split(const T *__restrict__ q, const T *__restrict__ kc,
                                      const T *__restrict__ vc, const TT *__restrict__ tables,
                                      const TS *__restrict__ seqs,
                                      const TP *__restrict__ positions, T *__restrict__ out,
                                      i64 tokens, i64 heads, i64 kvHeads, i64 blockSize,
                                      i64 numBlocks, i64 numSeqs, i64 maxBlocks, float scale,
                                      i64 window, unsigned *status, float *smem,
                                      unsigned char *splitScratch) {
  static_assert(kSplitMaxParts <= 32 && GH <= kWarps, "a warp weighs each head's parts");
  constexpr long long kPartFloats = split_partial_floats(D);
  const i64 groups = heads / GH, items = tokens * groups;
  const i64 counterWords = split_counter_bytes(groups) / 4;
  unsigned *counters = reinterpret_cast<unsigned *>(splitScratch);
  float *partials = reinterpret_cast<float *>(splitScratch + tokens * counterWords * 4);
  const i64 wanted = (kSplitTargetBlocks + items - 1) / items;
  __shared__ int lastPart;
  for (i64 w = blockIdx.x; w < items * kSplitMaxParts; w += gridDim.x) {
    // Part-major: the first parts of all items come first, so that items of one part (many
    // tokens) take distinct blocks.
    const i64 item = w % items, t = item / groups, h0 = item % groups * GH;
    const int part = int(w / items);
    const KeyRange keys =
        attention_keys(seqs, positions, t, numSeqs, maxBlocks, blockSize, window);
    const i64 n = keys.last - keys.lo + 1;
    const int parts = int(max((i64)1, min(min((n + kSplitMinKeys - 1) / kSplitMinKeys, wanted),
                                          (i64)kSplitMaxParts)));
    if (part >= parts)
      continue;
    float *partial = partials + ((t * heads + h0) * kSplitMaxParts) * kPartFloats;
    paged_attention_one<D, kWarps, GH>(q, kc, vc, tables, seqs, positions, out, t, h0, heads,
                                       kvHeads, blockSize, numBlocks, numSeqs, maxBlocks, scale,
                                       window, status, smem, part, parts,
                                       parts > 1 ? partial + part * kPartFloats : nullptr);
    if (parts == 1)
      continue;
    // Publish the part, then count it: the barrier orders the block's writes before thread
    // 0's fence, which (cumulative) makes them visible device-wide before its count; the
    // count's last block then sees all parts.
    __syncthreads();
    unsigned *counter = counters + t * counterWords + item % groups;
    if (threadIdx.x == 0) {
      __threadfence();
      lastPart = atomicAdd(counter, 1u) == unsigned(parts - 1);
      __threadfence();
    }
    __syncthreads();
    if (!lastPart)
      continue;
    // Warp g weighs head g's parts (lane j: part j), then thread (g, d) sums dimension d.
    float *weights = smem, *sums = smem + GH * kSplitMaxParts;
    if (threadIdx.x < GH * 32) {
      const int g = threadIdx.x / 32, j = threadIdx.x % 32;
      const float *row = partial + (g * kSplitMaxParts + j) * kPartFloats;
      const float mj = j < parts ? __ldcg(row) : -inf_f32();
      const float lj = j < parts ? __ldcg(row + 1) : 0.0f;
      float m = mj;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1)
        m = max_f32(m, __shfl_xor_sync(0xffffffffu, m, off));
      const float a = mj == -inf_f32() ? 0.0f : expf(mj - m);
      float l = lj * a;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1)
        l += __shfl_xor_sync(0xffffffffu, l, off);
      if (j < kSplitMaxParts)
        weights[g * kSplitMaxParts + j] = a;
      if (j == 0)
        sums[g] = l;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < GH * D; i += blockDim.x) {
      const int g = i / D, d = i % D;
      const float *rows = partial + g * kSplitMaxParts * kPartFloats + 2 + d;
      float o = 0.0f;
#pragma unroll
      for (int j = 0; j < kSplitMaxParts; ++j)
        if (j < parts)
          o += __ldcg(rows + j * kPartFloats) * weights[g * kSplitMaxParts + j];
      out[(t * heads + h0 + g) * D + d] = from_float<T>(o / sums[g]);
    }
    if (threadIdx.x == 0)
      *counter = 0;
    __syncthreads(); // lastPart and the weights are written again by the next item
  }
}

template <int D, int kWarps, int GH, typename T, typename TT, typename TS, typename TP>
__device__ void paged_attention_all(const T *__restrict__ q, const T *__restrict__ kc,
                                    const T *__restrict__ vc, const TT *__restrict__ tables,
                                    const TS *__restrict__ seqs, const TP *__restrict__ positions,
                                    T *__restrict__ out, i64 tokens, i64 heads, i64 kvHeads,
                                    i64 blockSize, i64 numBlocks, i64 numSeqs, i64 maxBlocks,
                                    float scale, i64 window, unsigned *status, float *smem,
                                    unsigned char *splitScratch = nullptr) {
#if __CUDA_ARCH__ >= 800
  if constexpr (flash_attention_supported<D, T>()) {
    if (tokens >= kFlashMinTokens) {
      const i64 tiles = (tokens + kFlashRows - 1) / kFlashRows, tileItems = tiles * heads;
      i64 cachedTile = -1;
      bool cachedFlash = false;
      auto isFlash = [&](i64 tile) {
        if (tile != cachedTile) {
          const i64 t0 = tile * kFlashRows;
          cachedFlash = flash_tile_qualifies(seqs, t0, min(tokens - t0, (i64)kFlashRows));
          cachedTile = tile;
        }
        return cachedFlash;
      };
      for (i64 w = blockIdx.x; w < tileItems + tokens * heads;) {
        if (w < tileItems) {
          const i64 tile = tiles - 1 - w / heads;
          if (isFlash(tile))
            flash_attention_tile<D, kWarps>(q, kc, vc, tables, seqs, positions, out,
                                            tile * kFlashRows, w % heads, tokens, heads, kvHeads,
                                            blockSize, numBlocks, numSeqs, maxBlocks, scale, window,
                                            status, smem);
          w += gridDim.x;
          continue;
        }
        const i64 pair = w - tileItems, t = pair / heads, tile = t / kFlashRows;
        if (isFlash(tile)) { // done above: jump past the tile's pairs
          const i64 end = tileItems + min(tokens, (tile + 1) * kFlashRows) * heads;
          w += (end - w + gridDim.x - 1) / gridDim.x * gridDim.x;
          continue;
        }
        paged_attention_one<D, kWarps, 1>(q, kc, vc, tables, seqs, positions, out, t, pair % heads,
                                       heads, kvHeads, blockSize, numBlocks, numSeqs, maxBlocks,
                                       scale, window, status, smem);
        w += gridDim.x;
      }
      return;
    }
  }
#endif
  // Few tokens (decode) with grouped heads: the keys of each (token, group of GH heads) are
  // split over blocks (see kSplitMaxParts), the last part to finish merges them.
  if constexpr (GH > 1) {
    if (splitScratch && tokens <= kSplitMaxTokens && heads % kvHeads == 0 &&
        (heads / kvHeads) % GH == 0) {
      paged_attention_split<D, kWarps, GH>(q, kc, vc, tables, seqs, positions, out, tokens, heads,
                                           kvHeads, blockSize, numBlocks, numSeqs, maxBlocks,
                                           scale, window, status, smem, splitScratch);
      return;
    }
  }
  // Many (token, head) pairs (batched decode): GH heads of a KV head per block read each key
  // and value once for all of them. Few pairs keep one head per block, so that there are
  // blocks for more SMs.
  if constexpr (GH > 1) {
    if (heads % kvHeads == 0 && (heads / kvHeads) % GH == 0 &&
        tokens * heads >= kGroupedAttentionMinPairs) {
      const i64 items = tokens * (heads / GH);
      for (i64 item = blockIdx.x; item < items; item += gridDim.x)
        paged_attention_one<D, kWarps, GH>(q, kc, vc, tables, seqs, positions, out,
                                           item / (heads / GH), item % (heads / GH) * GH, heads,
                                           kvHeads, blockSize, numBlocks, numSeqs, maxBlocks,
                                           scale, window, status, smem);
      return;
    }
  }
  for (i64 pair = blockIdx.x; pair < tokens * heads; pair += gridDim.x)
    paged_attention_one<D, kWarps, 1>(q, kc, vc, tables, seqs, positions, out, pair / heads,
                                      pair % heads, heads, kvHeads, blockSize, numBlocks, numSeqs,
                                      maxBlocks, scale, window, status, smem);
}

// ---- dense attention ---------------------------------------------------------------------
//
// softmax(q . k^T * scale + mask) . v for `batch` independent [Sq, D] x [Sk, D] x [Sk, DV]
// problems (contiguous, row-major): the CUDA-core counterpart of chitu.attention's CPU
// reference for any float type and head dimension up to kDenseMaxDim. A block takes
// kDenseRows query rows of one batch element (kDenseRows / kDenseWarps per warp) and streams
// that element's keys and values through shared memory kDenseKeys at a time: lane j scores
// key j of the tile against the warp's rows, an online softmax per row (running max m, the
// lane's share of the sum l) rescales the accumulators, and lane c accumulates value dimensions
// c, c + 32, ... with the probabilities passed round the warp by shuffles. The scores never
// leave registers. `mask_row(b)` gives the mask of batch element b (nullptr: no mask), read at
// i * maskRowStride + j * maskColStride (strides 0 where the mask broadcasts).
template <int D, int DV, typename T, typename MaskRow>
__device__ void dense_attention(const T *__restrict__ q, const T *__restrict__ k,
                                const T *__restrict__ v, T *__restrict__ out, i64 batch, i64 Sq,
                                i64 Sk, float scale, MaskRow mask_row, i64 maskRowStride,
                                i64 maskColStride, float *smem) {
  static_assert(D <= kDenseMaxDim && DV <= kDenseMaxDim, "head dimensions");
  constexpr int kRowsPerWarp = kDenseRows / kDenseWarps, kCols = (DV + 31) / 32;
  float *qs = smem;                        // [kDenseRows][D]
  float *ks = qs + kDenseRows * D;         // [kDenseKeys][D + 1]
  float *vs = ks + kDenseKeys * (D + 1);   // [kDenseKeys][DV]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const i64 tiles = (Sq + kDenseRows - 1) / kDenseRows;
  for (i64 item = blockIdx.x; item < batch * tiles; item += gridDim.x) {
    const i64 b = item / tiles, i0 = item % tiles * kDenseRows;
    const T *mask = mask_row(b);
    __syncthreads(); // the previous item's rows and tiles are consumed
    for (int e = tid; e < kDenseRows * D; e += blockDim.x) {
      const i64 i = i0 + e / D;
      qs[e] = i < Sq ? to_float(q[(b * Sq + i) * D + e % D]) : 0.0f;
    }
    float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kCols];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      m[r] = -inf_f32();
      l[r] = 0.0f;
#pragma unroll
      for (int c = 0; c < kCols; ++c)
        acc[r][c] = 0.0f;
    }
    for (i64 j0 = 0; j0 < Sk; j0 += kDenseKeys) {
      __syncthreads(); // the previous tile is consumed (and the queries are stored)
      for (int e = tid; e < kDenseKeys * D; e += blockDim.x) {
        const i64 j = j0 + e / D;
        ks[e / D * (D + 1) + e % D] = j < Sk ? to_float(k[(b * Sk + j) * D + e % D]) : 0.0f;
      }
      for (int e = tid; e < kDenseKeys * DV; e += blockDim.x) {
        const i64 j = j0 + e / DV;
        vs[e] = j < Sk ? to_float(v[(b * Sk + j) * DV + e % DV]) : 0.0f;
      }
      __syncthreads();
      const i64 j = j0 + lane;
      float s[kRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r)
        s[r] = 0.0f;
      for (int d = 0; d < D; ++d) {
        const float kd = ks[lane * (D + 1) + d];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r)
          s[r] += qs[(warp * kRowsPerWarp + r) * D + d] * kd;
      }
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const i64 i = i0 + warp * kRowsPerWarp + r;
        if (j < Sk && i < Sq) {
          s[r] *= scale;
          if (mask)
            s[r] += to_float(mask[i * maskRowStride + j * maskColStride]);
        } else {
          s[r] = -inf_f32();
        }
        float tileMax = s[r];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1)
          tileMax = max_f32(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, off));
        const float mNew = max_f32(m[r], tileMax);
        if (mNew == -inf_f32())
          continue; // no visible key yet (uniform over the warp)
        const float correction = expf(m[r] - mNew); // 0 while m is -inf
        const float p = expf(s[r] - mNew);
        l[r] = l[r] * correction + p;
#pragma unroll
        for (int c = 0; c < kCols; ++c)
          acc[r][c] *= correction;
        for (int jj = 0; jj < kDenseKeys; ++jj) {
          const float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
          for (int c = 0; c < kCols; ++c)
            if (c * 32 + lane < DV)
              acc[r][c] += pj * vs[jj * DV + c * 32 + lane];
        }
        m[r] = mNew;
      }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      float sum = l[r];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, off);
      const i64 i = i0 + warp * kRowsPerWarp + r;
      if (i >= Sq)
        continue;
#pragma unroll
      for (int c = 0; c < kCols; ++c)
        if (c * 32 + lane < DV)
          out[(b * Sq + i) * DV + c * 32 + lane] =
              from_float<T>(Sk == 0 ? 0.0f : acc[r][c] / sum); // all -inf: 0 / 0, NaN
    }
  }
}

// The same on tensor cores for 16-bit types with D == DV, D % 16 == 0 and D <= 128
// (dense_flash_supported): a block of kDenseFlashWarps warps takes kDenseFlashRows query rows
// of one batch element (16 per warp, staged in shared memory once) and streams the element's
// keys and values through two shared-memory stages of kFlashKeys (cp.async), each computed as
// sub-tiles of kFlashSubKeys by flash_subtile, the routine of paged prefill attention. A row
// whose logits are all -inf is NaN (0 / 0), as in the CPU reference; with no keys, zeros.
template <int D, typename T, typename MaskRow>
__device__ void dense_flash_attention(const T *__restrict__ q, const T *__restrict__ k,
                                      const T *__restrict__ v, T *__restrict__ out, i64 batch,
                                      i64 Sq, i64 Sk, float scale, MaskRow mask_row,
                                      i64 maskRowStride, i64 maskColStride, float *smem) {
#if __CUDA_ARCH__ >= 800
  static_assert(dense_flash_supported(D, D, int(sizeof(T))), "16-bit types, D % 16 == 0");
  constexpr int P = D + 8, kChunks = D / 8; // row pitch (elements), 16-byte chunks per row
  T *qs = reinterpret_cast<T *>(smem);      // [kDenseFlashRows][P]
  T *ks = qs + kDenseFlashRows * P;         // [2][kFlashKeys][P]
  T *vs = ks + 2 * kFlashKeys * P;          // [2][kFlashKeys][P]
  constexpr unsigned kVOffset = 2 * kFlashKeys * P * 2; // vs - ks, bytes
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const float log2e = 1.4426950408889634f, scaleLog2 = scale * log2e;
  const unsigned qrow = shared_address(
      qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * P + (lane >> 4) * 8);
  const unsigned kbase = shared_address(ks);
  const i64 tiles = (Sq + kDenseFlashRows - 1) / kDenseFlashRows;
  for (i64 item = blockIdx.x; item < batch * tiles; item += gridDim.x) {
    const i64 b = item / tiles, i0 = item % tiles * kDenseFlashRows;
    const T *mask = mask_row(b);
    const T *kb = k + b * Sk * D, *vb = v + b * Sk * D;
    for (int c = tid; c < kDenseFlashRows * kChunks; c += blockDim.x) {
      const i64 i = i0 + c / kChunks;
      cp_async_16(qs + (c / kChunks) * P + (c % kChunks) * 8,
                  i < Sq ? q + (b * Sq + i) * D + (c % kChunks) * 8 : q, i < Sq);
    }
    cp_async_commit();
    auto load_keys = [&](int stage, i64 kt) {
      for (int c = tid; c < 2 * kFlashKeys * kChunks; c += blockDim.x) {
        const bool isV = c >= kFlashKeys * kChunks;
        const int cc = isV ? c - kFlashKeys * kChunks : c, key = cc / kChunks;
        const bool ok = kt + key < Sk;
        const T *src = (isV ? vb : kb) + (ok ? (kt + key) * D + (cc % kChunks) * 8 : 0);
        cp_async_16((isV ? vs : ks) + (stage * kFlashKeys + key) * P + (cc % kChunks) * 8, src, ok);
      }
    };
    // The lane's rows (g and g + 8 of the warp's 16) and their mask rows.
    const i64 row0 = i0 + warp * 16 + g, row1 = row0 + 8;
    const T *mask0 = mask && row0 < Sq ? mask + row0 * maskRowStride : nullptr;
    const T *mask1 = mask && row1 < Sq ? mask + row1 * maskRowStride : nullptr;
    float o[D / 8][4], m[2], l[2];
    flash_start_rows<D>(o, m, l);
    flash_key_stages(0, Sk - 1, load_keys, [&](int stage, i64 kt) {
#pragma unroll
      for (int half = 0; half < kFlashKeys / kFlashSubKeys; ++half) {
        const i64 ks0 = kt + half * kFlashSubKeys;
        if (ks0 >= Sk)
          continue;
        flash_subtile<D, T>(
            qrow, kbase + (stage * kFlashKeys + half * kFlashSubKeys) * P * 2, kVOffset,
            [&](int nt, int c, float product) {
              const i64 j = ks0 + nt * 8 + 2 * t4 + (c & 1);
              if (j >= Sk)
                return -inf_f32();
              const T *mrow = c < 2 ? mask0 : mask1;
              return product * scaleLog2 +
                     (mrow ? to_float(mrow[j * maskColStride]) * log2e : 0.0f);
            },
            m, l, o);
      }
    });
    // 1 / 0 = inf makes a row of all -inf logits NaN (0 * inf); no keys give zeros.
    flash_store_rows<D, T>(
        o, l, [Sk](float sum) { return Sk == 0 ? 0.0f : 1.0f / sum; },
        row0 < Sq ? out + (b * Sq + row0) * D : nullptr,
        row1 < Sq ? out + (b * Sq + row1) * D : nullptr);
    __syncthreads(); // shared memory is reused by the block's next item
  }
#endif
}

// ---- next-token probabilities ----------------------------------------------------------

__device__ __forceinline__ float uint_as_float_bits(unsigned b) { return __uint_as_float(b); }

// Number (or mass) of values of `p[0..n)` at least `threshold`, over the whole block.
// Visits i = threadIdx.x, threadIdx.x + blockDim.x, ... below n in that order, loading
// kRowLoads values ahead: one block walks a whole vocabulary row, so its loops are bound by
// load latency unless each thread keeps several loads in flight. The visiting order (and so
// any per-thread sum) is the plain loop's.
constexpr int kRowLoads = 8;
template <typename Load, typename Visit>
__device__ __forceinline__ void row_loop(i64 n, Load load, Visit visit) {
  using V = decltype(load(i64(0)));
  for (i64 base = threadIdx.x; base < n; base += (i64)blockDim.x * kRowLoads) {
    V v[kRowLoads];
#pragma unroll
    for (int u = 0; u < kRowLoads; ++u) {
      const i64 i = base + (i64)u * blockDim.x;
      if (i < n)
        v[u] = load(i);
    }
#pragma unroll
    for (int u = 0; u < kRowLoads; ++u) {
      const i64 i = base + (i64)u * blockDim.x;
      if (i < n)
        visit(i, v[u]);
    }
  }
}

// p[i0 .. i0 + kRowLoads) into v, zeros from `end` on: a thread's next values of its own
// segment, loaded together (see row_loop).
__device__ __forceinline__ void load_ahead(const float *__restrict__ p, i64 i0, i64 end,
                                           float (&v)[kRowLoads]) {
#pragma unroll
  for (int u = 0; u < kRowLoads; ++u)
    v[u] = i0 + u < end ? p[i0 + u] : 0.0f;
}

__device__ __forceinline__ float block_count_at_least(const float *p, i64 n, float threshold,
                                                      bool mass, float *scratch) {
  float c = 0.0f;
  row_loop(
      n, [&](i64 i) { return p[i]; },
      [&](i64, float v) {
        if (v >= threshold)
          c += mass ? v : 1.0f;
      });
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
  row_loop(n, [&](i64 i) { return logits[i]; }, [&](i64 i, float v) { p[i] = v; });
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
    row_loop(n, [&](i64 i) { return p[i]; }, [&](i64 i, float v) { best = better(best, ArgMax{v, i}); });
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
  row_loop(
      n, [&](i64 i) { return p[i]; },
      [&](i64 i, float v) {
        p[i] = v / temperature;
        mx = max_f32(mx, p[i]);
      });
  mx = block_reduce(mx, MaxOp(), scratch);
  row_loop(n, [&](i64 i) { return p[i]; }, [&](i64 i, float v) { p[i] = expf(v - mx); });
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
  row_loop(
      n, [&](i64 i) { return p[i]; },
      [&](i64 i, float v) { p[i] = v >= threshold ? v / total : 0.0f; });
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
  // The segment in order, kRowLoads values loaded ahead (see row_loop).
  for (i64 i0 = begin; i0 < end; i0 += kRowLoads) {
    float v[kRowLoads];
    load_ahead(p, i0, end, v);
#pragma unroll
    for (int u = 0; u < kRowLoads; ++u)
      if (i0 + u < end) {
        partial += v[u]; // NaN propagates into the total, as on the CPU
        if (v[u] > 0.0f) {
          mass += v[u];
          lastPositive = i0 + u;
        }
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
    bool done = false;
    for (i64 i0 = begin; i0 < end && !done; i0 += kRowLoads) {
      float v[kRowLoads];
      load_ahead(p, i0, end, v);
#pragma unroll
      for (int u = 0; u < kRowLoads; ++u)
        if (!done && v[u] > 0.0f) {
          run += v[u];
          if (run > target) {
            atomicMin(&found, (unsigned long long)(i0 + u));
            done = true;
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
