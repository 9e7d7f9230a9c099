#include "Quantize.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

namespace chitu {

namespace {

// Rows [begin, end); false with the row in badRow at a NaN or an infinity.
bool quantizeRowRange(RowFormat format, const uint8_t *src, DType srcType, int64_t begin,
                      int64_t end, int64_t cols, uint8_t *values, float *scales, int64_t &badRow) {
  const float limit = rowFormatMax(format);
  std::vector<float> row(size_t(cols > 0 ? cols : 0));
  for (int64_t r = begin; r < end; ++r) {
    convertFloats(src + size_t(r * cols) * dtypeSize(srcType), srcType, row.data(), DType::F32,
                  size_t(cols));
    float maxAbs = 0;
    for (float x : row) {
      if (!std::isfinite(x)) {
        badRow = r;
        return false;
      }
      maxAbs = std::max(maxAbs, std::fabs(x));
    }
    const float scale = maxAbs > 0 ? maxAbs / limit : 1.0f;
    scales[r] = scale;
    uint8_t *out = values + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float x = row[size_t(c)] / scale;
      if (format == RowFormat::Fp8E4M3) {
        out[c] = floatToF8e4m3(x); // saturates at +-448
        continue;
      }
      // nearbyint rounds half to even in the default rounding mode; |x| <= 127 up to the
      // division's rounding, so the clamp only catches that last ulp.
      const float q = std::nearbyint(x);
      out[c] = uint8_t(int8_t(std::fmax(-127.0f, std::fmin(127.0f, q))));
    }
  }
  return true;
}

// Rows [begin, end) of int4 groups; false with the row in badRow at a NaN or an infinity.
bool quantizeInt4Range(Int4Scheme scheme, int64_t group, const uint8_t *src, DType srcType,
                       int64_t begin, int64_t end, int64_t cols, uint8_t *values, float *scales,
                       float *zeros, int64_t &badRow) {
  std::vector<float> row(size_t(cols > 0 ? cols : 0));
  std::vector<uint8_t> nibbles(row.size());
  const int64_t groups = cols / group;
  for (int64_t r = begin; r < end; ++r) {
    convertFloats(src + size_t(r * cols) * dtypeSize(srcType), srcType, row.data(), DType::F32,
                  size_t(cols));
    for (int64_t g = 0; g < groups; ++g) {
      const float *x = row.data() + g * group;
      float lo = 0, hi = 0, maxAbs = 0;
      for (int64_t i = 0; i < group; ++i) {
        if (!std::isfinite(x[i])) {
          badRow = r;
          return false;
        }
        lo = std::min(lo, x[i]), hi = std::max(hi, x[i]),
        maxAbs = std::max(maxAbs, std::fabs(x[i]));
      }
      float scale, zero;
      if (scheme == Int4Scheme::Symmetric) {
        scale = maxAbs > 0 ? maxAbs / 7.5f : 1.0f;
        zero = 8;
      } else {
        scale = hi > lo ? (hi - lo) / 15.0f : 1.0f;
        zero = std::fmax(0.0f, std::fmin(15.0f, std::nearbyint(-lo / scale)));
        zeros[r * groups + g] = zero;
      }
      scales[r * groups + g] = scale;
      for (int64_t i = 0; i < group; ++i)
        nibbles[size_t(g * group + i)] =
            uint8_t(std::fmax(0.0f, std::fmin(15.0f, std::nearbyint(x[i] / scale) + zero)));
    }
    uint8_t *out = values + r * (cols / 2);
    for (int64_t c = 0; c < cols; c += 2)
      out[c / 2] = uint8_t(nibbles[size_t(c)] | (nibbles[size_t(c + 1)] << 4));
  }
  return true;
}

// Runs part(begin, end, badRow) over row ranges on the hardware threads (an 8B checkpoint
// quantizes ~7e9 weights at load); false with the first failing range's row.
template <typename Part> bool parallelRows(int64_t rows, int64_t cols, int64_t &badRow, Part part) {
  const int64_t threads =
      std::clamp<int64_t>(int64_t(std::thread::hardware_concurrency()), 1,
                          std::max<int64_t>(1, rows * cols / (int64_t(1) << 20)));
  std::vector<std::thread> workers;
  std::vector<int64_t> bad(size_t(threads), -1);
  auto run = [&](int64_t t) {
    int64_t row = -1;
    if (!part(rows * t / threads, rows * (t + 1) / threads, row))
      bad[size_t(t)] = row;
  };
  for (int64_t t = 1; t < threads; ++t)
    workers.emplace_back(run, t);
  run(0);
  for (std::thread &w : workers)
    w.join();
  for (int64_t row : bad)
    if (row >= 0) {
      badRow = row;
      return false;
    }
  return true;
}

} // namespace

bool quantizeInt4Groups(Int4Scheme scheme, int64_t group, const void *src, DType srcType,
                        int64_t rows, int64_t cols, uint8_t *values, float *scales, float *zeros,
                        int64_t &badRow) {
  const auto *bytes = static_cast<const uint8_t *>(src);
  return parallelRows(rows, cols, badRow, [&](int64_t begin, int64_t end, int64_t &row) {
    return quantizeInt4Range(scheme, group, bytes, srcType, begin, end, cols, values, scales, zeros,
                             row);
  });
}

float rowFormatMax(RowFormat format) { return format == RowFormat::Int8 ? 127.0f : 448.0f; }

bool quantizeRows(RowFormat format, const void *src, DType srcType, int64_t rows, int64_t cols,
                  uint8_t *values, float *scales, int64_t &badRow) {
  const auto *bytes = static_cast<const uint8_t *>(src);
  return parallelRows(rows, cols, badRow, [&](int64_t begin, int64_t end, int64_t &row) {
    return quantizeRowRange(format, bytes, srcType, begin, end, cols, values, scales, row);
  });
}

const void *QuantizedWeight::data(WeightPart part) const {
  return part == WeightPart::Values   ? static_cast<const void *>(values.data())
         : part == WeightPart::Scales ? static_cast<const void *>(scales.data())
                                      : static_cast<const void *>(zeros.data());
}

size_t QuantizedWeight::bytes(WeightPart part) const {
  return part == WeightPart::Values   ? values.size()
         : part == WeightPart::Scales ? scales.size() * sizeof(float)
                                      : zeros.size() * sizeof(float);
}

bool quantizeWeight(WeightScheme scheme, int64_t group, const void *src, DType srcType,
                    int64_t rows, int64_t cols, QuantizedWeight &out, int64_t &badRow) {
  if (scheme == WeightScheme::Int8Rows || scheme == WeightScheme::Fp8Rows) {
    out.values.resize(size_t(rows * cols));
    out.scales.resize(size_t(rows));
    return quantizeRows(scheme == WeightScheme::Fp8Rows ? RowFormat::Fp8E4M3 : RowFormat::Int8, src,
                        srcType, rows, cols, out.values.data(), out.scales.data(), badRow);
  }
  const bool asym = scheme == WeightScheme::Int4Asym;
  out.values.resize(size_t(rows * (cols / 2)));
  out.scales.resize(size_t(rows * (cols / group)));
  out.zeros.resize(asym ? out.scales.size() : 0);
  return quantizeInt4Groups(asym ? Int4Scheme::Asymmetric : Int4Scheme::Symmetric, group, src,
                            srcType, rows, cols, out.values.data(), out.scales.data(),
                            asym ? out.zeros.data() : nullptr, badRow);
}

} // namespace chitu
