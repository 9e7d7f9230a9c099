//===- ShapeAnalysis.cpp - symbolic shapes of a function ------------------===//

#include "chitu/Analysis/ShapeAnalysis.h"

#include "chitu/Dialect/ChituOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::chitu;

std::string mlir::chitu::locationString(Location loc) {
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return file.getFilename().str() + ":" + std::to_string(file.getLine()) + ":" +
           std::to_string(file.getColumn());
  if (auto fused = dyn_cast<FusedLoc>(loc))
    if (!fused.getLocations().empty())
      return locationString(fused.getLocations().front());
  if (auto name = dyn_cast<NameLoc>(loc))
    return locationString(name.getChildLoc());
  std::string s;
  llvm::raw_string_ostream os(s);
  loc.print(os);
  return s;
}

namespace {

struct Constraint {
  bool isEquality;
  SymExpr lhs, rhs;
  std::string message;
  Operation *op;
};

class Analyzer {
public:
  explicit Analyzer(func::FuncOp func) : func_(func) {}

  LogicalResult run(ShapeAnalysis &out, llvm::DenseMap<Value, llvm::SmallVector<SymExpr, 4>> &dims,
                    llvm::DenseMap<Value, SymExpr> &indices, std::vector<SymbolOrigin> &symbols,
                    std::vector<ShapeCheck> &checks);

private:
  LogicalResult visitBlock(Block &block);
  LogicalResult visitOp(Operation *op);
  LogicalResult visitIndexOp(Operation *op);

  SmallVector<SymExpr, 4> staticDims(Value v) {
    SmallVector<SymExpr, 4> out;
    for (int64_t d : cast<RankedTensorType>(v.getType()).getShape())
      out.push_back(SymExpr::constant(d));
    return out;
  }
  /// Valid until the next insertion into dims_.
  ArrayRef<SymExpr> dimsOf(Value v) { return dims_.find(v)->second; }
  SymExpr numElements(ArrayRef<SymExpr> dims) {
    SymExpr n = SymExpr::constant(1);
    for (const SymExpr &d : dims)
      n = n * d;
    return n;
  }

  std::string where(Operation *op) {
    return op->getName().getStringRef().str() + " at " + locationString(op->getLoc());
  }
  void requireEqual(SymExpr a, SymExpr b, Operation *op, const std::string &what) {
    constraints_.push_back({true, std::move(a), std::move(b), where(op) + ": " + what, op});
  }
  void requireLessEqual(SymExpr a, SymExpr b, Operation *op, const std::string &what) {
    constraints_.push_back({false, std::move(a), std::move(b), where(op) + ": " + what, op});
  }
  /// Two dims that must agree; returns the one to propagate (a constant if either is).
  SymExpr unify(const SymExpr &a, const SymExpr &b, Operation *op, const std::string &what) {
    if (a == b)
      return a;
    requireEqual(a, b, op, what);
    return b.isConstant() ? b : a;
  }
  /// A mixed static/dynamic size list (reshape, broadcast_to) as expressions.
  SmallVector<SymExpr, 4> mixedDims(ArrayRef<int64_t> statics, ValueRange dynamic) {
    SmallVector<SymExpr, 4> out;
    unsigned next = 0;
    for (int64_t s : statics)
      out.push_back(ShapedType::isDynamic(s) ? indices_.lookup(dynamic[next++])
                                             : SymExpr::constant(s));
    return out;
  }

  SmallVector<SymExpr, 4> broadcast(ArrayRef<SymExpr> a, ArrayRef<SymExpr> b, Operation *op) {
    size_t rank = std::max(a.size(), b.size());
    SmallVector<SymExpr, 4> out;
    SymExpr one = SymExpr::constant(1);
    for (size_t i = 0; i < rank; ++i) {
      SymExpr da = i < rank - a.size() ? one : a[i - (rank - a.size())];
      SymExpr db = i < rank - b.size() ? one : b[i - (rank - b.size())];
      if (da == one)
        out.push_back(db);
      else if (db == one)
        out.push_back(da);
      else
        out.push_back(
            unify(da, db, op, "broadcast dimension " + std::to_string(i) + " must match"));
    }
    return out;
  }
  /// Records a result's dims: the static sizes of its type where it has them (checked
  /// against what the op computes), the computed sizes elsewhere.
  LogicalResult setResult(Value result, ArrayRef<SymExpr> expected, Operation *op) {
    auto type = cast<RankedTensorType>(result.getType());
    if (int64_t(expected.size()) != type.getRank())
      return op->emitOpError("result rank does not match its operands");
    SmallVector<SymExpr, 4> out;
    for (int64_t i = 0; i < type.getRank(); ++i) {
      if (type.isDynamicDim(i)) {
        out.push_back(expected[i]);
        continue;
      }
      SymExpr stat = SymExpr::constant(type.getDimSize(i));
      if (expected[i] != stat)
        requireEqual(expected[i], stat, op,
                     "result dimension " + std::to_string(i) + " must be " +
                         std::to_string(type.getDimSize(i)));
      out.push_back(stat);
    }
    dims_[result] = std::move(out);
    return success();
  }

