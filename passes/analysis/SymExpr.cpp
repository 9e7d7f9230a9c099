//===- SymExpr.cpp - symbolic integer expressions -------------------------===//

#include "chitu/Analysis/SymExpr.h"

#include "support/Expr.h"

#include <algorithm>
#include <map>

using namespace mlir::chitu;

namespace {

// Wrapping arithmetic: sizes never get near 2^63, and wrapping keeps the compiler free of
// undefined behaviour on absurd inputs (the runtime checks every evaluation).
int64_t wrapAdd(int64_t a, int64_t b) { return int64_t(uint64_t(a) + uint64_t(b)); }
int64_t wrapMul(int64_t a, int64_t b) { return int64_t(uint64_t(a) * uint64_t(b)); }

std::string monomialKey(const std::vector<SymAtom> &atoms) {
  std::string k;
  for (size_t i = 0; i < atoms.size(); ++i)
    k += (i ? "*" : "") + atoms[i].key;
  return k;
}

const char *nodeName(SymNodeKind kind) {
  switch (kind) {
  case SymNodeKind::FloorDiv:
    return "floordiv";
  case SymNodeKind::CeilDiv:
    return "ceildiv";
  case SymNodeKind::Mod:
    return "mod";
  case SymNodeKind::Max:
    return "max";
  case SymNodeKind::Min:
    return "min";
  }
  return "?";
}

} // namespace

SymExpr SymExpr::fromTerms(std::vector<Term> terms) {
  std::map<std::string, Term> merged;
  for (Term &t : terms) {
    std::sort(t.atoms.begin(), t.atoms.end(),
              [](const SymAtom &a, const SymAtom &b) { return a.key < b.key; });
    t.monoKey = monomialKey(t.atoms);
    auto it = merged.find(t.monoKey);
    if (it == merged.end())
      merged.emplace(t.monoKey, std::move(t));
    else
      it->second.coeff = wrapAdd(it->second.coeff, t.coeff);
  }
  SymExpr e;
  for (auto &[k, t] : merged)
    if (t.coeff != 0)
      e.terms_.push_back(std::move(t));
  e.key_.clear();
  for (size_t i = 0; i < e.terms_.size(); ++i) {
    const Term &t = e.terms_[i];
    e.key_ += (i ? "+" : "") + std::to_string(t.coeff) + (t.atoms.empty() ? "" : "*" + t.monoKey);
  }
  if (e.key_.empty())
    e.key_ = "0";
  return e;
}

SymExpr SymExpr::constant(int64_t value) { return fromTerms({Term{{}, value, ""}}); }

SymExpr SymExpr::atom(SymAtom a) { return fromTerms({Term{{std::move(a)}, 1, ""}}); }

SymExpr SymExpr::symbol(int64_t id) {
  SymAtom a;
  a.symbol = id;
  a.key = "s" + std::to_string(id);
  return atom(std::move(a));
}

SymExpr mlir::chitu::operator+(const SymExpr &a, const SymExpr &b) {
  std::vector<SymExpr::Term> terms = a.terms_;
  terms.insert(terms.end(), b.terms_.begin(), b.terms_.end());
  return SymExpr::fromTerms(std::move(terms));
}

SymExpr mlir::chitu::operator-(const SymExpr &a, const SymExpr &b) {
  std::vector<SymExpr::Term> terms = a.terms_;
  for (SymExpr::Term t : b.terms_) {
    t.coeff = wrapMul(t.coeff, -1);
    terms.push_back(std::move(t));
  }
  return SymExpr::fromTerms(std::move(terms));
}

SymExpr mlir::chitu::operator*(const SymExpr &a, const SymExpr &b) {
  std::vector<SymExpr::Term> terms;
  for (const SymExpr::Term &x : a.terms_)
    for (const SymExpr::Term &y : b.terms_) {
      SymExpr::Term t{x.atoms, wrapMul(x.coeff, y.coeff), ""};
      t.atoms.insert(t.atoms.end(), y.atoms.begin(), y.atoms.end());
      terms.push_back(std::move(t));
    }
  return SymExpr::fromTerms(std::move(terms));
}

bool SymExpr::isConstant() const {
  return terms_.empty() || (terms_.size() == 1 && terms_[0].atoms.empty());
}

int64_t SymExpr::getConstant() const {
  return terms_.empty() || !terms_[0].atoms.empty() ? 0 : terms_[0].coeff;
}

std::optional<int64_t> SymExpr::asSymbol() const {
  if (terms_.size() == 1 && terms_[0].coeff == 1 && terms_[0].atoms.size() == 1 &&
      terms_[0].atoms[0].symbol >= 0)
    return terms_[0].atoms[0].symbol;
  return std::nullopt;
}

void SymExpr::collectSymbols(std::set<int64_t> &out) const {
  for (const Term &t : terms_)
    for (const SymAtom &a : t.atoms) {
      if (a.symbol >= 0) {
        out.insert(a.symbol);
      } else {
        a.node->lhs.collectSymbols(out);
        a.node->rhs.collectSymbols(out);
      }
    }
}

