// The CPU executor's matrix products: every core (ThreadPool), AVX-512 or AVX2 where the
// CPU has them, and weights read where they are stored (bf16/f16/f32) instead of being
// converted to f32 first. Products of f32 values are exact in double and summed in double,
// as the scalar reference does (Accumulate::Double), so the result differs from it only by
// the order of the sums (a rounding of the f32 result, at most).
#pragma once

#include "support/DType.h"

#include <cstdint>
#include <string>

namespace chitu::rt::cpu {

enum class Isa { Scalar, Avx2, Avx512 };

// The best instruction set this CPU offers ($CHITU_CPU_ISA=scalar|avx2|avx512 caps it).
Isa bestIsa();
const char *isaName(Isa isa);
bool isaSupported(Isa isa);

// How a product sums: Double is the reference (exact products summed in double); Float
// sums f32 products in f32 lanes, as the GPU kernels do, and is faster (weights read once,
// converted in registers). Float applies where B is [N, K]; [K, N] always sums in double.
enum class Accumulate { Double, Float };

// out[m, n] = sum_k a[m, k] * b(k, n) for one pair of matrices: `a` is f32 [M, K] row-major;
// `b` holds elements of `bType` (F32, F16 or BF16), [N, K] row-major when bRowsAreColumns
// (a linear layer's weight) and [K, N] otherwise. `out` is f32 [M, N]. Runs on `isa`'s
// kernels; when `parallel`, on every pool thread.
void matmulRows(Isa isa, const float *a, const void *b, DType bType, bool bRowsAreColumns,
                int64_t M, int64_t N, int64_t K, float *out, bool parallel = true,
                Accumulate accumulate = Accumulate::Double);

} // namespace chitu::rt::cpu