  func::FuncOp func_;
  llvm::DenseMap<Value, llvm::SmallVector<SymExpr, 4>> dims_;
  llvm::DenseMap<Value, SymExpr> indices_;
  std::vector<SymbolOrigin> origins_;
  std::vector<Constraint> constraints_;
};

LogicalResult Analyzer::visitBlock(Block &block) {
  for (Operation &op : block)
    if (failed(visitOp(&op)))
      return failure();
  return success();
}

LogicalResult Analyzer::visitIndexOp(Operation *op) {
  if (op->getNumResults() != 1 || !op->getResult(0).getType().isIndex())
    return op->emitOpError("is only supported on index values (sizes)");
  auto bin = [&](auto fn) -> LogicalResult {
    SymExpr value = fn(indices_.lookup(op->getOperand(0)), indices_.lookup(op->getOperand(1)));
    indices_[op->getResult(0)] = value;
    return success();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](arith::ConstantOp c) -> LogicalResult {
        auto attr = dyn_cast<IntegerAttr>(c.getValue());
        if (!attr)
          return c.emitOpError("index constants must be integers");
        indices_[c.getResult()] = SymExpr::constant(attr.getInt());
        return success();
      })
      .Case([&](arith::AddIOp) { return bin([](auto a, auto b) { return a + b; }); })
      .Case([&](arith::SubIOp) { return bin([](auto a, auto b) { return a - b; }); })
      .Case([&](arith::MulIOp) { return bin([](auto a, auto b) { return a * b; }); })
      .Case([&](arith::FloorDivSIOp) { return bin(SymExpr::floorDiv); })
      .Case([&](arith::CeilDivSIOp) { return bin(SymExpr::ceilDiv); })
      .Case([&](arith::MaxSIOp) { return bin(SymExpr::max); })
      .Case([&](arith::MinSIOp) { return bin(SymExpr::min); })
      .Default([&](Operation *other) {
        return other->emitOpError(
            "is not supported in size computations (use arith.constant, addi, subi, "
            "muli, floordivsi, ceildivsi, maxsi or minsi on index values)");
      });
}

