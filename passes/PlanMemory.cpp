//===- PlanMemory.cpp - chitu-plan-memory ---------------------------------===//
//
// Plans the activation arena of an entry function in three steps.
//
// Buffers: every argument (not a state) and kernel result gets a buffer, except that views
// (reshapes of arena tensors) share their input's, and a kernel result is written over one
// of the kernel's inputs (in place) when that input dies at the kernel and the kernel reads
// it only at the element it writes (pointwise ops at full shape leading to that result
// alone). A buffer lives from its first definition to the last use of anything in it.
//
// Proportional buffers: those whose size is c * s for one symbol s (the token count, in an
// LLM) and a multiple c of 256 are packed at offsets k * s (k a multiple of 256), greedily
// by size with the lowest offset that overlaps no buffer alive at the same time. Offsets
// and sizes scale together, so the packing holds for every value of s.
//
// Other buffers get slots reused by liveness (a slot is as large as the largest buffer it
// ever holds); they are laid out before the packed region.
//
//===----------------------------------------------------------------------===//

#include "chitu/Analysis/KernelShape.h"
#include "chitu/Analysis/ShapeAnalysis.h"
#include "chitu/Passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <map>
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
constexpr unsigned kForever = ~0u;
constexpr int64_t kAlign = 256;
int64_t tiedSlot(unsigned input) { return -2 - int64_t(input); }

/// True if the kernel reads block argument `arg` only through pointwise ops at full shape
/// that lead to result `result` and nothing else, so that writing the result over the
/// argument's buffer is safe (each element is read by the thread that writes it, first).
bool readsOnlyAlongResult(KernelOp kernel, unsigned arg, unsigned result) {
  KernelShape shape = classifyKernel(kernel);
  if (shape.kind != KernelKind::Elemental && shape.kind != KernelKind::Matmul)
    return false;
  Block &body = kernel.getBodyBlock();
  auto yield = cast<YieldOp>(body.getTerminator());
  Value target = yield.getValues()[result];
  SmallVector<Value> work{body.getArgument(arg)};
  llvm::DenseSet<Value> seen;
  while (!work.empty()) {
    Value v = work.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (isa<YieldOp>(user)) {
        if (yield.getValues()[use.getOperandNumber()] != target)
          return false;
        continue;
      }
      if (!isPointwise(user))
        return false;
      auto from = cast<RankedTensorType>(v.getType());
      auto to = cast<RankedTensorType>(user->getResult(0).getType());
      if (from.getShape() != to.getShape())
        return false;
      if (shape.kind == KernelKind::Matmul && user->getResult(0) == shape.lhs)
        return false;
      work.push_back(user->getResult(0));
    }
  }
  return true;
}

struct Buffer {
  SymExpr bytes;        // aligned to kAlign
  SymExpr rawBytes;     // not aligned
  unsigned first, last; // positions; last == kForever: to the end
  int64_t slot = -1;
  std::optional<int64_t> coeff; // proportional: bytes = coeff * symbol `unit`
  int64_t unit = -1;
};

