//===- QuantizeWeights.cpp - chitu-quantize-weights -----------------------===//
//
// Precision assignment for the weights of linear layers: int8 values with per-row scales,
// read through chitu.dequantize (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "chitu/Passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Regex.h"

namespace mlir::chitu {
#define GEN_PASS_DEF_QUANTIZEWEIGHTS
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

struct QuantizeWeightsPass : mlir::chitu::impl::QuantizeWeightsBase<QuantizeWeightsPass> {
  using QuantizeWeightsBase::QuantizeWeightsBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (weightDtype.empty())
      return;
    if (weightDtype != "int8") {
      func.emitError("chitu-quantize-weights: unknown weight dtype '")
          << weightDtype << "' (supported: int8)";
      return signalPassFailure();
    }
    llvm::Regex keep(exclude);
    std::string regexError;
    if (!exclude.empty() && !keep.isValid(regexError)) {
      func.emitError("chitu-quantize-weights: exclude pattern '")
          << exclude << "' is not a regular expression: " << regexError;
      return signalPassFailure();
    }
    // The quantized parts of each weight, made next to it once; a dequantize per product,
    // just before it, so that fusion can fold each into its product's kernel.
    llvm::DenseMap<Operation *, std::pair<Value, Value>> quantized;
    func.walk([&](MatmulOp matmul) {
      auto weight = matmul.getRhs().getDefiningOp<WeightOp>();
      if (!weight || weight.getQuantize() || !matmul.getTransposeRhs())
        return;
      auto type = cast<RankedTensorType>(weight.getType());
      if (type.getRank() != 2 || !isa<FloatType>(type.getElementType()))
        return;
      if (!exclude.empty() && keep.match(weight.getName()))
        return;
      auto &[q, s] = quantized[weight];
      if (!q) {
        OpBuilder b(weight);
        b.setInsertionPointAfter(weight);
        Location loc = weight.getLoc();
        q = WeightOp::create(b, loc, RankedTensorType::get(type.getShape(), b.getI8Type()),
                             weight.getNameAttr(), b.getStringAttr("int8_rows"));
        s = WeightOp::create(b, loc, RankedTensorType::get({type.getDimSize(0), 1}, b.getF32Type()),
                             weight.getNameAttr(), b.getStringAttr("int8_rows"));
      }
      OpBuilder b(matmul);
      matmul.getRhsMutable().assign(DequantizeOp::create(b, weight.getLoc(), type, q, s));
    });
    for (auto &[weight, parts] : quantized)
      if (weight->use_empty())
        weight->erase();
  }
};

} // namespace
