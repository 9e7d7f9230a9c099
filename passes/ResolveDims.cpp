//===- ResolveDims.cpp - chitu-resolve-dims -------------------------------===//
//
// Replaces chitu.dim of intermediate tensors by index arithmetic on the function's
// argument dimensions (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "chitu/Analysis/ShapeAnalysis.h"
#include "chitu/Passes/Passes.h"
#include "support/Expr.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace mlir::chitu {
#define GEN_PASS_DEF_RESOLVEDIMS
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

struct ResolveDimsPass : mlir::chitu::impl::ResolveDimsBase<ResolveDimsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isDeclaration())
      return;
    SmallVector<DimOp> inner;
    func.walk([&](DimOp op) {
      if (!isa<BlockArgument>(op.getInput()))
        inner.push_back(op);
    });
    if (inner.empty())
      return;
    auto analysis = ShapeAnalysis::analyze(func);
    if (failed(analysis))
      return signalPassFailure();
    OpBuilder b(&getContext());
    Location loc = func.getLoc();
    // Sizes are built at the top of the body, where every argument is visible.
    b.setInsertionPointToStart(&func.getBody().front());
    std::map<int64_t, Value> symbolValues;
    auto symbol = [&](int64_t id) -> Value {
      auto it = symbolValues.find(id);
      if (it != symbolValues.end())
        return it->second;
      const SymbolOrigin &o = analysis->symbols()[size_t(id)];
      Value v = DimOp::create(b, loc, func.getArgument(o.argIndex), b.getI64IntegerAttr(o.dim));
      return symbolValues[id] = v;
    };
    for (DimOp op : inner) {
      const SymExpr &e = analysis->dims(op.getInput())[size_t(op.getIndex())];
      // Evaluate the expression's postfix form onto a stack of index values.
      std::vector<int64_t> code;
      e.toPostfix(code, [](int64_t id) { return id; });
      std::vector<Value> stack;
      bool ok = true;
      for (size_t i = 0; i < code.size() && ok; ++i) {
        auto opcode = ::chitu::ExprOpcode(code[i]);
        if (opcode == ::chitu::ExprOpcode::PushConst) {
          stack.push_back(arith::ConstantIndexOp::create(b, loc, code[++i]));
          continue;
        }
        if (opcode == ::chitu::ExprOpcode::PushSym) {
          stack.push_back(symbol(code[++i]));
          continue;
        }
        if (stack.size() < 2) {
          ok = false;
          break;
        }
        Value rhs = stack.back();
        stack.pop_back();
        Value lhs = stack.back();
        stack.pop_back();
        Value r;
        switch (opcode) {
        case ::chitu::ExprOpcode::Add:
          r = arith::AddIOp::create(b, loc, lhs, rhs);
          break;
        case ::chitu::ExprOpcode::Sub:
          r = arith::SubIOp::create(b, loc, lhs, rhs);
          break;
        case ::chitu::ExprOpcode::Mul:
          r = arith::MulIOp::create(b, loc, lhs, rhs);
          break;
        case ::chitu::ExprOpcode::FloorDiv:
          r = arith::FloorDivSIOp::create(b, loc, lhs, rhs);
          break;
        case ::chitu::ExprOpcode::CeilDiv:
          r = arith::CeilDivSIOp::create(b, loc, lhs, rhs);
          break;
        case ::chitu::ExprOpcode::Max:
          r = arith::MaxSIOp::create(b, loc, lhs, rhs);
          break;
        case ::chitu::ExprOpcode::Min:
          r = arith::MinSIOp::create(b, loc, lhs, rhs);
          break;
        case ::chitu::ExprOpcode::Mod: { // a - floor(a / b) * b
          Value q = arith::FloorDivSIOp::create(b, loc, lhs, rhs);
          r = arith::SubIOp::create(b, loc, lhs, arith::MulIOp::create(b, loc, q, rhs));
          break;
        }
        default:
          ok = false;
        }
        stack.push_back(r);
      }
      if (!ok || stack.size() != 1)
        continue; // leave the size as it was
      op.getResult().replaceAllUsesWith(stack.back());
      op.erase();
    }
  }
};

} // namespace
