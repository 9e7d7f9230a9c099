#include "Quantize.h"

#include <cmath>
#include <vector>

namespace chitu {

bool quantizeInt8Rows(const void *src, DType srcType, int64_t rows, int64_t cols, int8_t *values,
                      float *scales, int64_t &badRow) {
  std::vector<float> row(size_t(cols > 0 ? cols : 0));
  for (int64_t r = 0; r < rows; ++r) {
    convertFloats(static_cast<const uint8_t *>(src) + size_t(r * cols) * dtypeSize(srcType),
                  srcType, row.data(), DType::F32, size_t(cols));
    float maxAbs = 0;
    for (float x : row) {
      if (!std::isfinite(x)) {
        badRow = r;
        return false;
      }
      maxAbs = std::max(maxAbs, std::fabs(x));
    }
    const float scale = maxAbs > 0 ? maxAbs / 127.0f : 1.0f;
    scales[r] = scale;
    for (int64_t c = 0; c < cols; ++c) {
      // nearbyint rounds half to even in the default rounding mode; |x| <= 127 * scale
      // up to the division's rounding, so the clamp only catches that last ulp.
      float q = std::nearbyint(row[size_t(c)] / scale);
      values[r * cols + c] = int8_t(std::fmax(-127.0f, std::fmin(127.0f, q)));
    }
  }
  return true;
}

} // namespace chitu
