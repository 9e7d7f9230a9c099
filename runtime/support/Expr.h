// Evaluation of the postfix integer programs (Expr) that the .cbin uses for every size that
// depends on dynamic dimensions: tensor dims, arena offsets, launch grids, kernel scalars.
#pragma once

#include "Status.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace chitu {

// Opcodes: the values of chitu::cbin::ExprOp.
enum class ExprOpcode : int64_t {
  PushConst = 0,
  PushSym = 1,
  Add = 2,
  Sub = 3,
  Mul = 4,
  FloorDiv = 5,
  CeilDiv = 6,
  Mod = 7,
  Max = 8,
  Min = 9,
};

constexpr size_t kMaxExprStack = 64;

// Checks that `code` is a well-formed program: known opcodes, immediates present, symbol
// indices below `numSymbols`, no stack underflow, exactly one value left.
Status validateExpr(const int64_t *code, size_t size, size_t numSymbols);

// Evaluates a program (validating it as it goes). Overflow and division by zero are errors.
StatusOr<int64_t> evalExpr(const int64_t *code, size_t size, const int64_t *symbols,
                           size_t numSymbols);

// Human-readable infix form with symbol names from `symbolName(i)`, e.g. "ceildiv(s0*64, 256)".
template <typename NameFn>
std::string exprToString(const int64_t *code, size_t size, NameFn symbolName);

// Floor division and modulo with the sign conventions of Python (what the compiler assumes).
inline int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}
inline int64_t ceilDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) == (b < 0)))
    ++q;
  return q;
}
inline int64_t floorMod(int64_t a, int64_t b) { return a - floorDiv(a, b) * b; }

} // namespace chitu

#include "ExprFormat.inc"
