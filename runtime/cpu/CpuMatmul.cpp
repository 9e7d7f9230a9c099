#include "CpuMatmul.h"

#include "ThreadPool.h"
#include "support/Float16.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
// GCC 12's AVX-512 headers start vectors from _mm512_undefined_*, which -Wmaybe-uninitialized
// and -Wuninitialized report in every caller.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#define CHITU_X86 1
#endif

namespace chitu::rt::cpu {
namespace {

// ---- the kernels, one set per instruction set ----------------------------------------------
//   toFloat: n stored elements -> f32
//   dot:     rows of sums: out[r] = sum_i a[r][i] * b[i] in double, for `rows` (1..4) rows
//            of A already in double (converted once per product, not once per column)
//   axpy:    acc[i] += s * b[i] in double

void toFloatScalar(const void *src, DType t, int64_t n, float *dst) {
  const uint16_t *h = static_cast<const uint16_t *>(src);
  if (t == DType::F32)
    std::memcpy(dst, src, size_t(n) * 4);
  else if (t == DType::BF16)
    for (int64_t i = 0; i < n; ++i)
      dst[i] = bf16ToFloat(h[i]);
  else
    for (int64_t i = 0; i < n; ++i)
      dst[i] = f16ToFloat(h[i]);
}

void dotScalar(const double *const *a, int rows, const float *b, int64_t n, double *out) {
  for (int r = 0; r < rows; ++r) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i)
      acc += a[r][i] * double(b[i]);
    out[r] = acc;
  }
}

void axpyScalar(double s, const float *b, int64_t n, double *acc) {
  for (int64_t i = 0; i < n; ++i)
    acc[i] += s * double(b[i]);
}

float storedAt(const void *b, DType t, int64_t i) {
  if (t == DType::F32)
    return static_cast<const float *>(b)[i];
  uint16_t h = static_cast<const uint16_t *>(b)[i];
  return t == DType::BF16 ? bf16ToFloat(h) : f16ToFloat(h);
}

// The f32 tiles: out[m * ldo + n] = sum_k a[m * K + k] * b_n[k] for MR rows of A and NR
// rows of B (stored as T, B row n at b + n * K elements), in f32: one accumulator per pair,
// so that each B element loaded serves MR rows, and NR rows of B stream at once (more
// loads in flight: a matrix-vector product reaches the memory bandwidth).
using TileFn = void (*)(const float *a, int64_t K, const uint8_t *b, float *out, int64_t ldo);
constexpr int kTileColumns = 4; // NR of the full tiles

template <int MR, int NR, DType T>
void tileScalar(const float *a, int64_t K, const uint8_t *b, float *out, int64_t ldo) {
  const size_t rowBytes = size_t(K) * dtypeSize(T);
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      float acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += a[m * K + k] * storedAt(b + n * rowBytes, T, k);
      out[m * ldo + n] = acc;
    }
}

#ifdef CHITU_X86
__attribute__((target("avx2,fma,f16c"))) void toFloatAvx2(const void *src, DType t, int64_t n,
                                                          float *dst) {
  const uint16_t *h = static_cast<const uint16_t *>(src);
  int64_t i = 0;
  if (t == DType::BF16)
    for (; i + 8 <= n; i += 8) {
      __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(h + i)));
      _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
  else if (t == DType::F16)
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i,
                       _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(h + i))));
  if (t == DType::F32)
    std::memcpy(dst, src, size_t(n) * 4);
  else if (i < n)
    toFloatScalar(h + i, t, n - i, dst + i);
}

__attribute__((target("avx2,fma"))) void dotAvx2(const double *const *a, int rows, const float *b,
                                                 int64_t n, double *out) {
  __m256d acc[4][2];
  for (int r = 0; r < 4; ++r)
    acc[r][0] = acc[r][1] = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256d b0 = _mm256_cvtps_pd(_mm_loadu_ps(b + i)),
            b1 = _mm256_cvtps_pd(_mm_loadu_ps(b + i + 4));
    for (int r = 0; r < rows; ++r) {
      acc[r][0] = _mm256_fmadd_pd(_mm256_loadu_pd(a[r] + i), b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_pd(_mm256_loadu_pd(a[r] + i + 4), b1, acc[r][1]);
    }
  }
  for (int r = 0; r < rows; ++r) {
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(acc[r][0], acc[r][1]));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (int64_t j = i; j < n; ++j)
      sum += a[r][j] * double(b[j]);
    out[r] = sum;
  }
}

