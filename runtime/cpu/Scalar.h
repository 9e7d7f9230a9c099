// Scalar semantics of chitu's ops, shared by every CPU op and mirrored line by line in the
// CUDA kernels (kernels/common.cuh): NaN-propagating max/min, wrapping integer arithmetic,
// integer division by zero giving 0, saturating float-to-int casts.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace chitu::rt::cpu::scalar {

inline float maxF(float a, float b) { return (a > b || a != a) ? a : b; }
inline float minF(float a, float b) { return (a < b || a != a) ? a : b; }

template <typename I> I wrapAdd(I a, I b) {
  using U = std::make_unsigned_t<I>;
  return I(U(a) + U(b));
}
template <typename I> I wrapSub(I a, I b) {
  using U = std::make_unsigned_t<I>;
  return I(U(a) - U(b));
}
template <typename I> I wrapMul(I a, I b) {
  using U = std::make_unsigned_t<I>;
  return I(U(a) * U(b));
}
template <typename I> I wrapNeg(I a) {
  using U = std::make_unsigned_t<I>;
  return I(U(0) - U(a));
}
// Truncating division; x/0 = 0 and MIN/-1 = MIN (both would trap or be undefined in C++).
template <typename I> I intDiv(I a, I b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return wrapNeg(a);
  return a / b;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
inline float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float geluTanh(float x) {
  return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
inline float relu(float x) { return (x > 0.0f || x != x) ? x : 0.0f; }
inline float rsqrt(float x) { return 1.0f / std::sqrt(x); }

// Float to integer: truncation toward zero, saturating at the type's limits, NaN to 0.
template <typename I> I floatToInt(float x) {
  if (x != x)
    return 0;
  if (x >= float(std::numeric_limits<I>::max()))
    return std::numeric_limits<I>::max();
  if (x <= float(std::numeric_limits<I>::min()))
    return std::numeric_limits<I>::min();
  return I(x);
}

// The uniform draw in [0, 1) of chitu.multinomial for a seed (splitmix64 finaliser, 53 bits);
// kernels/common.cuh has the same function.
inline double uniformFromSeed(uint64_t seed) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53;
}

} // namespace chitu::rt::cpu::scalar
