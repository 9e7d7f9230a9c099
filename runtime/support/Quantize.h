// Weight quantization formats, shared by chitu-compile (embedded weights) and the runtime
// (external weights, quantized when the model loads), so both produce the same bytes.
#pragma once

#include "DType.h"

#include <cstdint>
#include <string>
#include <vector>

namespace chitu {

// Weights quantized per row (output channel) of a [rows, cols] float matrix, one f32 scale
// a row: a matrix-vector product then reads 1 byte a weight and one scale a row,
// y[r] = scale[r] * sum_c values[r, c] * a[c].
//   Int8:    scale[r] = max_c |x[r, c]| / 127 (1 for an all-zero row), values = x / scale
//            rounded half to even, in [-127, 127] (int8_t).
//   Fp8E4M3: scale[r] = max_c |x[r, c]| / 448, values = x / scale rounded to the nearest
//            fp8 e4m3 value (ties to even, within +-448; floatToF8e4m3).
enum class RowFormat { Int8, Fp8E4M3 };

// Largest magnitude of a format's values: 127 or 448.
float rowFormatMax(RowFormat format);

// Quantizes all rows (in parallel over the hardware threads). Returns false, with the row in
// `badRow`, when a row holds a NaN or an infinity (nothing sensible to scale).
bool quantizeRows(RowFormat format, const void *src, DType srcType, int64_t rows, int64_t cols,
                  uint8_t *values, float *scales, int64_t &badRow);

// int4 weights in groups of `group` consecutive elements of a row (group 32, 64 or 128, a
// divisor of cols), packed two a byte: byte b of a row holds element 2b in its low nibble and
// 2b + 1 in its high nibble, as unsigned u in [0, 15]; element = (u - zero) * scale, with one
// f32 scale (and zero) per group ([rows, cols / group] each).
//   symmetric:  scale = max|group| / 7.5, zero = 8 (implicit, not stored), u = clamp(round(x /
//               scale) + 8, 0, 15): the step is 2 max / 15 and +max lands on 7 (half a step).
//   asymmetric: lo = min(min group, 0), hi = max(max group, 0), scale = (hi - lo) / 15, zero
//               = clamp(round(-lo / scale), 0, 15) (an integer, as GPTQ and AWQ store it), u =
//               clamp(round(x / scale) + zero, 0, 15).
// Every element is within half a step (scale / 2) of its value; an all-zero group has scale 1.
enum class Int4Scheme { Symmetric, Asymmetric };

// Whether `group` is a supported int4 group size (32, 64, 128): the one list the dialect's
// verifiers, the compiler's flags and rules, and the loader check against.
inline bool isInt4GroupSize(int64_t group) { return group == 32 || group == 64 || group == 128; }

// Quantizes all rows (cols % group == 0; in parallel). `zeros` is written for the asymmetric
// scheme only (may be null for the symmetric one). False, with the row in `badRow`, at a NaN or
// an infinity.
bool quantizeInt4Groups(Int4Scheme scheme, int64_t group, const void *src, DType srcType,
                        int64_t rows, int64_t cols, uint8_t *values, float *scales, float *zeros,
                        int64_t &badRow);

// A weight matrix's quantization and its parts, made in one pass over the source.
enum class WeightScheme { Int8Rows, Fp8Rows, Int4Sym, Int4Asym };
enum class WeightPart { Values, Scales, Zeros };
struct QuantizedWeight {
  std::vector<uint8_t> values; // int8 / e4m3 [rows, cols], or packed int4 [rows, cols / 2]
  std::vector<float> scales;   // [rows, 1] or [rows, cols / group]
  std::vector<float> zeros;    // int4 asymmetric only: [rows, cols / group]
  // The bytes of one part.
  const void *data(WeightPart part) const;
  size_t bytes(WeightPart part) const;
};

// Quantizes a [rows, cols] float matrix in `scheme` (`group` for int4, cols % group == 0).
// False, with the row in `badRow`, at a NaN or an infinity.
bool quantizeWeight(WeightScheme scheme, int64_t group, const void *src, DType srcType,
                    int64_t rows, int64_t cols, QuantizedWeight &out, int64_t &badRow);

// Element (r, c) of packed int4 values as its unsigned nibble (0..15).
inline int int4Nibble(const uint8_t *values, int64_t cols, int64_t r, int64_t c) {
  const uint8_t byte = values[r * (cols / 2) + c / 2];
  return (c & 1) ? byte >> 4 : byte & 15;
}

} // namespace chitu