__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const void *b, DType t, int64_t i) {
  if (t == DType::F32)
    return _mm256_loadu_ps(static_cast<const float *>(b) + i);
  __m128i h =
      _mm_loadu_si128(reinterpret_cast<const __m128i *>(static_cast<const uint16_t *>(b) + i));
  if (t == DType::F16)
    return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <int MR, int NR, DType T>
__attribute__((target("avx2,fma,f16c"))) void tileAvx2(const float *a, int64_t K, const uint8_t *b,
                                                       float *out, int64_t ldo) {
  const size_t rowBytes = size_t(K) * dtypeSize(T);
  __m256 acc[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n)
      acc[m][n] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 bv[NR];
    for (int n = 0; n < NR; ++n)
      bv[n] = load8(b + n * rowBytes, T, k);
    for (int m = 0; m < MR; ++m) {
      __m256 av = _mm256_loadu_ps(a + m * K + k);
      for (int n = 0; n < NR; ++n)
        acc[m][n] = _mm256_fmadd_ps(av, bv[n], acc[m][n]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      float lanes[8];
      _mm256_storeu_ps(lanes, acc[m][n]);
      float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                  ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
      for (int64_t j = k; j < K; ++j)
        sum += a[m * K + j] * storedAt(b + n * rowBytes, T, j);
      out[m * ldo + n] = sum;
    }
}

__attribute__((target("avx2,fma"))) void axpyAvx2(double s, const float *b, int64_t n,
                                                  double *acc) {
  __m256d vs = _mm256_set1_pd(s);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm256_storeu_pd(acc + i, _mm256_fmadd_pd(vs, _mm256_cvtps_pd(_mm_loadu_ps(b + i)),
                                              _mm256_loadu_pd(acc + i)));
  for (; i < n; ++i)
    acc[i] += s * double(b[i]);
}

__attribute__((target("avx512f"))) void toFloatAvx512(const void *src, DType t, int64_t n,
                                                      float *dst) {
  const uint16_t *h = static_cast<const uint16_t *>(src);
  int64_t i = 0;
  if (t == DType::BF16)
    for (; i + 16 <= n; i += 16) {
      __m512i w =
          _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(h + i)));
      _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
  else if (t == DType::F16)
    for (; i + 16 <= n; i += 16)
      _mm512_storeu_ps(
          dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(h + i))));
  if (t == DType::F32)
    std::memcpy(dst, src, size_t(n) * 4);
  else if (i < n)
    toFloatScalar(h + i, t, n - i, dst + i);
}

__attribute__((target("avx512f"))) void dotAvx512(const double *const *a, int rows, const float *b,
                                                  int64_t n, double *out) {
  __m512d acc[4][2];
  for (int r = 0; r < 4; ++r)
    acc[r][0] = acc[r][1] = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512d b0 = _mm512_cvtps_pd(_mm256_loadu_ps(b + i)),
            b1 = _mm512_cvtps_pd(_mm256_loadu_ps(b + i + 8));
    for (int r = 0; r < rows; ++r) {
      acc[r][0] = _mm512_fmadd_pd(_mm512_loadu_pd(a[r] + i), b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_pd(_mm512_loadu_pd(a[r] + i + 8), b1, acc[r][1]);
    }
  }
  for (int r = 0; r < rows; ++r) {
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(acc[r][0], acc[r][1]));
    for (int64_t j = i; j < n; ++j)
      sum += a[r][j] * double(b[j]);
    out[r] = sum;
  }
}

