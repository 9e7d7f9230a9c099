//===- PlanMemory.cpp - chitu-plan-memory ---------------------------------===//
//
// Assigns arena slots by liveness over the single block of an entry function: a slot is
// reused once the tensor in it has had its last use. A kernel's results never share a
// slot with its own inputs (no in-place updates yet).
//
//===----------------------------------------------------------------------===//

#include "chitu/Passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <set>

namespace mlir::chitu {
#define GEN_PASS_DEF_PLANMEMORY
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

// Slot markers: an argument outside the arena (a state), and a result living in the buffer
// of kernel input `i` (encoded -2 - i).
constexpr int64_t kNoSlot = -1;
int64_t tiedSlot(unsigned input) { return -2 - int64_t(input); }

struct PlanMemoryPass : mlir::chitu::impl::PlanMemoryBase<PlanMemoryPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isDeclaration())
      return;
    Block &block = func.getBody().front();

    // Position of the last use of each value; returned values live to the end.
    llvm::DenseMap<Value, unsigned> lastUse;
    unsigned numOps = 0;
    for (Operation &op : block) {
      if (isComputeOp(&op)) {
        op.emitOpError("is not in a chitu.kernel: run chitu-form-kernels first");
        return signalPassFailure();
      }
      for (Value v : op.getOperands())
        lastUse[v] = isa<func::ReturnOp>(op) ? ~0u : numOps;
      ++numOps;
    }

    std::set<int64_t> freeSlots;
    int64_t numSlots = 0;
    auto allocate = [&]() -> int64_t {
      if (!freeSlots.empty()) {
        int64_t s = *freeSlots.begin();
        freeSlots.erase(freeSlots.begin());
        return s;
      }
      return numSlots++;
    };
    llvm::DenseMap<Value, int64_t> slotOf;
    // Values whose slot is released after the op at that position.
    llvm::DenseMap<unsigned, SmallVector<Value>> releaseAfter;
    auto track = [&](Value v, unsigned definedAt) {
      auto it = lastUse.find(v);
      unsigned end = it == lastUse.end() ? definedAt : it->second;
      if (end != ~0u)
        releaseAfter[end].push_back(v);
    };

    // States (KV caches) live in session buffers, not in the arena; so do the results that
    // update them in place.
    llvm::DenseSet<Value> states;
    SmallVector<int64_t> argSlots;
    for (BlockArgument arg : func.getArguments()) {
      if (func.getArgAttr(arg.getArgNumber(), "chitu.state")) {
        states.insert(arg);
        argSlots.push_back(kNoSlot);
        continue;
      }
      int64_t s = allocate();
      slotOf[arg] = s;
      argSlots.push_back(s);
    }
    // An unused argument is still bound (and written) by the runtime: keep its slot.
    for (BlockArgument arg : func.getArguments())
      if (lastUse.count(arg) && !states.contains(arg))
        releaseAfter[lastUse[arg]].push_back(arg);

    Builder b(&getContext());
    unsigned position = 0;
    for (Operation &op : block) {
      if (auto kernel = dyn_cast<KernelOp>(op)) {
        SmallVector<int64_t> slots;
        for (auto [i, r] : llvm::enumerate(kernel.getResults())) {
          if (std::optional<unsigned> tied = kernel.getTiedInput(unsigned(i))) {
            if (!states.contains(kernel.getInputs()[*tied])) {
              kernel.emitOpError("updates a tensor in place that is not a state: the cache of "
                                 "kv_write must be a chitu.state argument or another "
                                 "kv_write's result");
              return signalPassFailure();
            }
            states.insert(r);
            slots.push_back(tiedSlot(*tied));
            continue;
          }
          int64_t s = allocate();
          slotOf[r] = s;
          slots.push_back(s);
          track(r, position);
        }
        kernel->setAttr("chitu.slots", b.getDenseI64ArrayAttr(slots));
      }
      auto it = releaseAfter.find(position);
      if (it != releaseAfter.end())
        for (Value v : it->second)
          if (lastUse.lookup(v) != ~0u || !lastUse.count(v))
            freeSlots.insert(slotOf[v]);
      ++position;
    }
    func->setAttr("chitu.arg_slots", b.getDenseI64ArrayAttr(argSlots));
    func->setAttr("chitu.num_slots", b.getI64IntegerAttr(numSlots));
  }
};

} // namespace
