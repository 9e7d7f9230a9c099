// Conversions between float and the 16-bit float formats, bit-exact with the CUDA kernels
// (kernels/common.cuh): round to nearest even, NaN stays NaN, overflow goes to infinity.
#pragma once

#include <cstdint>
#include <cstring>

namespace chitu {

inline uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16ToFloat(uint16_t h) { return bitsToFloat(uint32_t(h) << 16); }

inline uint16_t floatToBf16(float f) {
  uint32_t u = floatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet and a NaN
    return uint16_t((u >> 16) | 0x40);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return uint16_t(u >> 16);
}

inline float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return bitsToFloat(bits);
}

inline uint16_t floatToF16(float f) {
  uint32_t u = floatBits(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t absBits = u & 0x7fffffffu;
  if (absBits > 0x7f800000u) // NaN
    return uint16_t(sign | 0x7e00u);
  if (absBits >= 0x477ff000u) // rounds to >= 65520: infinity
    return uint16_t(sign | 0x7c00u);
  int32_t exp = int32_t(absBits >> 23) - 127;
  uint32_t mant = absBits & 0x7fffffu;
  if (exp >= -14) { // normal half
    uint32_t half = uint32_t(exp + 15) << 10 | mant >> 13;
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
      ++half; // may carry into the exponent, which is the right result
    return uint16_t(sign | half);
  }
  if (exp < -25) // below half the smallest subnormal: zero
    return sign;
  // subnormal half: value = m * 2^-24
  mant |= 0x800000u;
  int shift = -exp - 1; // 24-bit significand scaled to units of 2^-24
  uint32_t half = mant >> shift;
  uint32_t rest = mant & ((1u << shift) - 1);
  uint32_t halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (half & 1u)))
    ++half;
  return uint16_t(sign | half);
}

inline float roundToBf16(float f) { return bf16ToFloat(floatToBf16(f)); }
inline float roundToF16(float f) { return f16ToFloat(floatToF16(f)); }

} // namespace chitu
