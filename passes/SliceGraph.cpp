//===- SliceGraph.cpp - chitu-slice ---------------------------------------===//
//
// Dynamic graph slicing: cuts an entry's kernels, in program order, into slices whose
// weights the runtime places together (resident, streamed from host memory, or on the CPU),
// by decoder layer or under a byte budget (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "chitu/Analysis/ShapeAnalysis.h"
#include "chitu/Passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

#include <optional>

namespace mlir::chitu {
#define GEN_PASS_DEF_SLICEGRAPH
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

/// Bytes of a tensor with every dynamic dimension at 1.
int64_t bytesAtUnitSizes(const ShapeAnalysis &shapes, Value v) {
  SymExpr n = shapes.numElements(v).substitute([](int64_t) { return SymExpr::constant(1); });
  return n.getConstant() * storageBytes(cast<RankedTensorType>(v.getType()).getElementType());
}

struct KernelFootprint {
  KernelOp kernel;
  std::optional<int64_t> layer;
  SmallVector<WeightOp> weights;
  int64_t activationBytes = 0; // its tensor inputs and outputs other than weights
};

struct Slice {
  llvm::DenseSet<Operation *> weights;
  int64_t weightBytes = 0, activationBytes = 0, kernels = 0;
  std::optional<int64_t> layer;

  int64_t weightBytesWith(const KernelFootprint &k) const {
    int64_t bytes = weightBytes;
    for (WeightOp w : k.weights)
      if (!weights.contains(w))
        bytes += weightBytesOf(w);
    return bytes;
  }
  void add(const KernelFootprint &k) {
    weightBytes = weightBytesWith(k);
    for (WeightOp w : k.weights)
      weights.insert(w);
    activationBytes = std::max(activationBytes, k.activationBytes);
    ++kernels;
  }
  static int64_t weightBytesOf(WeightOp w) {
    auto t = cast<RankedTensorType>(w.getType());
    return t.getNumElements() * storageBytes(t.getElementType());
  }
};

struct SliceGraphPass : mlir::chitu::impl::SliceGraphBase<SliceGraphPass> {
  using SliceGraphBase::SliceGraphBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isDeclaration())
      return;
    if (budget < 0) {
      func.emitError("chitu-slice: the budget must not be negative");
      return signalPassFailure();
    }
    FailureOr<ShapeAnalysis> shapes = ShapeAnalysis::analyze(func);
    if (failed(shapes))
      return signalPassFailure();

    std::vector<KernelFootprint> kernels;
    for (Operation &op : func.getBody().front()) {
      auto kernel = dyn_cast<KernelOp>(op);
      if (!kernel)
        continue;
      KernelFootprint k{kernel, std::nullopt, {}, 0};
      if (auto layer = kernel->getAttrOfType<IntegerAttr>("chitu.layer"))
        k.layer = layer.getInt();
      llvm::SmallDenseSet<Value> seen;
      auto account = [&](Value v) {
        if (!isa<RankedTensorType>(v.getType()) || !seen.insert(v).second)
          return;
        if (auto w = v.getDefiningOp<WeightOp>())
          k.weights.push_back(w);
        else if (!v.getDefiningOp<ConstantOp>())
          k.activationBytes += bytesAtUnitSizes(*shapes, v);
      };
      for (Value v : kernel.getInputs())
        account(v);
      for (Value v : kernel.getResults())
        account(v);
      kernels.push_back(std::move(k));
    }

    std::vector<Slice> slices;
    for (KernelFootprint &k : kernels) {
      if (budget > 0) {
        Slice alone;
        alone.add(k);
        if (alone.weightBytes + alone.activationBytes > budget) {
          k.kernel.emitError("chitu-slice: kernel '")
              << k.kernel.getName() << "' needs " << alone.weightBytes << " bytes of weights and "
              << alone.activationBytes << " of activations, more than the slice budget of "
              << int64_t(budget) << " bytes";
          return signalPassFailure();
        }
      }
      bool startNew = slices.empty();
      if (!startNew) {
        const Slice &current = slices.back();
        startNew = budget > 0 ? current.weightBytesWith(k) +
                                        std::max(current.activationBytes, k.activationBytes) >
                                    budget
                              : current.layer != k.layer;
      }
      if (startNew) {
        slices.emplace_back();
        slices.back().layer = k.layer;
      }
      slices.back().add(k);
      k.kernel->setAttr("chitu.slice",
                        IntegerAttr::get(IntegerType::get(&getContext(), 64), slices.size() - 1));
    }

    Builder b(&getContext());
    SmallVector<Attribute> records;
    for (const Slice &s : slices)
      records.push_back(b.getDictionaryAttr({
          b.getNamedAttr("weight_bytes", b.getI64IntegerAttr(s.weightBytes)),
          b.getNamedAttr("activation_bytes", b.getI64IntegerAttr(s.activationBytes)),
          b.getNamedAttr("kernels", b.getI64IntegerAttr(s.kernels)),
      }));
    func->setAttr("chitu.slices", b.getArrayAttr(records));
  }
};

} // namespace
