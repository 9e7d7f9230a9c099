#include "DType.h"

#include "Float16.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace chitu {

double elementAsDouble(DType t, const void *data, size_t i) {
  const auto *p = static_cast<const uint8_t *>(data) + i * dtypeSize(t);
  switch (t) {
  case DType::F32: {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case DType::F16:
  case DType::BF16: {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return t == DType::F16 ? f16ToFloat(h) : bf16ToFloat(h);
  }
  case DType::I32: {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case DType::I64: {
    int64_t v;
    std::memcpy(&v, p, 8);
    return double(v);
  }
  case DType::BOOL:
    return p[0] != 0;
  case DType::I8:
    return double(int8_t(p[0]));
  case DType::F8E4M3:
    return f8e4m3ToFloat(p[0]);
  }
  return 0;
}

float f8e4m3ToFloat(uint8_t bits) {
  if ((bits & 0x7f) == 0x7f)
    return std::numeric_limits<float>::quiet_NaN();
  // Exponent and mantissa moved into f32's fields, then 2^(127 - 7): exact for normal and
  // subnormal e4m3 values alike.
  uint32_t f = uint32_t(bits & 0x7f) << 20;
  float v;
  std::memcpy(&v, &f, 4);
  v *= 0x1p120f;
  return bits & 0x80 ? -v : v;
}

uint8_t floatToF8e4m3(float x) {
  if (std::isnan(x))
    return 0x7f;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  float a = std::fabs(x);
  if (a >= 448.0f)
    return sign | 0x7e;
  // The representable values around a: step 2^(e-3) in [2^e, 2^(e+1)) for e >= -6, 2^-9
  // below (subnormals). Round a / step to the nearest integer, ties to even, then rebuild.
  int e;
  std::frexp(a, &e); // a = m * 2^e, m in [0.5, 1)
  const int exponent = std::max(e - 1, -6);
  const float step = std::ldexp(1.0f, exponent - 3);
  const float q = std::nearbyint(a / step); // default rounding mode: ties to even
  const float v = q * step;
  // Re-encode v (exact in e4m3: q <= 16 steps of its binade).
  if (v == 0)
    return sign;
  int ve;
  const float vm = std::frexp(v, &ve); // v = vm * 2^ve
  const int biased = ve - 1 + 7;
  if (biased <= 0) // subnormal: v = mant * 2^-9
    return sign | uint8_t(int(v / 0x1p-9f));
  const int mant = int((vm * 2 - 1) * 8);
  return sign | uint8_t(biased << 3) | uint8_t(mant);
}

void convertFloats(const void *src, DType from, void *dst, DType to, size_t count) {
  auto *out = static_cast<uint8_t *>(dst);
  for (size_t i = 0; i < count; ++i) {
    float v = float(elementAsDouble(from, src, i));
    switch (to) {
    case DType::F32:
      std::memcpy(out + 4 * i, &v, 4);
      break;
    case DType::F16: {
      uint16_t h = floatToF16(v);
      std::memcpy(out + 2 * i, &h, 2);
      break;
    }
    case DType::BF16: {
      uint16_t h = floatToBf16(v);
      std::memcpy(out + 2 * i, &h, 2);
      break;
    }
    default:
      break;
    }
  }
}

} // namespace chitu
