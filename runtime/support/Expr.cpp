#include "Expr.h"

namespace chitu {
namespace {

bool takesImmediate(ExprOpcode op) {
  return op == ExprOpcode::PushConst || op == ExprOpcode::PushSym;
}

bool isKnownOpcode(int64_t v) {
  return v >= int64_t(ExprOpcode::PushConst) && v <= int64_t(ExprOpcode::Min);
}

} // namespace

Status validateExpr(const int64_t *code, size_t size, size_t numSymbols) {
  if (size == 0)
    return invalidArtifact("empty size expression");
  size_t depth = 0;
  for (size_t pc = 0; pc < size; ++pc) {
    if (!isKnownOpcode(code[pc]))
      return invalidArtifact("size expression has unknown opcode " + std::to_string(code[pc]));
    auto op = ExprOpcode(code[pc]);
    if (takesImmediate(op)) {
      if (pc + 1 >= size)
        return invalidArtifact("size expression ends inside an instruction");
      int64_t imm = code[++pc];
      if (op == ExprOpcode::PushSym && (imm < 0 || uint64_t(imm) >= numSymbols))
        return invalidArtifact("size expression names symbol " + std::to_string(imm) + " of " +
                               std::to_string(numSymbols));
      if (++depth > kMaxExprStack)
        return invalidArtifact("size expression is too deep");
    } else {
      if (depth < 2)
        return invalidArtifact("size expression pops an empty stack");
      --depth;
    }
  }
  if (depth != 1)
    return invalidArtifact("size expression leaves " + std::to_string(depth) +
                           " values instead of 1");
  return Status::ok();
}

StatusOr<int64_t> evalExpr(const int64_t *code, size_t size, const int64_t *symbols,
                           size_t numSymbols) {
  CHITU_RETURN_IF_ERROR(validateExpr(code, size, numSymbols));
  int64_t stack[kMaxExprStack];
  size_t sp = 0;
  for (size_t pc = 0; pc < size; ++pc) {
    auto op = ExprOpcode(code[pc]);
    if (op == ExprOpcode::PushConst) {
      stack[sp++] = code[++pc];
      continue;
    }
    if (op == ExprOpcode::PushSym) {
      stack[sp++] = symbols[code[++pc]];
      continue;
    }
    int64_t b = stack[--sp];
    int64_t a = stack[--sp];
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
    case ExprOpcode::Add:
      overflow = __builtin_add_overflow(a, b, &r);
      break;
    case ExprOpcode::Sub:
      overflow = __builtin_sub_overflow(a, b, &r);
      break;
    case ExprOpcode::Mul:
      overflow = __builtin_mul_overflow(a, b, &r);
      break;
    case ExprOpcode::FloorDiv:
    case ExprOpcode::CeilDiv:
    case ExprOpcode::Mod:
      if (b == 0)
        return runtimeError("division by zero in a size expression");
      if (a == INT64_MIN && b == -1)
        return runtimeError("overflow in a size expression");
      if (op == ExprOpcode::FloorDiv)
        r = floorDiv(a, b);
      else if (op == ExprOpcode::Mod)
        r = floorMod(a, b);
      else
        r = ceilDiv(a, b);
      break;
    case ExprOpcode::Max:
      r = a > b ? a : b;
      break;
    case ExprOpcode::Min:
      r = a < b ? a : b;
      break;
    default:
      return invalidArtifact("bad opcode in size expression");
    }
    if (overflow)
      return runtimeError("overflow in a size expression");
    stack[sp++] = r;
  }
  return stack[0];
}

} // namespace chitu
