//===- SymExpr.h - symbolic integer expressions -----------------*- C++ -*-===//
//
// Sizes that depend on dynamic input dimensions, kept in a canonical polynomial form
// (sum of coefficient * product of atoms, where an atom is a symbol or an opaque
// floordiv/ceildiv/mod/max/min node). Canonical keys make equal sizes compare equal
// (4*s0 and s0*4), and exact divisions simplify (64*s0 floordiv 16 = 4*s0).
//
// A SymExpr is lowered to the runtime's postfix Expr programs (.cbin) and to C
// expressions in generated CUDA code.
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_ANALYSIS_SYMEXPR_H
#define CHITU_ANALYSIS_SYMEXPR_H

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mlir::chitu {

class SymExpr;
struct SymNode;

enum class SymNodeKind { FloorDiv, CeilDiv, Mod, Max, Min };

/// A symbol (symbol >= 0) or an opaque node.
struct SymAtom {
  int64_t symbol = -1;
  std::shared_ptr<const SymNode> node;
  std::string key;
};

class SymExpr {
public:
  /// The constant 0.
  SymExpr() = default;
  static SymExpr constant(int64_t value);
  static SymExpr symbol(int64_t id);

  static SymExpr floorDiv(const SymExpr &a, const SymExpr &b);
  static SymExpr ceilDiv(const SymExpr &a, const SymExpr &b);
  static SymExpr mod(const SymExpr &a, const SymExpr &b);
  static SymExpr max(const SymExpr &a, const SymExpr &b);
  static SymExpr min(const SymExpr &a, const SymExpr &b);

  friend SymExpr operator+(const SymExpr &a, const SymExpr &b);
  friend SymExpr operator-(const SymExpr &a, const SymExpr &b);
  friend SymExpr operator*(const SymExpr &a, const SymExpr &b);
  bool operator==(const SymExpr &other) const { return key() == other.key(); }
  bool operator!=(const SymExpr &other) const { return !(*this == other); }

  bool isConstant() const;
  /// Value of a constant expression (0 for others; check isConstant first).
  int64_t getConstant() const;
  /// The symbol id if the expression is exactly one symbol.
  std::optional<int64_t> asSymbol() const;
  bool containsSymbol(int64_t id) const;
  /// True when the value is provably >= 0 for every value of the symbols (which are
  /// dimensions, so never negative).
  bool isNonNegative() const;
  void collectSymbols(std::set<int64_t> &out) const;

  /// The node if the expression is exactly one opaque node of `kind`.
  const SymNode *singleNode(SymNodeKind kind) const;

  /// Canonical text; equal keys mean equal expressions.
  const std::string &key() const { return key_; }

  /// Replaces every symbol by `f(id)`, re-simplifying.
  SymExpr substitute(const std::function<SymExpr(int64_t)> &f) const;

  /// Human-readable form, e.g. "64*s0 + 3", "ceildiv(s0*s1, 256)".
  std::string str(const std::function<std::string(int64_t)> &name) const;
  std::string str() const;
  /// A C++ expression of type long long for generated kernels; symbols via `name`,
  /// opaque nodes via the chitu::floordiv/ceildiv/mod/max/min helpers of common.cuh.
  std::string toC(const std::function<std::string(int64_t)> &name) const;
  /// Appends a runtime postfix program (runtime/support/Expr.h opcodes); `index` maps
  /// a symbol id to its index in the .cbin entry's symbol table.
  void toPostfix(std::vector<int64_t> &code, const std::function<int64_t(int64_t)> &index) const;

private:
  using Monomial = std::vector<SymAtom>;
  struct Term {
    Monomial atoms; // sorted by key; empty for the constant term
    int64_t coeff;
    std::string monoKey;
  };
  static SymExpr fromTerms(std::vector<Term> terms);
  static SymExpr atom(SymAtom a);
  static SymExpr node(SymNodeKind kind, const SymExpr &a, const SymExpr &b);
  /// Divides by c when every coefficient is a multiple of it.
  std::optional<SymExpr> exactDivide(int64_t c) const;

  std::vector<Term> terms_; // sorted by monoKey, no zero coefficients
  std::string key_ = "0";
};

struct SymNode {
  SymNodeKind kind;
  SymExpr lhs, rhs;
};

SymExpr operator+(const SymExpr &a, const SymExpr &b);
SymExpr operator-(const SymExpr &a, const SymExpr &b);
SymExpr operator*(const SymExpr &a, const SymExpr &b);

} // namespace mlir::chitu

#endif // CHITU_ANALYSIS_SYMEXPR_H
