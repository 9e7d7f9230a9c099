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
  }
  return 0;
}

} // namespace chitu