LogicalResult Analyzer::visitOp(Operation *op) {
  if (isa<func::ReturnOp, YieldOp>(op))
    return success();
  if (op->getDialect() && isa<arith::ArithDialect>(op->getDialect()))
    return visitIndexOp(op);
  if (auto kernel = dyn_cast<KernelOp>(op)) {
    Block &body = kernel.getBodyBlock();
    for (auto [arg, input] : llvm::zip(body.getArguments(), kernel.getInputs())) {
      // Copy before inserting: inserting may move the map's storage.
      if (isa<IndexType>(input.getType())) {
        SymExpr value = indices_.lookup(input);
        indices_[arg] = value;
      } else {
        SmallVector<SymExpr, 4> dims = dims_.lookup(input);
        dims_[arg] = std::move(dims);
      }
    }
    if (failed(visitBlock(body)))
      return failure();
    auto yield = cast<YieldOp>(body.getTerminator());
    for (auto [result, value] : llvm::zip(kernel.getResults(), yield.getValues())) {
      SmallVector<SymExpr, 4> dims = dims_.lookup(value);
      if (failed(setResult(result, dims, op)))
        return failure();
    }
    return success();
  }
  if (!isa_and_nonnull<ChituDialect>(op->getDialect()))
    return op->emitOpError("is not supported by chitu (only chitu, arith index and "
                           "func.return ops may appear in an entry function)");

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<WeightOp, ConstantOp>([&](auto o) {
        dims_[o.getResult()] = staticDims(o.getResult());
        return success();
      })
      .Case([&](DimOp o) {
        SymExpr dim = dims_.lookup(o.getInput())[o.getIndex()];
        indices_[o.getResult()] = dim;
        return success();
      })
      .Case<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, PowOp, CompareOp>([&](auto o) {
        auto out = broadcast(dimsOf(o.getLhs()), dimsOf(o.getRhs()), op);
        return setResult(o.getResult(), out, op);
      })
      .Case([&](DequantizeOp o) {
        if (o.getGroupSize()) { // int4 groups: static shapes, checked by the op's verifier
          SmallVector<SymExpr, 4> out;
          for (int64_t d : cast<RankedTensorType>(o.getType()).getShape())
            out.push_back(SymExpr::constant(d));
          return setResult(o.getResult(), out, op);
        }
        SmallVector<SymExpr, 4> out(dimsOf(o.getValues()));
        ArrayRef<SymExpr> scales = dimsOf(o.getScales());
        for (size_t d = 0; d < out.size(); ++d)
          if (!(scales[d].isConstant() && scales[d].getConstant() == 1))
            requireEqual(scales[d], out[d], op,
                         "scales dimension " + std::to_string(d) + " must be 1 or the values'");
        return setResult(o.getResult(), out, op);
      })
      .Case([&](SelectOp o) {
        auto ct = broadcast(dimsOf(o.getCondition()), dimsOf(o.getOnTrue()), op);
        auto out = broadcast(ct, dimsOf(o.getOnFalse()), op);
        return setResult(o.getResult(), out, op);
      })
      .Case([&](GatherElementsOp o) {
        ArrayRef<SymExpr> in = dimsOf(o.getInput());
        SmallVector<SymExpr, 4> out(dimsOf(o.getIndices()));
        for (size_t d = 0; d < in.size(); ++d)
          if (int64_t(d) != int64_t(o.getAxis()))
            requireLessEqual(out[d], in[d], op,
                             "indices must not exceed the input in dimension " + std::to_string(d));
        return setResult(o.getResult(), out, op);
      })
      .Case([&](BroadcastToOp o) {
        SmallVector<SymExpr, 4> out = mixedDims(o.getStaticShape(), o.getShape());
        ArrayRef<SymExpr> in = dimsOf(o.getInput());
        size_t offset = out.size() - in.size();
        for (size_t d = 0; d < in.size(); ++d)
          if (!(in[d].isConstant() && in[d].getConstant() == 1))
            requireEqual(in[d], out[d + offset], op,
                         "input dimension " + std::to_string(d) +
                             " must be 1 or the target's size");
        return setResult(o.getResult(), out, op);
      })
      .Case([&](FromSizesOp o) { return setResult(o.getResult(), staticDims(o.getResult()), op); })
      .Case([&](IotaOp o) {
        SymExpr size = o.getSize() ? indices_.lookup(o.getSize())
                                   : SymExpr::constant(o.getType().getDimSize(0));
        requireLessEqual(SymExpr::constant(0), size, op, "the size must not be negative");
        return setResult(o.getResult(), {size}, op);
      })
      .Case<NegOp, AbsOp, ErfOp, CumsumOp, ReluOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SigmoidOp,
            SiluOp, GeluOp, GeluTanhOp, CastOp, SoftmaxOp>([&](auto o) {
        SmallVector<SymExpr, 4> out(dimsOf(o.getInput()));
        return setResult(o.getResult(), out, op);
      })
      .Case([&](MatmulOp o) {
        ArrayRef<SymExpr> a = dimsOf(o.getLhs()), b = dimsOf(o.getRhs());
        size_t ra = a.size(), rb = b.size();
        SymExpr m = o.getTransposeLhs() ? a[ra - 1] : a[ra - 2];
        SymExpr k = o.getTransposeLhs() ? a[ra - 2] : a[ra - 1];
        SymExpr kb = o.getTransposeRhs() ? b[rb - 1] : b[rb - 2];
        SymExpr n = o.getTransposeRhs() ? b[rb - 2] : b[rb - 1];
        unify(k, kb, op, "the contraction sizes of lhs and rhs must match");
        auto out = broadcast(a.drop_back(2), b.drop_back(2), op);
        out.push_back(m);
        out.push_back(n);
        return setResult(o.getResult(), out, op);
      })
      .Case<ReduceSumOp, ReduceMaxOp, ReduceMeanOp>([&](auto o) {
        ArrayRef<SymExpr> in = dimsOf(o.getInput());
        SmallVector<SymExpr, 4> out;
        ArrayRef<int64_t> axes = o.getAxes();
        for (int64_t d = 0; d < int64_t(in.size()); ++d) {
          if (llvm::is_contained(axes, d)) {
            if (o.getKeepDims())
              out.push_back(SymExpr::constant(1));
          } else {
            out.push_back(in[d]);
          }
        }
        return setResult(o.getResult(), out, op);
      })
      .Case<RmsNormOp, LayerNormOp>([&](auto o) {
        ArrayRef<SymExpr> in = dimsOf(o.getInput());
        unify(dimsOf(o.getWeight())[0], in.back(), op,
              "the weight must have the size of the last dimension");
        if constexpr (std::is_same_v<decltype(o), LayerNormOp>)
          if (o.getBias())
            unify(dimsOf(o.getBias())[0], in.back(), op,
                  "the bias must have the size of the last dimension");
        SmallVector<SymExpr, 4> out(in);
        return setResult(o.getResult(), out, op);
      })
      .Case([&](ReshapeOp o) {
        SmallVector<SymExpr, 4> out = mixedDims(o.getStaticShape(), o.getShape());
        requireEqual(numElements(dimsOf(o.getInput())), numElements(out), op,
                     "the new shape must have as many elements as the input");
        return setResult(o.getResult(), out, op);
      })
      .Case([&](TransposeOp o) {
        ArrayRef<SymExpr> in = dimsOf(o.getInput());
        SmallVector<SymExpr, 4> out;
        for (int64_t p : o.getPerm())
          out.push_back(in[p]);
        return setResult(o.getResult(), out, op);
      })
      .Case([&](SliceOp o) {
        ArrayRef<SymExpr> in = dimsOf(o.getInput());
        SmallVector<SymExpr, 4> out;
        unsigned nextOffset = 0, nextSize = 0;
        for (size_t d = 0; d < in.size(); ++d) {
          int64_t so = o.getStaticOffsets()[d], ss = o.getStaticSizes()[d];
          int64_t stride = o.getStrides()[d];
          SymExpr offset = ShapedType::isDynamic(so) ? indices_.lookup(o.getOffsets()[nextOffset++])
                                                     : SymExpr::constant(so);
          SymExpr size = ShapedType::isDynamic(ss) ? indices_.lookup(o.getSizes()[nextSize++])
                                                   : SymExpr::constant(ss);
          SymExpr extent = SymExpr::max((size - SymExpr::constant(1)) * SymExpr::constant(stride) +
                                            SymExpr::constant(1),
                                        SymExpr::constant(0));
          std::string dim = "dimension " + std::to_string(d);
          requireLessEqual(SymExpr::constant(0), offset, op,
                           "the offset in " + dim + " must not be negative");
          requireLessEqual(SymExpr::constant(0), size, op,
                           "the size in " + dim + " must not be negative");
          requireLessEqual(offset + extent, in[d], op,
                           "the window must lie inside " + dim + " of the input");
          out.push_back(size);
        }
        return setResult(o.getResult(), out, op);
      })
      .Case([&](ConcatOp o) {
        int64_t axis = o.getAxis();
        SmallVector<SymExpr, 4> out(dimsOf(o.getInputs().front()));
        out[axis] = SymExpr::constant(0);
        for (Value v : o.getInputs()) {
          ArrayRef<SymExpr> in = dimsOf(v);
          for (size_t d = 0; d < in.size(); ++d) {
            if (int64_t(d) == axis)
              out[d] = out[d] + in[d];
            else
              out[d] =
                  unify(out[d], in[d], op, "inputs must match in dimension " + std::to_string(d));
          }
        }
        return setResult(o.getResult(), out, op);
      })
      .Case([&](GatherOp o) {
        ArrayRef<SymExpr> table = dimsOf(o.getTable());
        int64_t axis = o.getAxis();
        SmallVector<SymExpr, 4> out(table.take_front(axis));
        llvm::append_range(out, dimsOf(o.getIndices()));
        llvm::append_range(out, table.drop_front(axis + 1));
        return setResult(o.getResult(), out, op);
      })
      .Case([&](RopeOp o) {
        SmallVector<SymExpr, 4> in(dimsOf(o.getInput()));
        unify(dimsOf(o.getPositions())[0], in[0], op, "there must be one position per token");
        requireEqual(dimsOf(o.getInvFreq())[0] * SymExpr::constant(2), in[2], op,
                     "inv_freq must have half the head dimension's entries");
        return setResult(o.getResult(), in, op);
      })
      .Case([&](KvWriteOp o) {
        SmallVector<SymExpr, 4> cache(dimsOf(o.getCache()));
        ArrayRef<SymExpr> values = dimsOf(o.getValues());
        unify(values[1], cache[2], op, "values and cache must have the same KV heads");
        unify(values[2], cache[3], op, "values and cache must have the same head dimension");
        unify(dimsOf(o.getSlots())[0], values[0], op, "there must be one slot per row");
        return setResult(o.getResult(), cache, op);
      })
      .Case([&](PagedAttentionOp o) {
        SmallVector<SymExpr, 4> q(dimsOf(o.getQuery()));
        ArrayRef<SymExpr> k = dimsOf(o.getKeyCache());
        ArrayRef<SymExpr> v = dimsOf(o.getValueCache());
        for (size_t d = 0; d < 4; ++d)
          unify(k[d], v[d], op, "key and value caches must have the same shape");
        unify(q[2], k[3], op, "queries and keys must have the same head dimension");
        unify(dimsOf(o.getSequenceIds())[0], q[0], op, "there must be one sequence id per token");
        unify(dimsOf(o.getPositions())[0], q[0], op, "there must be one position per token");
        requireEqual(SymExpr::mod(q[1], k[2]), SymExpr::constant(0), op,
                     "query heads must be a multiple of the KV heads");
        return setResult(o.getResult(), q, op);
      })
      .Case([&](AttentionOp o) {
        SmallVector<SymExpr, 4> q(dimsOf(o.getQuery()));
        ArrayRef<SymExpr> k = dimsOf(o.getKey()), v = dimsOf(o.getValue());
        size_t rank = q.size();
        for (size_t d = 0; d + 2 < rank; ++d) {
          unify(k[d], q[d], op, "query and key must have the same leading dimensions");
          unify(v[d], q[d], op, "query and value must have the same leading dimensions");
        }
        unify(k[rank - 1], q[rank - 1], op, "queries and keys must have the same head dimension");
        unify(v[rank - 2], k[rank - 2], op, "there must be one value per key");
        if (Value mask = o.getMask()) {
          SmallVector<SymExpr, 4> scores(q);
          scores.back() = k[rank - 2];
          // Each mask dimension is 1 or the scores' (it never stretches the scores).
          ArrayRef<SymExpr> m = dimsOf(mask);
          for (size_t i = 0; i < m.size(); ++i)
            if (m[i] != SymExpr::constant(1))
              unify(m[i], scores[rank - m.size() + i], op,
                    "mask dimension " + std::to_string(i) + " must be 1 or the scores'");
        }
        q.back() = v[rank - 1];
        return setResult(o.getResult(), q, op);
      })
      .Case([&](SamplingProbsOp o) {
        SmallVector<SymExpr, 4> logits(dimsOf(o.getLogits()));
        for (Value row : {o.getTemperature(), o.getTopK(), o.getTopP(), o.getMinP(),
                          o.getRepetitionPenalty(), o.getHistory()})
          unify(dimsOf(row)[0], logits[0], op, "every parameter needs one entry per row");
        return setResult(o.getResult(), logits, op);
      })
      .Case([&](MultinomialOp o) {
        SymExpr rows = dimsOf(o.getProbs())[0];
        unify(dimsOf(o.getSeeds())[0], rows, op, "there must be one seed per row");
        return setResult(o.getResult(), {rows}, op);
      })
      .Default([&](Operation *other) { return other->emitOpError("has no shape rule"); });
}