__attribute__((target("avx512f"))) inline __m512 load16(const void *b, DType t, int64_t i) {
  if (t == DType::F32)
    return _mm512_loadu_ps(static_cast<const float *>(b) + i);
  __m256i h =
      _mm256_loadu_si256(reinterpret_cast<const __m256i *>(static_cast<const uint16_t *>(b) + i));
  if (t == DType::F16)
    return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

template <int MR, int NR, DType T>
__attribute__((target("avx512f"))) void tileAvx512(const float *a, int64_t K, const uint8_t *b,
                                                   float *out, int64_t ldo) {
  const size_t rowBytes = size_t(K) * dtypeSize(T);
  __m512 acc[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n)
      acc[m][n] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 bv[NR];
    for (int n = 0; n < NR; ++n)
      bv[n] = load16(b + n * rowBytes, T, k);
    for (int m = 0; m < MR; ++m) {
      __m512 av = _mm512_loadu_ps(a + m * K + k);
      for (int n = 0; n < NR; ++n)
        acc[m][n] = _mm512_fmadd_ps(av, bv[n], acc[m][n]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      float sum = _mm512_reduce_add_ps(acc[m][n]);
      for (int64_t j = k; j < K; ++j)
        sum += a[m * K + j] * storedAt(b + n * rowBytes, T, j);
      out[m * ldo + n] = sum;
    }
}

__attribute__((target("avx512f"))) void axpyAvx512(double s, const float *b, int64_t n,
                                                   double *acc) {
  __m512d vs = _mm512_set1_pd(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm512_storeu_pd(acc + i, _mm512_fmadd_pd(vs, _mm512_cvtps_pd(_mm256_loadu_ps(b + i)),
                                              _mm512_loadu_pd(acc + i)));
  for (; i < n; ++i)
    acc[i] += s * double(b[i]);
}
#endif

struct Kernels {
  void (*toFloat)(const void *, DType, int64_t, float *);
  void (*dot)(const double *const *, int, const float *, int64_t, double *);
  void (*axpy)(double, const float *, int64_t, double *);
};

// The tile for MR (1..maxTileRows) rows of A and NR (1 or kTileColumns) rows of B of type t.
template <template <int, int, DType> class Tile, int MR, int NR> TileFn tileOfType(DType t) {
  return t == DType::F32   ? Tile<MR, NR, DType::F32>::fn
         : t == DType::F16 ? Tile<MR, NR, DType::F16>::fn
                           : Tile<MR, NR, DType::BF16>::fn;
}
template <template <int, int, DType> class Tile, int NR> TileFn tileOfRows(int mr, DType t) {
  switch (mr) {
  case 1:
    return tileOfType<Tile, 1, NR>(t);
  case 2:
    return tileOfType<Tile, 2, NR>(t);
  case 3:
    return tileOfType<Tile, 3, NR>(t);
  default:
    return tileOfType<Tile, 4, NR>(t);
  }
}
template <int MR, int NR, DType T> struct ScalarTile {
  static constexpr TileFn fn = tileScalar<MR, NR, T>;
};
#ifdef CHITU_X86
template <int MR, int NR, DType T> struct Avx2Tile {
  static constexpr TileFn fn = tileAvx2<MR, NR, T>;
};
template <int MR, int NR, DType T> struct Avx512Tile {
  static constexpr TileFn fn = tileAvx512<MR, NR, T>;
};
#endif

// AVX2 has 16 vector registers: tiles of 2 x 4 accumulators; AVX-512's 32 hold 4 x 4.
int maxTileRows(Isa isa) { return isa == Isa::Avx2 ? 2 : 4; }

TileFn tileFor(Isa isa, int mr, int nr, DType t) {
#ifdef CHITU_X86
  if (isa == Isa::Avx512)
    return nr == 1 ? tileOfRows<Avx512Tile, 1>(mr, t) : tileOfRows<Avx512Tile, kTileColumns>(mr, t);
  if (isa == Isa::Avx2)
    return nr == 1 ? tileOfRows<Avx2Tile, 1>(mr, t) : tileOfRows<Avx2Tile, kTileColumns>(mr, t);
#endif
  return nr == 1 ? tileOfRows<ScalarTile, 1>(mr, t) : tileOfRows<ScalarTile, kTileColumns>(mr, t);
}

Kernels kernelsFor(Isa isa) {
#ifdef CHITU_X86
  if (isa == Isa::Avx512)
    return {toFloatAvx512, dotAvx512, axpyAvx512};
  if (isa == Isa::Avx2)
    return {toFloatAvx2, dotAvx2, axpyAvx2};
#endif
  (void)isa;
  return {toFloatScalar, dotScalar, axpyScalar};
}

} // namespace

bool isaSupported(Isa isa) {
#ifdef CHITU_X86
  switch (isa) {
  case Isa::Scalar:
    return true;
  case Isa::Avx2:
    // Every CPU with AVX2 has F16C (it came first), which older compilers cannot query.
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case Isa::Avx512:
    return __builtin_cpu_supports("avx512f");
  }
  return false;
#else
  return isa == Isa::Scalar;
#endif
}

Isa bestIsa() {
  static Isa best = [] {
    Isa cap = Isa::Avx512;
    if (const char *env = std::getenv("CHITU_CPU_ISA")) {
      std::string s = env;
      cap = s == "scalar" ? Isa::Scalar : s == "avx2" ? Isa::Avx2 : Isa::Avx512;
    }
    for (Isa isa : {Isa::Avx512, Isa::Avx2})
      if (int(isa) <= int(cap) && isaSupported(isa))
        return isa;
    return Isa::Scalar;
  }();
  return best;
}

const char *isaName(Isa isa) {
  switch (isa) {
  case Isa::Avx512:
    return "avx512";
  case Isa::Avx2:
    return "avx2";
  case Isa::Scalar:
    break;
  }
  return "scalar";
}

void matmulRows(Isa isa, const float *a, const void *b, DType bType, bool bRowsAreColumns,
                int64_t M, int64_t N, int64_t K, float *out, bool parallel, Accumulate accumulate) {
  if (M == 0 || N == 0)
    return;
  const Kernels kern = kernelsFor(isa);
  const uint8_t *bBytes = static_cast<const uint8_t *>(b);
  const size_t eb = dtypeSize(bType);
  // Columns in chunks: enough chunks to keep every thread busy and balanced (16 a thread),
  // each big enough to be worth a task (about 64K multiply-adds), whole tiles of columns.
  const int64_t threads = parallel ? numThreads() : 1;
  const int64_t macsPerColumn = std::max<int64_t>(M * K, 1);
  int64_t chunk = std::max<int64_t>((N + 16 * threads - 1) / (16 * threads),
                                    (int64_t(1) << 16) / macsPerColumn);
  chunk = std::clamp<int64_t>((chunk + kTileColumns - 1) / kTileColumns * kTileColumns, 1, N);
  const int64_t numChunks = (N + chunk - 1) / chunk;
  const bool inFloat = accumulate == Accumulate::Float && bRowsAreColumns;
  std::vector<double> aWide;
  if (bRowsAreColumns && !inFloat)
    aWide.assign(a, a + M * K);
  const int64_t tileRows = maxTileRows(isa);
  // A's rows in blocks that stay in the core's cache while the chunk's columns pass.
  const int64_t blockRows =
      std::max<int64_t>(tileRows, (int64_t(1) << 19) / (4 * K) / tileRows * tileRows);
  auto task = [&](int64_t c) {
    const int64_t n0 = c * chunk, n1 = std::min(N, n0 + chunk);
    if (inFloat) {
      for (int64_t m0 = 0; m0 < M; m0 += blockRows) {
        const int64_t m1 = std::min(M, m0 + blockRows);
        for (int64_t n = n0; n < n1;) {
          const int nr = n1 - n >= kTileColumns ? kTileColumns : 1;
          const uint8_t *bRows = bBytes + size_t(n) * size_t(K) * eb;
          for (int64_t m = m0; m < m1; m += tileRows) {
            const int mr = int(std::min<int64_t>(tileRows, m1 - m));
            tileFor(isa, mr, nr, bType)(a + m * K, K, bRows, out + m * N + n, N);
          }
          n += nr;
        }
      }
    } else if (bRowsAreColumns) {
      // Each of the chunk's B rows once in f32, then its dot product with every A row.
      std::vector<float> row(bType == DType::F32 ? 0 : size_t(K));
      double sums[4];
      for (int64_t n = n0; n < n1; ++n) {
        const void *src = bBytes + size_t(n) * size_t(K) * eb;
        const float *bf = static_cast<const float *>(src);
        if (bType != DType::F32) {
          kern.toFloat(src, bType, K, row.data());
          bf = row.data();
        }
        for (int64_t m = 0; m < M; m += 4) {
          int rows = int(std::min<int64_t>(4, M - m));
          const double *ap[4];
          for (int r = 0; r < rows; ++r)
            ap[r] = aWide.data() + (m + r) * K;
          kern.dot(ap, rows, bf, K, sums);
          for (int r = 0; r < rows; ++r)
            out[(m + r) * N + n] = float(sums[r]);
        }
      }
    } else {
      // B is [K, N]: each row k's part in this chunk scaled into every A row's sums.
      const int64_t width = n1 - n0;
      std::vector<double> acc(size_t(M * width), 0.0);
      std::vector<float> part(static_cast<size_t>(width));
      for (int64_t k = 0; k < K; ++k) {
        kern.toFloat(bBytes + (size_t(k) * size_t(N) + size_t(n0)) * eb, bType, width, part.data());
        for (int64_t m = 0; m < M; ++m)
          kern.axpy(double(a[m * K + k]), part.data(), width, acc.data() + m * width);
      }
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = n0; n < n1; ++n)
          out[m * N + n] = float(acc[size_t(m * width + (n - n0))]);
    }
  };
  if (parallel)
    parallelFor(numChunks, task);
  else
    for (int64_t c = 0; c < numChunks; ++c)
      task(c);
}

} // namespace chitu::rt::cpu
