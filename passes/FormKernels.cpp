//===- FormKernels.cpp - chitu-form-kernels -------------------------------===//
//
// Wraps each top-level compute op of an entry function into its own chitu.kernel
// region. Code generation works on regions, so fusing ops later only changes which
// ops share a region.
//
//===----------------------------------------------------------------------===//

#include "chitu/Passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::chitu {
#define GEN_PASS_DEF_FORMKERNELS
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

struct FormKernelsPass : mlir::chitu::impl::FormKernelsBase<FormKernelsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isDeclaration())
      return;
    unsigned counter = 0;
    func.walk([&](KernelOp) { ++counter; });
    SmallVector<Operation *> toWrap;
    for (Operation &op : func.getBody().front())
      if (isComputeOp(&op) && !isView(&op))
        toWrap.push_back(&op);
    for (Operation *op : toWrap)
      wrap(op, counter++);
  }

  void wrap(Operation *op, unsigned number) {
    OpBuilder b(op);
    // Each distinct operand becomes one kernel input.
    llvm::SetVector<Value> inputs(op->operand_begin(), op->operand_end());
    std::string name = "k" + std::to_string(number) + "_" + op->getName().stripDialect().str();
    auto kernel =
        KernelOp::create(b, op->getLoc(), op->getResultTypes(), name, inputs.getArrayRef());
    Block *body = b.createBlock(&kernel.getBody());
    IRMapping mapping;
    for (Value v : inputs)
      mapping.map(v, body->addArgument(v.getType(), v.getLoc()));
    b.setInsertionPointToStart(body);
    Operation *clone = b.clone(*op, mapping);
    YieldOp::create(b, op->getLoc(), clone->getResults());
    if (Attribute layer = op->getAttr("chitu.layer"))
      kernel->setAttr("chitu.layer", layer);
    op->replaceAllUsesWith(kernel.getResults());
    op->erase();
  }
};

} // namespace
