//===- KernelShape.cpp - which op groups make one CUDA kernel -------------===//

#include "chitu/Analysis/KernelShape.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/EquivalenceClasses.h"

using namespace mlir;
using namespace mlir::chitu;

bool mlir::chitu::isPointwise(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, PowOp, CompareOp, SelectOp, NegOp, AbsOp,
             ErfOp, ReluOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SigmoidOp, SiluOp, GeluOp,
             GeluTanhOp, CastOp, DequantizeOp>(op);
}

bool mlir::chitu::isElemental(Operation *op) {
  // Each element of these is computed on its own from input elements found by its index
  // (cumsum sums its prefix along the axis, which is cheap for the short axes it meets).
  return isPointwise(op) || isa<ReshapeOp, TransposeOp, SliceOp, ConcatOp, GatherOp, RopeOp,
                                GatherElementsOp, BroadcastToOp, IotaOp, FromSizesOp, CumsumOp>(op);
}

namespace {

bool isReductionAnchor(Operation *op) {
  return isa<ReduceSumOp, ReduceMaxOp, ReduceMeanOp, SoftmaxOp, RmsNormOp, LayerNormOp>(op);
}

RankedTensorType tensorType(Value v) { return dyn_cast<RankedTensorType>(v.getType()); }

/// True if `operand` has the full shape of `result` (no broadcast dimension): the shape
/// analysis makes every dimension of a pointwise operand equal to the result's or 1.
bool fullShape(Value operand, Value result) {
  auto a = tensorType(operand), r = tensorType(result);
  if (!a || !r || a.getRank() != r.getRank())
    return false;
  for (int64_t d = 0; d < a.getRank(); ++d)
    if (a.getDimSize(d) == 1 && r.getDimSize(d) != 1)
      return false;
  return true;
}

KernelShape unsupported(std::string why) {
  KernelShape s;
  s.reason = std::move(why);
  return s;
}

struct Group {
  llvm::ArrayRef<Operation *> ops;
  llvm::ArrayRef<Value> results;
  llvm::DenseSet<Operation *> members;