bool SymExpr::containsSymbol(int64_t id) const {
  std::set<int64_t> s;
  collectSymbols(s);
  return s.count(id) != 0;
}

std::optional<SymExpr> SymExpr::exactDivide(int64_t c) const {
  if (c == 0)
    return std::nullopt;
  std::vector<Term> terms = terms_;
  for (Term &t : terms) {
    if (t.coeff % c != 0)
      return std::nullopt;
    t.coeff /= c;
  }
  return fromTerms(std::move(terms));
}

SymExpr SymExpr::node(SymNodeKind kind, const SymExpr &a, const SymExpr &b) {
  auto n = std::make_shared<SymNode>();
  n->kind = kind;
  n->lhs = a;
  n->rhs = b;
  // max and min commute: order operands canonically.
  if ((kind == SymNodeKind::Max || kind == SymNodeKind::Min) && b.key() < a.key())
    std::swap(n->lhs, n->rhs);
  SymAtom at;
  at.key = std::string(nodeName(kind)) + "(" + n->lhs.key() + "," + n->rhs.key() + ")";
  at.node = std::move(n);
  return atom(std::move(at));
}

SymExpr SymExpr::floorDiv(const SymExpr &a, const SymExpr &b) {
  if (b.isConstant() && b.getConstant() != 0) {
    int64_t c = b.getConstant();
    if (a.isConstant())
      return constant(::chitu::floorDiv(a.getConstant(), c));
    if (auto q = a.exactDivide(c))
      return *q;
  }
  return node(SymNodeKind::FloorDiv, a, b);
}

SymExpr SymExpr::ceilDiv(const SymExpr &a, const SymExpr &b) {
  if (b.isConstant() && b.getConstant() != 0) {
    int64_t c = b.getConstant();
    if (a.isConstant())
      return constant(::chitu::ceilDiv(a.getConstant(), c));
    if (auto q = a.exactDivide(c))
      return *q;
  }
  return node(SymNodeKind::CeilDiv, a, b);
}

SymExpr SymExpr::mod(const SymExpr &a, const SymExpr &b) {
  if (b.isConstant() && b.getConstant() != 0) {
    int64_t c = b.getConstant();
    if (a.isConstant())
      return constant(::chitu::floorMod(a.getConstant(), c));
    if (a.exactDivide(c))
      return constant(0);
  }
  return node(SymNodeKind::Mod, a, b);
}

bool SymExpr::isNonNegative() const {
  for (const Term &t : terms_) {
    if (t.coeff < 0)
      return false;
    for (const SymAtom &a : t.atoms) {
      if (a.symbol >= 0)
        continue; // symbols are dimensions
      const SymNode &n = *a.node;
      bool positiveConstRhs = n.rhs.isConstant() && n.rhs.getConstant() > 0;
      bool ok = false;
      switch (n.kind) {
      case SymNodeKind::FloorDiv:
      case SymNodeKind::CeilDiv:
        ok = positiveConstRhs && n.lhs.isNonNegative();
        break;
      case SymNodeKind::Mod:
        ok = positiveConstRhs;
        break;
      case SymNodeKind::Max:
        ok = n.lhs.isNonNegative() || n.rhs.isNonNegative();
        break;
      case SymNodeKind::Min:
        ok = n.lhs.isNonNegative() && n.rhs.isNonNegative();
        break;
      }
      if (!ok)
        return false;
    }
  }
  return true;
}

/// The operands of `e` if it is exactly one max (or min) node.
static const SymNode *asNode(const SymExpr &e, SymNodeKind kind);

SymExpr SymExpr::max(const SymExpr &a, const SymExpr &b) {
  if (a.isConstant() && b.isConstant())
    return constant(std::max(a.getConstant(), b.getConstant()));
  // max(max(x, y), x) = max(x, y)
  for (auto [outer, other] : {std::pair{&a, &b}, std::pair{&b, &a}})
    if (const SymNode *n = asNode(*outer, SymNodeKind::Max))
      if (n->lhs == *other || n->rhs == *other)
        return *outer;
  if ((a - b).isNonNegative())
    return a;
  if ((b - a).isNonNegative())
    return b;
  return node(SymNodeKind::Max, a, b);
}

SymExpr SymExpr::min(const SymExpr &a, const SymExpr &b) {
  if (a.isConstant() && b.isConstant())
    return constant(std::min(a.getConstant(), b.getConstant()));
  for (auto [outer, other] : {std::pair{&a, &b}, std::pair{&b, &a}})
    if (const SymNode *n = asNode(*outer, SymNodeKind::Min))
      if (n->lhs == *other || n->rhs == *other)
        return *outer;
  if ((a - b).isNonNegative())
    return b;
  if ((b - a).isNonNegative())
    return a;
  return node(SymNodeKind::Min, a, b);
}

static const SymNode *asNode(const SymExpr &e, SymNodeKind kind) { return e.singleNode(kind); }