struct PlanMemoryPass : mlir::chitu::impl::PlanMemoryBase<PlanMemoryPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isDeclaration())
      return;
    Block &block = func.getBody().front();
    FailureOr<ShapeAnalysis> shapes = ShapeAnalysis::analyze(func);
    if (failed(shapes))
      return signalPassFailure();

    // Views share their input's memory: liveness is per root value.
    llvm::DenseMap<Value, Value> rootOf;
    auto root = [&](Value v) {
      auto it = rootOf.find(v);
      return it == rootOf.end() ? v : it->second;
    };
    llvm::DenseMap<Value, unsigned> lastUse;
    unsigned numOps = 0;
    for (Operation &op : block) {
      if (isComputeOp(&op) && !isView(&op)) {
        op.emitOpError("is not in a chitu.kernel: run chitu-form-kernels first");
        return signalPassFailure();
      }
      if (isView(&op))
        rootOf[op.getResult(0)] = root(op.getOperand(0));
      for (Value v : op.getOperands()) {
        unsigned &last = lastUse[root(v)];
        last = isa<func::ReturnOp>(op) || last == kForever ? kForever : numOps;
      }
      ++numOps;
    }

    // 1. Buffers.
    std::vector<Buffer> buffers;
    llvm::DenseMap<Value, unsigned> bufferOf;
    auto rawBytesOf = [&](Value v) {
      return shapes->numElements(v) *
             SymExpr::constant(storageBytes(cast<RankedTensorType>(v.getType()).getElementType()));
    };
    auto bytesOf = [&](Value v) {
      return SymExpr::constant(kAlign) * SymExpr::ceilDiv(rawBytesOf(v), SymExpr::constant(kAlign));
    };
    auto extend = [&](unsigned b, Value v, unsigned definedAt) {
      auto it = lastUse.find(v);
      unsigned end = it == lastUse.end() ? definedAt : it->second;
      buffers[b].last = (end == kForever || buffers[b].last == kForever)
                            ? kForever
                            : std::max(buffers[b].last, end);
    };
    auto newBuffer = [&](Value v, unsigned at) {
      buffers.push_back({bytesOf(v), rawBytesOf(v), at, at});
      bufferOf[v] = unsigned(buffers.size() - 1);
      extend(unsigned(buffers.size() - 1), v, at);
      return unsigned(buffers.size() - 1);
    };

    llvm::DenseSet<Value> states;
    for (BlockArgument arg : func.getArguments()) {
      if (func.getArgAttr(arg.getArgNumber(), "chitu.state")) {
        states.insert(arg);
        continue;
      }
      unsigned b = newBuffer(arg, 0);
      // An unused argument is still bound (and written) by the runtime: it keeps its
      // memory for the whole run.
      if (!lastUse.count(arg))
        buffers[b].last = kForever;
    }

    Builder builder(&getContext());
    llvm::DenseSet<unsigned> handedOver;
    unsigned position = 0;
    for (Operation &op : block) {
      if (isView(&op)) {
        Value in = op.getOperand(0);
        bufferOf[op.getResult(0)] = bufferOf[in];
      } else if (auto kernel = dyn_cast<KernelOp>(op)) {
        SmallVector<int64_t> inPlace;
        for (auto [i, r] : llvm::enumerate(kernel.getResults())) {
          if (std::optional<unsigned> tied = kernel.getTiedInput(unsigned(i))) {
            if (!states.contains(kernel.getInputs()[*tied])) {
              kernel.emitOpError("updates a tensor in place that is not a state: the cache of "
                                 "kv_write must be a chitu.state argument or another "
                                 "kv_write's result");
              return signalPassFailure();
            }
            states.insert(r);
            continue;
          }
          bool placed = false;
          for (auto [a, in] : llvm::enumerate(kernel.getInputs())) {
            auto it = bufferOf.find(in);
            if (it == bufferOf.end() || handedOver.contains(it->second) ||
                lastUse.lookup(root(in)) != position || in.getType() != r.getType() ||
                !readsOnlyAlongResult(kernel, unsigned(a), unsigned(i)))
              continue;
            bufferOf[r] = it->second;
            extend(it->second, r, position);
            handedOver.insert(it->second); // one result per buffer and kernel
            inPlace.append({int64_t(i), int64_t(a)});
            placed = true;
            break;
          }
          if (!placed)
            newBuffer(r, position);
        }
        handedOver.clear();
        if (!inPlace.empty())
          kernel->setAttr("chitu.in_place", builder.getDenseI64ArrayAttr(inPlace));
      }
      ++position;
    }
    for (Buffer &b : buffers)
      if (b.last == kForever)
        b.last = numOps;

    // 2. Proportional buffers: raw sizes c * s for one symbol s (each symbol gets a region).
    // Such a buffer takes k * s bytes with k = c rounded up to the alignment: its aligned size
    // 256 * ceildiv(c * s, 256) never exceeds that, and every offset stays aligned (when the
    // rounding wastes at most an eighth).
    auto linearIn = [&](const SymExpr &e, int64_t s) -> std::optional<int64_t> {
      SymExpr c = e.substitute(
          [&](int64_t id) { return id == s ? SymExpr::constant(1) : SymExpr::symbol(id); });
      if (!c.isConstant() || c.getConstant() <= 0)
        return std::nullopt;
      if (e != SymExpr::constant(c.getConstant()) * SymExpr::symbol(s))
        return std::nullopt;
      int64_t k = (c.getConstant() + kAlign - 1) / kAlign * kAlign;
      // Small rows (token ids: 4 bytes) would waste most of k: they get slots instead.
      if ((k - c.getConstant()) * 8 > c.getConstant())
        return std::nullopt;
      return k;
    };
    std::vector<unsigned> proportional, others;
    for (unsigned i = 0; i < buffers.size(); ++i) {
      std::set<int64_t> syms;
      buffers[i].rawBytes.collectSymbols(syms);
      if (syms.size() == 1)
        if ((buffers[i].coeff = linearIn(buffers[i].rawBytes, *syms.begin())))
          buffers[i].unit = *syms.begin();
      (buffers[i].coeff ? proportional : others).push_back(i);
    }

    // 3a. Other buffers: slots reused by liveness, in order of definition.
    int64_t numSlots = 0;
    {
      std::set<int64_t> freeSlots;
      std::multimap<unsigned, int64_t> releases; // position -> slot freed after it
      std::stable_sort(others.begin(), others.end(),
                       [&](unsigned a, unsigned b) { return buffers[a].first < buffers[b].first; });
      for (unsigned i : others) {
        Buffer &b = buffers[i];
        for (auto it = releases.begin(); it != releases.end() && it->first < b.first;)
          freeSlots.insert(it->second), it = releases.erase(it);
        if (!freeSlots.empty()) {
          b.slot = *freeSlots.begin();
          freeSlots.erase(freeSlots.begin());
        } else {
          b.slot = numSlots++;
        }
        releases.insert({b.last, b.slot});
      }
    }
    // 3b. Proportional buffers: greedy by size, lowest offset free for their lifetime, in the
    // region of their symbol.
    SmallVector<int64_t> slotOffsets(size_t(numSlots), -1), slotUnits(size_t(numSlots), -1);
    {
      std::stable_sort(proportional.begin(), proportional.end(), [&](unsigned a, unsigned b) {
        return *buffers[a].coeff > *buffers[b].coeff;
      });
      std::vector<std::pair<unsigned, int64_t>> placed; // buffer, offset coefficient
      for (unsigned i : proportional) {
        Buffer &b = buffers[i];
        auto conflicts = [&](const Buffer &o) {
          return o.unit == b.unit && o.first <= b.last && b.first <= o.last;
        };
        std::vector<int64_t> candidates{0};
        for (auto [j, off] : placed)
          if (conflicts(buffers[j]))
            candidates.push_back(off + *buffers[j].coeff);
        llvm::sort(candidates);
        int64_t chosen = 0;
        for (int64_t c : candidates) {
          bool fits = true;
          for (auto [j, off] : placed)
            if (conflicts(buffers[j]) && c < off + *buffers[j].coeff && off < c + *b.coeff)
              fits = false;
          if (fits) {
            chosen = c;
            break;
          }
        }
        placed.push_back({i, chosen});
        b.slot = numSlots++;
        slotOffsets.push_back(chosen);
        slotUnits.push_back(b.unit);
      }
    }

    // Record the plan.
    SmallVector<int64_t> argSlots;
    for (BlockArgument arg : func.getArguments())
      argSlots.push_back(states.contains(arg) ? kNoSlot : buffers[bufferOf[arg]].slot);
    for (Operation &op : block) {
      if (isView(&op)) {
        op.setAttr("chitu.slots",
                   builder.getDenseI64ArrayAttr({buffers[bufferOf[op.getResult(0)]].slot}));
      } else if (auto kernel = dyn_cast<KernelOp>(op)) {
        SmallVector<int64_t> slots;
        for (auto [i, r] : llvm::enumerate(kernel.getResults())) {
          std::optional<unsigned> tied = kernel.getTiedInput(unsigned(i));
          slots.push_back(tied ? tiedSlot(*tied) : buffers[bufferOf[r]].slot);
        }
        kernel->setAttr("chitu.slots", builder.getDenseI64ArrayAttr(slots));
      }
    }
    func->setAttr("chitu.arg_slots", builder.getDenseI64ArrayAttr(argSlots));
    func->setAttr("chitu.num_slots", builder.getI64IntegerAttr(numSlots));
    if (!proportional.empty()) {
      func->setAttr("chitu.slot_offsets", builder.getDenseI64ArrayAttr(slotOffsets));
      func->setAttr("chitu.slot_units", builder.getDenseI64ArrayAttr(slotUnits));
    }
  }
};

} // namespace
