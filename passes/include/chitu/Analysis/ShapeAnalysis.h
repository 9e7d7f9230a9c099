//===- ShapeAnalysis.h - symbolic shapes of a function ----------*- C++ -*-===//
//
// Gives every tensor value of a function its dimensions and every index value its value
// as SymExprs over the function's dynamic input dimensions ("symbols"). Dynamic
// dimensions that ops force to be equal are merged (two inputs sharing a sequence length
// share one symbol); a dynamic dimension forced to a static size becomes that size;
// constraints that cannot be decided at compile time become run-time checks, and ones
// that are false at compile time are errors at the op that needs them.
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_ANALYSIS_SHAPEANALYSIS_H
#define CHITU_ANALYSIS_SHAPEANALYSIS_H

#include "chitu/Analysis/SymExpr.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <string>
#include <vector>

namespace mlir::chitu {

/// Where a symbol's value comes from: dimension `dim` of function argument `argIndex`.
struct SymbolOrigin {
  unsigned argIndex;
  unsigned dim;
};

/// A condition checked when the inputs are bound: lhs == rhs, or lhs <= rhs.
struct ShapeCheck {
  bool isEquality;
  SymExpr lhs, rhs;
  std::string message;
};

class ShapeAnalysis {
public:
  /// Analyzes `func` (including kernel regions). Emits diagnostics and fails on shapes
  /// that are inconsistent at compile time or ops it does not know.
  static FailureOr<ShapeAnalysis> analyze(func::FuncOp func);

  /// Dimensions of a ranked tensor value.
  ArrayRef<SymExpr> dims(Value v) const;
  /// Value of an index value.
  const SymExpr &index(Value v) const;
  /// Number of elements of a tensor value.
  SymExpr numElements(Value v) const;

  /// The symbols that remain free, in order: symbol id i is named "s<i>".
  const std::vector<SymbolOrigin> &symbols() const { return symbols_; }
  const std::vector<ShapeCheck> &checks() const { return checks_; }

  static std::string symbolName(int64_t id) { return "s" + std::to_string(id); }

private:
  llvm::DenseMap<Value, llvm::SmallVector<SymExpr, 4>> dims_;
  llvm::DenseMap<Value, SymExpr> indices_;
  std::vector<SymbolOrigin> symbols_;
  std::vector<ShapeCheck> checks_;
};

/// "file.mlir:12:5" for a file location; the printed location otherwise.
std::string locationString(Location loc);

} // namespace mlir::chitu

#endif // CHITU_ANALYSIS_SHAPEANALYSIS_H
