// Weight quantization formats, shared by chitu-compile (embedded weights) and the runtime
// (external weights, quantized when the model loads), so both produce the same bytes.
#pragma once

#include "DType.h"

#include <cstdint>
#include <string>

namespace chitu {

// int8 per row (output channel) of a [rows, cols] float matrix: scale[r] = max_c |x[r, c]| /
// 127 in f32 (1 for an all-zero row), values[r, c] = x / scale rounded half to even, in
// [-127, 127]. A matrix-vector product then reads 1 byte a weight and one scale a row:
// y[r] = scale[r] * sum_c values[r, c] * a[c]. Returns false, with the row in `badRow`, when
// a row holds a NaN or an infinity (nothing sensible to scale).
bool quantizeInt8Rows(const void *src, DType srcType, int64_t rows, int64_t cols, int8_t *values,
                      float *scales, int64_t &badRow);

} // namespace chitu
