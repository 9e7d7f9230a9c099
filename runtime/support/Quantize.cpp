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

} // namespace

float rowFormatMax(RowFormat format) { return format == RowFormat::Int8 ? 127.0f : 448.0f; }

bool quantizeRows(RowFormat format, const void *src, DType srcType, int64_t rows, int64_t cols,
                  uint8_t *values, float *scales, int64_t &badRow) {
  // Rows split over the hardware threads: an 8B checkpoint quantizes ~7e9 weights at load.
  const auto *bytes = static_cast<const uint8_t *>(src);
  const int64_t threads =
      std::clamp<int64_t>(int64_t(std::thread::hardware_concurrency()), 1,
                          std::max<int64_t>(1, rows * cols / (int64_t(1) << 20)));
  std::vector<std::thread> workers;
  std::vector<int64_t> bad(size_t(threads), -1);
  auto part = [&](int64_t t) {
    int64_t begin = rows * t / threads, end = rows * (t + 1) / threads, row = -1;
    if (!quantizeRowRange(format, bytes, srcType, begin, end, cols, values, scales, row))
      bad[size_t(t)] = row;
  };
  for (int64_t t = 1; t < threads; ++t)
    workers.emplace_back(part, t);
  part(0);
  for (std::thread &w : workers)
    w.join();
  for (int64_t row : bad)
    if (row >= 0) {
      badRow = row;
      return false;
    }
  return true;
}

} // namespace chitu
