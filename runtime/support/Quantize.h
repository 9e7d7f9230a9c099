// Weight quantization formats, shared by chitu-compile (embedded weights) and the runtime
// (external weights, quantized when the model loads), so both produce the same bytes.
#pragma once

#include "DType.h"

#include <cstdint>
#include <string>

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

} // namespace chitu