  bool inside(Value v) const {
    Operation *def = v.getDefiningOp();
    return def && members.contains(def);
  }
  bool isResult(Value v) const { return llvm::is_contained(results, v); }
};

KernelShape classifyElemental(const Group &g) {
  for (Operation *op : g.ops) {
    if (isElemental(op))
      continue;
    auto write = dyn_cast<KvWriteOp>(op);
    if (!write)
      return unsupported("'" + op->getName().getStringRef().str() +
                         "' is neither elemental nor a kv_write");
    if (g.inside(write.getCache()))
      return unsupported("a kv_write's cache must be a kernel input");
    bool usedInside = llvm::any_of(write.getResult().getUsers(),
                                   [&](Operation *u) { return g.members.contains(u); });
    if (!g.isResult(write.getResult()) || usedInside)
      return unsupported("a kv_write's result must be a kernel result used only outside");
  }
  KernelShape s;
  s.kind = KernelKind::Elemental;
  return s;
}

/// Ops of the group that depend (within it) on `root`.
llvm::DenseSet<Operation *> dependents(const Group &g, Operation *root) {
  llvm::DenseSet<Operation *> out{root};
  for (Operation *op : g.ops)
    for (Value v : op->getOperands())
      if (Operation *def = v.getDefiningOp(); def && out.contains(def)) {
        out.insert(op);
        break;
      }
  return out;
}

KernelShape classifyReduction(const Group &g, Operation *anchor) {
  llvm::DenseSet<Operation *> after = dependents(g, anchor);
  Value anchorResult = anchor->getResult(0);
  for (Operation *op : g.ops) {
    if (op == anchor)
      continue;
    if (!isElemental(op))
      return unsupported("a reduction kernel holds one reduction");
    if (!after.contains(op))
      continue; // prologue (read through) or a side result
    if (!isPointwise(op))
      return unsupported("'" + op->getName().getStringRef().str() +
                         "' after a reduction is not pointwise");
    for (Value v : op->getOperands())
      if (Operation *def = v.getDefiningOp();
          def && after.contains(def) && !fullShape(v, op->getResult(0)))
        return unsupported("an epilogue op broadcasts the reduction's result");
  }
  auto shape = tensorType(anchorResult);
  for (Value r : g.results) {
    auto t = tensorType(r);
    if (!t || t.getShape() != shape.getShape())
      return unsupported("every result of a reduction kernel must have the reduction's shape");
    if (!after.contains(r.getDefiningOp()) && !isa<RmsNormOp, LayerNormOp, SoftmaxOp>(anchor))
      return unsupported("only norms and softmax have side results");
  }
  KernelShape s;
  s.kind = KernelKind::Reduction;
  s.anchor = anchor;
  return s;
}

KernelShape classifyMatmul(const Group &g, llvm::ArrayRef<MatmulOp> matmuls) {
  KernelShape s;
  s.lhs = MatmulOp(matmuls.front()).getLhs();
  if (matmuls.size() > 4)
    return unsupported("more than four products in one kernel");
  for (MatmulOp m : matmuls) {
    if (m.getLhs() != s.lhs)
      return unsupported("the products of one kernel must share their left operand");
    if (tensorType(m.getResult()).getRank() != 2 || tensorType(m.getLhs()).getRank() != 2 ||
        tensorType(m.getRhs()).getRank() != 2)
      return unsupported("fused products must be rank 2");
    if (m.getTransposeLhs())
      return unsupported("fused products take their left operand untransposed");
    DequantizeOp dequantize;
    if (g.inside(m.getRhs())) {
      dequantize = m.getRhs().getDefiningOp<DequantizeOp>();
      if (!dequantize)
        return unsupported("a product's right operand must be a kernel input or dequantized "
                           "weights");
      if (!m.getTransposeRhs())
        return unsupported("dequantized weights are read transposed (rows [N, K])");
      if (g.inside(dequantize.getValues()) || g.inside(dequantize.getScales()) ||
          (dequantize.getZeros() && g.inside(dequantize.getZeros())))
        return unsupported("a dequantized product's values, scales and zero points must be "
                           "kernel inputs");
      auto scales = tensorType(dequantize.getScales());
      // int4 groups: scales [N, K / G] (the op's verifier checks their shape).
      if (!dequantize.getGroupSize() && (scales.getRank() != 2 || scales.getDimSize(1) != 1))
        return unsupported("a dequantized product takes one scale per weight row (or int4 group)");
      if (g.isResult(dequantize.getResult()) ||
          llvm::any_of(dequantize->getUsers(), [&](Operation *u) { return u != m; }))
        return unsupported("dequantized weights feed only their product");
    }
    s.matmuls.push_back(m);
    s.rhsDequantize.push_back(dequantize);
  }
  // Which products each op depends on.
  llvm::DenseMap<Operation *, llvm::SmallVector<unsigned, 2>> uses;
  for (Operation *op : g.ops) {
    llvm::SmallVector<unsigned, 2> &mine = uses[op];
    if (auto m = dyn_cast<MatmulOp>(op)) {
      mine.push_back(unsigned(llvm::find(s.matmuls, m) - s.matmuls.begin()));
      continue;
    }
    for (Value v : op->getOperands())
      if (Operation *def = v.getDefiningOp(); def && g.members.contains(def))
        for (unsigned i : uses[def])
          if (!llvm::is_contained(mine, i))
            mine.push_back(i);
  }
  // The prologue: what computes the shared operand, from inputs only.
  llvm::DenseSet<Operation *> prologue;
  if (Operation *def = s.lhs.getDefiningOp(); def && g.members.contains(def)) {
    llvm::SmallVector<Operation *> work{def};
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (!prologue.insert(op).second)
        continue;
      for (Value v : op->getOperands())
        if (Operation *d = v.getDefiningOp(); d && g.members.contains(d))
          work.push_back(d);
    }
  }
  llvm::EquivalenceClasses<unsigned> tiles;
  for (unsigned i = 0; i < s.matmuls.size(); ++i)
    tiles.insert(i);
  for (Operation *op : g.ops) {
    if (auto dq = dyn_cast<DequantizeOp>(op);
        isa<MatmulOp>(op) || (dq && llvm::is_contained(s.rhsDequantize, dq)))
      continue;
    if (prologue.contains(op)) {
      if (auto norm = dyn_cast<RmsNormOp>(op)) {
        if (s.prologueNorm)
          return unsupported("a product's prologue holds at most one rms_norm");
        if (g.inside(norm.getWeight()))
          return unsupported("the prologue norm's weight must be a kernel input");
        s.prologueNorm = norm;
        continue;
      }
      if (!isElemental(op))
        return unsupported("'" + op->getName().getStringRef().str() +
                           "' cannot be computed in a product's prologue");
      for (Value r : op->getResults())
        if (g.isResult(r))
          return unsupported("a prologue value cannot also be a kernel result");
      continue;
    }
    const auto &mine = uses[op];
    if (mine.empty())
      return unsupported("'" + op->getName().getStringRef().str() +
                         "' neither computes the shared operand nor uses a product");
    if (!isPointwise(op))
      return unsupported("'" + op->getName().getStringRef().str() +
                         "' after a product is not pointwise");
    if (mine.size() > 2)
      return unsupported("an epilogue op combines more than two products");
    for (Value v : op->getOperands())
      if (Operation *def = v.getDefiningOp();
          def && g.members.contains(def) && !uses[def].empty() && !fullShape(v, op->getResult(0)))
        return unsupported("an epilogue op broadcasts a product");
    for (unsigned i : mine)
      tiles.unionSets(mine.front(), i);
  }
  if (s.prologueNorm) {
    // The rows the norm scales must be the product's rows: only pointwise ops between.
    for (Operation *op : prologue)
      if (op != s.prologueNorm.getOperation() && dependents(g, s.prologueNorm).contains(op) &&
          (!isPointwise(op) || tensorType(op->getResult(0)).getRank() != 2))
        return unsupported("only pointwise ops may follow the prologue's rms_norm");
    if (tensorType(s.prologueNorm.getResult()).getRank() != 2)
      return unsupported("the prologue's rms_norm must be rank 2");
  }
  for (Value r : g.results) {
    Operation *def = r.getDefiningOp();
    if (!def || prologue.contains(def))
      return unsupported("a fused product's kernel yields only products and epilogue values");
  }
  // Tile groups, numbered in order of their first product.
  llvm::DenseMap<unsigned, unsigned> groupOfLeader;
  for (unsigned i = 0; i < s.matmuls.size(); ++i) {
    unsigned next = unsigned(groupOfLeader.size());
    s.tileGroup.push_back(groupOfLeader.try_emplace(tiles.getLeaderValue(i), next).first->second);
  }
  // Each tile group holds at most two products (two accumulators per thread).
  llvm::SmallVector<unsigned, 4> count;
  for (unsigned gIdx : s.tileGroup) {
    if (gIdx >= count.size())
      count.resize(gIdx + 1);
    if (++count[gIdx] > 2)
      return unsupported("an epilogue combines more than two products");
  }
  s.kind = KernelKind::Matmul;
  return s;
}