LogicalResult Analyzer::run(ShapeAnalysis &,
                            llvm::DenseMap<Value, llvm::SmallVector<SymExpr, 4>> &dims,
                            llvm::DenseMap<Value, SymExpr> &indices,
                            std::vector<SymbolOrigin> &symbols, std::vector<ShapeCheck> &checks) {
  if (func_.getBody().empty())
    return func_.emitOpError("has no body");
  if (!func_.getBody().hasOneBlock())
    return func_.emitOpError("must have a single block (no control flow)");
  // One raw symbol per dynamic input dimension.
  for (auto [i, arg] : llvm::enumerate(func_.getArguments())) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type)
      return func_.emitOpError("argument ")
             << i << " must be a ranked tensor, got " << arg.getType();
    SmallVector<SymExpr, 4> d;
    for (int64_t k = 0; k < type.getRank(); ++k) {
      if (type.isDynamicDim(k)) {
        d.push_back(SymExpr::symbol(int64_t(origins_.size())));
        origins_.push_back({unsigned(i), unsigned(k)});
      } else {
        d.push_back(SymExpr::constant(type.getDimSize(k)));
      }
    }
    dims_[arg] = std::move(d);
  }
  if (failed(visitBlock(func_.getBody().front())))
    return failure();

  // Solve the equalities: merge symbols, bind them to sizes or to expressions of other
  // symbols, until nothing changes. What is left becomes a run-time check.
  std::vector<std::optional<SymExpr>> subst(origins_.size());
  std::function<SymExpr(const SymExpr &)> resolve = [&](const SymExpr &e) {
    return e.substitute(
        [&](int64_t id) { return subst[id] ? resolve(*subst[id]) : SymExpr::symbol(id); });
  };
  std::vector<bool> done(constraints_.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < constraints_.size(); ++i) {
      Constraint &c = constraints_[i];
      if (done[i] || !c.isEquality)
        continue;
      SymExpr l = resolve(c.lhs), r = resolve(c.rhs);
      if (l == r) {
        done[i] = true;
        continue;
      }
      if (l.isConstant() && r.isConstant()) {
        c.op->emitError() << c.message << " (" << l.getConstant() << " vs " << r.getConstant()
                          << ")";
        return failure();
      }
      auto ls = l.asSymbol(), rs = r.asSymbol();
      if (ls && rs) {
        // Keep the earlier symbol (the first input that has it).
        int64_t keep = std::min(*ls, *rs), drop = std::max(*ls, *rs);
        subst[drop] = SymExpr::symbol(keep);
      } else if (ls && !r.containsSymbol(*ls)) {
        subst[*ls] = r;
      } else if (rs && !l.containsSymbol(*rs)) {
        subst[*rs] = l;
      } else {
        continue;
      }
      done[i] = true;
      changed = true;
    }
  }

  // Renumber the free symbols densely, in input order.
  std::vector<int64_t> finalId(origins_.size(), -1);
  for (size_t id = 0; id < origins_.size(); ++id)
    if (!subst[id]) {
      finalId[id] = int64_t(symbols.size());
      symbols.push_back(origins_[id]);
    }
  auto finalize = [&](const SymExpr &e) {
    return resolve(e).substitute([&](int64_t id) { return SymExpr::symbol(finalId[id]); });
  };
  for (auto &[value, d] : dims_) {
    SmallVector<SymExpr, 4> out;
    for (const SymExpr &e : d)
      out.push_back(finalize(e));
    dims[value] = std::move(out);
  }
  for (auto &[value, e] : indices_)
    indices[value] = finalize(e);
  for (size_t i = 0; i < constraints_.size(); ++i) {
    const Constraint &c = constraints_[i];
    if (done[i])
      continue;
    SymExpr l = finalize(c.lhs), r = finalize(c.rhs);
    // Trivially true: equal sides, or lhs <= rhs for every value of the (non-negative)
    // symbols.
    if (c.isEquality ? l == r : (r - l).isNonNegative())
      continue;
    if (l.isConstant() && r.isConstant()) {
      bool ok =
          c.isEquality ? l.getConstant() == r.getConstant() : l.getConstant() <= r.getConstant();
      if (ok)
        continue;
      c.op->emitError() << c.message << " (" << l.getConstant() << (c.isEquality ? " vs " : " > ")
                        << r.getConstant() << ")";
      return failure();
    }
    checks.push_back({c.isEquality, l, r, c.message});
  }
  return success();
}

} // namespace

FailureOr<ShapeAnalysis> ShapeAnalysis::analyze(func::FuncOp func) {
  ShapeAnalysis result;
  Analyzer analyzer(func);
  if (failed(analyzer.run(result, result.dims_, result.indices_, result.symbols_, result.checks_)))
    return failure();
  return result;
}

ArrayRef<SymExpr> ShapeAnalysis::dims(Value v) const {
  auto it = dims_.find(v);
  assert(it != dims_.end() && "value has no shape");
  return it->second;
}

const SymExpr &ShapeAnalysis::index(Value v) const {
  auto it = indices_.find(v);
  assert(it != indices_.end() && "value is not a known index");
  return it->second;
}

SymExpr ShapeAnalysis::numElements(Value v) const {
  SymExpr n = SymExpr::constant(1);
  for (const SymExpr &d : dims(v))
    n = n * d;
  return n;
}
