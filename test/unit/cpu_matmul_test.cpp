// The CPU executor's fast products (runtime/cpu/CpuMatmul.h) and its thread pool: every
// instruction set this CPU has against a plain double-precision loop, on ragged shapes.
#include "cpu/CpuMatmul.h"
#include "cpu/ThreadPool.h"
#include "support/Float16.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace chitu;
using namespace chitu::rt;

namespace {

struct Stored {
  std::vector<uint8_t> bytes;
  std::vector<float> values; // what the stored elements decode to
};

Stored store(const std::vector<float> &v, DType t) {
  Stored s;
  size_t eb = t == DType::F32 ? 4 : 2;
  s.bytes.resize(v.size() * eb);
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(&s.bytes[4 * i], &v[i], 4);
      s.values.push_back(v[i]);
      continue;
    }
    uint16_t h = t == DType::BF16 ? floatToBf16(v[i]) : floatToF16(v[i]);
    std::memcpy(&s.bytes[2 * i], &h, 2);
    s.values.push_back(t == DType::BF16 ? bf16ToFloat(h) : f16ToFloat(h));
  }
  return s;
}

TEST(CpuMatmul, EveryIsaMatchesDoubleLoop) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  struct Shape {
    int64_t M, N, K;
  };
  // K and N around the vector widths (8, 16) and their multiples, M around the 4-row blocks.
  const Shape shapes[] = {{1, 1, 1},    {1, 37, 64},  {3, 5, 17},    {4, 16, 16},
                          {5, 33, 129}, {9, 70, 200}, {1, 300, 515}, {17, 3, 8}};
  int checked = 0;
  for (cpu::Isa isa : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512}) {
    if (!cpu::isaSupported(isa)) {
      std::printf("[ SKIPPED  ] %s: this CPU lacks it\n", cpu::isaName(isa));
      continue;
    }
    for (DType t : {DType::F32, DType::F16, DType::BF16})
      for (bool rowsAreColumns : {true, false})
        for (const Shape &sh : shapes)
          for (bool parallel : {false, true})
            for (cpu::Accumulate acc : {cpu::Accumulate::Double, cpu::Accumulate::Float}) {
              std::vector<float> a(size_t(sh.M * sh.K)), bv(size_t(sh.N * sh.K));
              for (float &x : a)
                x = normal(rng);
              for (float &x : bv)
                x = normal(rng);
              Stored b = store(bv, t);
              std::vector<float> out(size_t(sh.M * sh.N), NAN);
              cpu::matmulRows(isa, a.data(), b.bytes.data(), t, rowsAreColumns, sh.M, sh.N, sh.K,
                              out.data(), parallel, acc);
              for (int64_t m = 0; m < sh.M; ++m)
                for (int64_t n = 0; n < sh.N; ++n) {
                  double want = 0, scale = 0;
                  for (int64_t k = 0; k < sh.K; ++k) {
                    double bk = b.values[size_t(rowsAreColumns ? n * sh.K + k : k * sh.N + n)];
                    want += double(a[size_t(m * sh.K + k)]) * bk;
                    scale += std::fabs(double(a[size_t(m * sh.K + k)]) * bk);
                  }
                  // Sums in double in another order: the f32 results agree to their rounding;
                  // sums in f32 within K roundings of the magnitudes' sum.
                  double tolerance = acc == cpu::Accumulate::Double || !rowsAreColumns
                                         ? 1e-6 * scale
                                         : 1.2e-7 * double(sh.K + 1) * scale;
                  ASSERT_NEAR(out[size_t(m * sh.N + n)], want, tolerance + 1e-30)
                      << cpu::isaName(isa) << " " << dtypeName(t) << " rowsAreColumns "
                      << rowsAreColumns << " M " << sh.M << " N " << sh.N << " K " << sh.K
                      << " accumulate " << int(acc) << " at " << m << "," << n;
                }
              ++checked;
            }
  }
  EXPECT_GE(checked, 192);
}

TEST(CpuMatmul, NonFiniteValuesPropagate) {
  // An infinite weight gives an infinite sum, a NaN a NaN, on every instruction set.
  for (cpu::Isa isa : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512}) {
    if (!cpu::isaSupported(isa))
      continue;
    std::vector<float> a(40, 1.0f), b(80, 0.5f), out(2);
    b[33] = INFINITY;
    b[40 + 39] = NAN;
    for (cpu::Accumulate acc : {cpu::Accumulate::Double, cpu::Accumulate::Float}) {
      cpu::matmulRows(isa, a.data(), b.data(), DType::F32, true, 1, 2, 40, out.data(), true, acc);
      EXPECT_TRUE(std::isinf(out[0])) << cpu::isaName(isa);
      EXPECT_TRUE(std::isnan(out[1])) << cpu::isaName(isa);
    }
  }
}

TEST(ThreadPool, RunsEveryIndexOnceAndNestsSerially) {
  EXPECT_GE(cpu::numThreads(), 1);
  for (int64_t count : {0, 1, 2, 7, 1000}) {
    std::vector<std::atomic<int>> hits(size_t(count) + 1);
    cpu::parallelFor(count, [&](int64_t i) {
      hits[size_t(i)]++;
      // A nested call runs on the calling thread instead of waiting on the pool.
      std::atomic<int> inner{0};
      cpu::parallelFor(3, [&](int64_t) { inner++; });
      EXPECT_EQ(inner.load(), 3);
    });
    for (int64_t i = 0; i < count; ++i)
      EXPECT_EQ(hits[size_t(i)].load(), 1) << "index " << i << " of " << count;
    EXPECT_EQ(hits[size_t(count)].load(), 0);
  }
}

} // namespace
