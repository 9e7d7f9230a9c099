#include "DType.h"

#include "Float16.h"

#include <cstring>

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
  }
  return 0;
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