KernelShape classify(const Group &g) {
  if (g.ops.empty())
    return unsupported("no ops");
  llvm::SmallVector<MatmulOp, 4> matmuls;
  llvm::SmallVector<Operation *, 2> anchors;
  bool elementalOnly = true;
  for (Operation *op : g.ops) {
    if (auto m = dyn_cast<MatmulOp>(op))
      matmuls.push_back(m);
    else if (isReductionAnchor(op))
      anchors.push_back(op);
    if (!isElemental(op) && !isa<KvWriteOp>(op))
      elementalOnly = false;
  }
  if (elementalOnly)
    return classifyElemental(g);
  auto single = [&] {
    KernelShape s;
    s.kind = KernelKind::Single;
    s.anchor = g.ops.front();
    return s;
  };
  if (!matmuls.empty()) {
    // A prologue norm is allowed; any other reduction is not.
    for (Operation *a : anchors)
      if (!isa<RmsNormOp>(a))
        return g.ops.size() == 1 ? single()
                                 : unsupported("a product's kernel holds no other reduction");
    KernelShape s = classifyMatmul(g, matmuls);
    return s || g.ops.size() > 1 ? s : single();
  }
  if (anchors.size() == 1) {
    KernelShape s = classifyReduction(g, anchors.front());
    return s || g.ops.size() > 1 ? s : single();
  }
  if (g.ops.size() == 1)
    return single();
  if (anchors.size() > 1)
    return unsupported("a kernel holds at most one reduction");
  for (Operation *op : g.ops)
    if (!isElemental(op) && !isa<KvWriteOp>(op))
      return unsupported("'" + op->getName().getStringRef().str() +
                         "' runs in a kernel of its own");
  return unsupported("unsupported grouping");
}

} // namespace

KernelShape mlir::chitu::classifyKernel(llvm::ArrayRef<Operation *> ops,
                                        llvm::ArrayRef<Value> results) {
  Group g{ops, results, {}};
  g.members.insert(ops.begin(), ops.end());
  return classify(g);
}

KernelShape mlir::chitu::classifyKernel(KernelOp kernel) {
  llvm::SmallVector<Operation *> ops;
  for (Operation &op : kernel.getBodyBlock().without_terminator())
    ops.push_back(&op);
  auto yield = cast<YieldOp>(kernel.getBodyBlock().getTerminator());
  llvm::SmallVector<Value> results(yield.getValues().begin(), yield.getValues().end());
  return classifyKernel(ops, results);
}
