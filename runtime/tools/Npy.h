// Reading and writing NumPy .npy files (format versions 1-3, C order) for chitu-run and
// the tests.
#pragma once

#include "support/DType.h"
#include "support/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace chitu {

struct NpyArray {
  std::string descr; // e.g. "<f4"
  std::vector<int64_t> shape;
  std::vector<uint8_t> data; // raw little-endian elements
};

StatusOr<NpyArray> readNpy(const std::string &path);
Status writeNpy(const std::string &path, const std::string &descr,
                const std::vector<int64_t> &shape, const void *data, size_t bytes);

// The .npy descr of a chitu dtype ("<f4"); bf16 has none in NumPy (see toModelDType).
const char *npyDescr(DType t);

// Converts an array read from a file to the dtype a model input needs. Exact matches pass;
// bf16 inputs also accept raw bf16 ('<V2', how ml_dtypes.bfloat16 arrays are saved) and f32
// (rounded to nearest even). Anything else is an error naming both types.
Status convertNpyForInput(const NpyArray &in, DType want, const std::string &name,
                          std::vector<uint8_t> &out);

// Writes a tensor; bf16 is widened exactly to f32 so that NumPy can read it.
Status writeTensorNpy(const std::string &path, DType dtype, const std::vector<int64_t> &dims,
                      const std::vector<uint8_t> &data);

} // namespace chitu
