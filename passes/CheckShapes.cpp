//===- CheckShapes.cpp - chitu-check-shapes -------------------------------===//
//
// Runs the symbolic shape analysis on an entry function, failing on inconsistent shapes
// and recording the symbols and run-time checks as attributes (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "chitu/Analysis/ShapeAnalysis.h"
#include "chitu/Passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace mlir::chitu {
#define GEN_PASS_DEF_CHECKSHAPES
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

struct CheckShapesPass : mlir::chitu::impl::CheckShapesBase<CheckShapesPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isDeclaration())
      return;
    auto analysis = ShapeAnalysis::analyze(func);
    if (failed(analysis))
      return signalPassFailure();
    Builder b(&getContext());
    auto name = [](int64_t id) { return ShapeAnalysis::symbolName(id); };
    for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
      SmallVector<Attribute> dims;
      for (const SymExpr &d : analysis->dims(arg))
        dims.push_back(b.getStringAttr(d.str(name)));
      func.setArgAttr(i, "chitu.dims", b.getArrayAttr(dims));
    }
    SmallVector<Attribute> checks;
    for (const ShapeCheck &c : analysis->checks())
      checks.push_back(b.getStringAttr(c.lhs.str(name) + (c.isEquality ? " == " : " <= ") +
                                       c.rhs.str(name) + ": " + c.message));
    if (checks.empty())
      func->removeAttr("chitu.checks");
    else
      func->setAttr("chitu.checks", b.getArrayAttr(checks));
  }
};

} // namespace