const SymNode *SymExpr::singleNode(SymNodeKind kind) const {
  if (terms_.size() == 1 && terms_[0].coeff == 1 && terms_[0].atoms.size() == 1 &&
      terms_[0].atoms[0].node && terms_[0].atoms[0].node->kind == kind)
    return terms_[0].atoms[0].node.get();
  return nullptr;
}

SymExpr SymExpr::substitute(const std::function<SymExpr(int64_t)> &f) const {
  SymExpr result = constant(0);
  for (const Term &t : terms_) {
    SymExpr product = constant(t.coeff);
    for (const SymAtom &a : t.atoms) {
      if (a.symbol >= 0) {
        product = product * f(a.symbol);
        continue;
      }
      SymExpr l = a.node->lhs.substitute(f), r = a.node->rhs.substitute(f);
      switch (a.node->kind) {
      case SymNodeKind::FloorDiv:
        product = product * floorDiv(l, r);
        break;
      case SymNodeKind::CeilDiv:
        product = product * ceilDiv(l, r);
        break;
      case SymNodeKind::Mod:
        product = product * mod(l, r);
        break;
      case SymNodeKind::Max:
        product = product * max(l, r);
        break;
      case SymNodeKind::Min:
        product = product * min(l, r);
        break;
      }
    }
    result = result + product;
  }
  return result;
}

std::string SymExpr::str(const std::function<std::string(int64_t)> &name) const {
  if (terms_.empty())
    return "0";
  std::string s;
  for (size_t i = 0; i < terms_.size(); ++i) {
    const Term &t = terms_[i];
    int64_t c = t.coeff;
    if (i) {
      s += c < 0 ? " - " : " + ";
      c = c < 0 ? -c : c;
    }
    std::string mono;
    for (size_t k = 0; k < t.atoms.size(); ++k) {
      const SymAtom &a = t.atoms[k];
      mono += k ? "*" : "";
      if (a.symbol >= 0)
        mono += name(a.symbol);
      else
        mono += std::string(nodeName(a.node->kind)) + "(" + a.node->lhs.str(name) + ", " +
                a.node->rhs.str(name) + ")";
    }
    if (mono.empty())
      s += std::to_string(c);
    else if (c == 1)
      s += mono;
    else if (c == -1)
      s += "-" + mono;
    else
      s += std::to_string(c) + "*" + mono;
  }
  return s;
}

std::string SymExpr::str() const {
  return str([](int64_t id) { return "s" + std::to_string(id); });
}

std::string SymExpr::toC(const std::function<std::string(int64_t)> &name) const {
  if (terms_.empty())
    return "0LL";
  std::string s = terms_.size() > 1 ? "(" : "";
  for (size_t i = 0; i < terms_.size(); ++i) {
    const Term &t = terms_[i];
    std::string term =
        t.coeff == 1 && !t.atoms.empty() ? "" : "(" + std::to_string(t.coeff) + "LL)";
    for (const SymAtom &a : t.atoms) {
      term += term.empty() ? "" : "*";
      if (a.symbol >= 0)
        term += name(a.symbol);
      else
        term += "chitu::" + std::string(nodeName(a.node->kind)) + "(" + a.node->lhs.toC(name) +
                ", " + a.node->rhs.toC(name) + ")";
    }
    s += (i ? " + " : "") + term;
  }
  return s + (terms_.size() > 1 ? ")" : "");
}

void SymExpr::toPostfix(std::vector<int64_t> &code,
                        const std::function<int64_t(int64_t)> &index) const {
  using ::chitu::ExprOpcode;
  auto push = [&](ExprOpcode op) { code.push_back(int64_t(op)); };
  if (terms_.empty()) {
    push(ExprOpcode::PushConst);
    code.push_back(0);
    return;
  }
  for (size_t i = 0; i < terms_.size(); ++i) {
    const Term &t = terms_[i];
    bool first = true;
    auto multiply = [&] {
      if (!first)
        push(ExprOpcode::Mul);
      first = false;
    };
    if (t.coeff != 1 || t.atoms.empty()) {
      push(ExprOpcode::PushConst);
      code.push_back(t.coeff);
      first = false;
    }
    for (const SymAtom &a : t.atoms) {
      if (a.symbol >= 0) {
        push(ExprOpcode::PushSym);
        code.push_back(index(a.symbol));
      } else {
        a.node->lhs.toPostfix(code, index);
        a.node->rhs.toPostfix(code, index);
        switch (a.node->kind) {
        case SymNodeKind::FloorDiv:
          push(ExprOpcode::FloorDiv);
          break;
        case SymNodeKind::CeilDiv:
          push(ExprOpcode::CeilDiv);
          break;
        case SymNodeKind::Mod:
          push(ExprOpcode::Mod);
          break;
        case SymNodeKind::Max:
          push(ExprOpcode::Max);
          break;
        case SymNodeKind::Min:
          push(ExprOpcode::Min);
          break;
        }
      }
      multiply();
    }
    if (i)
      push(ExprOpcode::Add);
  }
}
