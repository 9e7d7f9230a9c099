// Element types of tensors, shared by the runtime, the tools and the compiler. The numeric
// values are those of chitu::cbin::DType in the .cbin schema and of chitu_dtype in chitu.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace chitu {

// BOOL: one byte per element, 0 or 1 (comparison results, masks). I8: signed bytes, the
// values of int8-quantized weights; F8E4M3: fp8 e4m3 ("fn": no infinities, 0x7f/0xff NaN,
// largest 448), the values of fp8-quantized weights (docs/precision.md).
enum class DType : int8_t {
  F32 = 0,
  F16 = 1,
  BF16 = 2,
  I32 = 3,
  I64 = 4,
  BOOL = 5,
  I8 = 6,
  F8E4M3 = 7
};
constexpr int kNumDTypes = 8;

inline bool isValidDType(int v) { return v >= 0 && v < kNumDTypes; }

inline size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F32:
    return 4;
  case DType::F16:
    return 2;
  case DType::BF16:
    return 2;
  case DType::I32:
    return 4;
  case DType::I64:
    return 8;
  case DType::BOOL:
  case DType::I8:
  case DType::F8E4M3:
    return 1;
  }
  return 0;
}

inline bool isFloat(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Lower-case names as in MLIR types: "f32", "bf16", "i64".
inline const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::BOOL:
    return "i1";
  case DType::I8:
    return "i8";
  case DType::F8E4M3:
    return "f8E4M3FN";
  }
  return "?";
}

// fp8 e4m3 (fn) bits as a float (NaN for 0x7f and 0xff), and a float rounded to the
// nearest e4m3 value (ties to even), saturating at +-448; NaN stays NaN.
float f8e4m3ToFloat(uint8_t bits);
uint8_t floatToF8e4m3(float x);

// Element `i` of a buffer of `t` values, widened to double (exact for every dtype's
// values except i64 beyond 2^53).
double elementAsDouble(DType t, const void *data, size_t i);

// Converts `count` float values between f32, f16 and bf16 (rounding to nearest even).
void convertFloats(const void *src, DType from, void *dst, DType to, size_t count);

inline std::optional<DType> parseDTypeName(std::string_view s) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (s == dtypeName(DType(i)))
      return DType(i);
  return std::nullopt;
}

} // namespace chitu
