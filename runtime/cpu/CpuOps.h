// The CPU reference executor's ops: each computes one portable op (cbin::Op) on whole
// tensors held in their compute type (f32 for every float storage type, i32, i64).
#pragma once

#include "CpuMatmul.h"
#include "core/Model.h"

#include <cstdint>
#include <vector>

namespace chitu::rt::cpu {

enum class ComputeType { F32, I32, I64 };

inline ComputeType computeTypeOf(DType t) {
  switch (t) {
  case DType::I32:
  case DType::BOOL: // held as 0/1 in i32
  case DType::I8:   // held in i32, -128..127
    return ComputeType::I32;
  case DType::I64:
    return ComputeType::I64;
  default:
    return ComputeType::F32;
  }
}

// A kernel-local value. `dtype` is the element type the IR declares for it; the numbers
// live in its compute type and are rounded to `dtype` only when stored.
struct Value {
  DType dtype = DType::F32;
  std::vector<int64_t> dims;
  std::vector<float> f32;
  std::vector<int32_t> i32;
  std::vector<int64_t> i64;
  // When set, the numbers were not loaded: they stay where they are stored, in `dtype`
  // (a weight). runOp loads such operands, except a matmul's second and a gather's table,
  // which it reads there.
  const uint8_t *stored = nullptr;

  ComputeType ctype() const { return computeTypeOf(dtype); }
  int64_t numel() const;
  void allocate(DType t, std::vector<int64_t> shape);
};

// Reads a stored tensor (any dtype) into its compute type.
Value loadValue(const uint8_t *data, DType dtype, const std::vector<int64_t> &dims);
// A value left in storage (Value::stored), for a weight.
Value storedValue(const uint8_t *data, DType dtype, const std::vector<int64_t> &dims);
// Writes a value to storage of its dtype (rounding floats to f16/bf16).
void storeValue(const Value &v, uint8_t *data);

// The largest single allocation the CPU executor makes (a value or the arena):
// $CHITU_CPU_MAX_ALLOC_BYTES, default 1 TiB. Larger requests fail with a status instead
// of exhausting memory.
uint64_t maxAllocBytes();

// Runs one op. `resultDims` and `params` are the op's Exprs evaluated for this run.
// Products sum as `accumulate` says (CpuMatmul.h): in double for the reference, in f32 for
// steps the CUDA executor places on the CPU.
StatusOr<Value> runOp(const cbin::Op &op, const std::vector<const Value *> &operands,
                      const std::vector<int64_t> &resultDims, const std::vector<int64_t> &params,
                      Accumulate accumulate = Accumulate::Double);

} // namespace chitu::rt::cpu
