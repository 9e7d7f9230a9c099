//===- Fuse.cpp - chitu-fuse ------------------------------------------------===//
//
// Groups the compute ops of an entry function into kernel regions of the shapes code
// generation supports (chitu/Analysis/KernelShape.h), greedily, rule by rule:
//
//   1. products sharing a left operand      -> one kernel (Q, K, V; gate, up)
//   2. pointwise consumers of a product, a reduction or an elemental group
//                                           -> its epilogue (bias, residual, silu * up, cast)
//   3. elemental ops and rms_norms whose users all sit in one kernel
//                                           -> that kernel's prologue (norm before a product,
//                                              reshape before rope, rope before kv_write)
//   4. independent elemental kernels reading a common input
//                                           -> one kernel (rope of q with the KV appends)
//
// A merge is refused when the group would not be one supported kernel shape, or when it
// would create a cycle between kernels (a path from one part to the other through a third
// kernel). Ops are then reordered so that every kernel follows what it reads, and each group
// of two or more ops becomes a chitu.kernel; chitu-form-kernels wraps the rest.
//
//===----------------------------------------------------------------------===//

#include "chitu/Analysis/KernelShape.h"
#include "chitu/Passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

#include "llvm/Support/Debug.h"

#include <queue>

#define DEBUG_TYPE "chitu-fuse"

namespace mlir::chitu {
#define GEN_PASS_DEF_FUSE
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

class Fuser {
public:
  explicit Fuser(func::FuncOp func) : func_(func) {
    Block &block = func.getBody().front();
    for (Operation &op : block) {
      position_[&op] = unsigned(order_.size());
      order_.push_back(&op);
      if (isComputeOp(&op)) {
        parent_[&op] = &op;
        groups_[&op] = {&op};
        compute_.push_back(&op);
      }
    }
  }

  void run() {
    // What launching one kernel per op would cost, for --stats.
    int64_t total = 0, firstLayer = 0;
    for (Operation *op : compute_)
      if (!isView(op)) {
        ++total;
        if (auto layer = op->getAttrOfType<IntegerAttr>("chitu.layer");
            layer && layer.getInt() == 0)
          ++firstLayer;
      }
    Builder b(func_.getContext());
    func_->setAttr("chitu.unfused_kernels", b.getI64IntegerAttr(total));
    if (firstLayer)
      func_->setAttr("chitu.unfused_kernels_per_layer", b.getI64IntegerAttr(firstLayer));

    fuseProductsSharingOperands();
    bool changed = true;
    while (changed) {
      changed = fuseEpilogues();
      changed |= fuseProducers();
    }
    fuseSiblings();
    materialize();
  }

private:
  Operation *find(Operation *op) {
    Operation *&p = parent_[op];
    if (p != op)
      p = find(p);
    return p;
  }
  bool isGrouped(Operation *op) { return parent_.count(op); }

  /// The ops of a group, in program order.
  const SmallVector<Operation *> &members(Operation *root) { return groups_[root]; }

  /// Values of `ops` read by anything outside them.
  SmallVector<Value> outsideResults(ArrayRef<Operation *> ops) {
    llvm::DenseSet<Operation *> in(ops.begin(), ops.end());
    SmallVector<Value> out;
    for (Operation *op : ops)
      for (Value r : op->getResults())
        if (llvm::any_of(r.getUsers(), [&](Operation *u) { return !in.contains(u); }))
          out.push_back(r);
    return out;
  }

  KernelShape shapeOf(Operation *root) {
    const SmallVector<Operation *> &ops = members(root);
    return classifyKernel(ops, outsideResults(ops));
  }

  /// Groups that read a value of `root`'s group.
  SmallVector<Operation *> successors(Operation *root) {
    SmallVector<Operation *> out;
    for (Operation *op : members(root))
      for (Operation *user : op->getUsers())
        if (isGrouped(user) && find(user) != root && !llvm::is_contained(out, find(user)))
          out.push_back(find(user));
    return out;
  }

  /// True if `to` is reachable from `from` through at least one other group.
  bool indirectPath(Operation *from, Operation *to) {
    SmallVector<Operation *> work;
    llvm::DenseSet<Operation *> seen;
    for (Operation *s : successors(from))
      if (s != to)
        work.push_back(s);
    while (!work.empty()) {
      Operation *g = work.pop_back_val();
      if (!seen.insert(g).second)
        continue;
      for (Operation *s : successors(g)) {
        if (s == to)
          return true;
        work.push_back(s);
      }
    }
    return false;
  }

  bool tryMerge(Operation *a, Operation *b) {
    Operation *ra = find(a), *rb = find(b);
    if (ra == rb)
      return false;
    SmallVector<Operation *> ops(members(ra));
    llvm::append_range(ops, members(rb));
    llvm::sort(ops, [&](Operation *x, Operation *y) { return position_[x] < position_[y]; });
    if (auto k = classifyKernel(ops, outsideResults(ops)); !k) {
      LLVM_DEBUG(llvm::dbgs() << "not fused: " << ra->getName() << " + " << rb->getName() << ": "
                              << k.reason << "\n");
      return false;
    }
    if (indirectPath(ra, rb) || indirectPath(rb, ra)) {
      LLVM_DEBUG(llvm::dbgs() << "not fused: " << ra->getName() << " + " << rb->getName()
                              << ": a cycle through another kernel\n");
      return false;
    }
    parent_[rb] = ra;
    groups_[ra] = std::move(ops);
    groups_.erase(rb);
    return true;
  }

  // Rule 1: products that share their left operand.
  void fuseProductsSharingOperands() {
    llvm::DenseMap<Value, SmallVector<MatmulOp>> byLhs;
    for (Operation *op : compute_)
      if (auto m = dyn_cast<MatmulOp>(op))
        byLhs[m.getLhs()].push_back(m);
    for (Operation *op : compute_)
      if (auto m = dyn_cast<MatmulOp>(op))
        for (MatmulOp other : byLhs[m.getLhs()])
          if (other != m)
            tryMerge(m, other);
  }

  // Rule 2: pointwise consumers join the group of an operand's producer, preferring a
  // product's group, then a reduction's.
  bool fuseEpilogues() {
    bool changed = false;
    for (Operation *op : compute_) {
      if (!isPointwise(op))
        continue;
      SmallVector<std::pair<int, Operation *>> candidates;
      for (Value v : op->getOperands()) {
        Operation *def = v.getDefiningOp();
        if (!def || !isGrouped(def) || find(def) == find(op))
          continue;
        KernelShape shape = shapeOf(find(def));
        int rank = shape.kind == KernelKind::Matmul      ? 0
                   : shape.kind == KernelKind::Reduction ? 1
                   : shape.kind == KernelKind::Elemental ? 2
                                                         : 3;
        candidates.push_back({rank, def});
      }
      llvm::stable_sort(candidates, [](auto &x, auto &y) { return x.first < y.first; });
      for (auto &[rank, def] : candidates)
        if (rank < 3 && tryMerge(def, op)) {
          changed = true;
          break;
        }
    }
    return changed;
  }

  // Rule 3: an elemental op or rms_norm joins the group of one of its users: computed in
  // that kernel's prologue, or yielded by it as a side result when others read it too
  // (a residual sum next to its norm). Groups holding a reduction are tried first.
  bool fuseProducers() {
    bool changed = false;
    for (Operation *op : llvm::reverse(compute_)) {
      if (!isElemental(op) && !isa<RmsNormOp>(op))
        continue;
      SmallVector<std::pair<int, Operation *>> candidates;
      for (Operation *user : op->getUsers()) {
        if (!isGrouped(user) || find(user) == find(op) ||
            llvm::any_of(candidates, [&](auto &c) { return find(c.second) == find(user); }))
          continue;
        KernelKind kind = shapeOf(find(user)).kind;
        candidates.push_back({kind == KernelKind::Reduction ? 0 : 1, user});
      }
      llvm::stable_sort(candidates, [](auto &x, auto &y) { return x.first < y.first; });
      for (auto &[rank, user] : candidates)
        if (tryMerge(user, op)) {
          changed = true;
          break;
        }
    }
    return changed;
  }

  // Rule 4: independent elemental groups that read a common input become one kernel.
  void fuseSiblings() {
    for (size_t i = 0; i < compute_.size(); ++i) {
      Operation *a = compute_[i];
      if (find(a) != a || shapeOf(a).kind != KernelKind::Elemental)
        continue;
      // Siblings sit close in program order (one layer's rope and KV appends); looking
      // further only costs compile time.
      for (size_t j = i + 1; j < compute_.size() && j <= i + kSiblingWindow; ++j) {
        Operation *b = compute_[j];
        if (find(b) != b || find(a) == b || shapeOf(b).kind != KernelKind::Elemental)
          continue;
        if (sharesInput(find(a), b))
          tryMerge(a, b);
      }
    }
  }

  bool sharesInput(Operation *ra, Operation *rb) {
    llvm::DenseSet<Value> inputs;
    for (Operation *op : members(ra))
      for (Value v : op->getOperands())
        if (isa<TensorType>(v.getType()) &&
            (!v.getDefiningOp() || !isGrouped(v.getDefiningOp()) || find(v.getDefiningOp()) != ra))
          inputs.insert(v);
    for (Operation *op : members(rb))
      for (Value v : op->getOperands())
        if (inputs.contains(v))
          return true;
    return false;
  }

  /// Reorders the block so that each group is contiguous and after what it reads, then
  /// wraps every group of two or more ops into a chitu.kernel.
  void materialize() {
    // Units: each group, and each other op of the block.
    llvm::DenseMap<Operation *, unsigned> unitOf;
    std::vector<SmallVector<Operation *>> units;
    for (Operation *op : order_) {
      Operation *key = isGrouped(op) ? find(op) : op;
      auto [it, inserted] = unitOf.try_emplace(key, unsigned(units.size()));
      if (inserted)
        units.emplace_back();
      units[it->second].push_back(op);
    }
    auto unitOfOp = [&](Operation *op) { return unitOf[isGrouped(op) ? find(op) : op]; };
    std::vector<SmallVector<unsigned>> next(units.size());
    std::vector<unsigned> indegree(units.size(), 0);
    for (unsigned u = 0; u < units.size(); ++u)
      for (Operation *op : units[u])
        for (Value v : op->getOperands())
          if (Operation *def = v.getDefiningOp(); def && def->getBlock() == op->getBlock()) {
            unsigned from = unitOfOp(def);
            if (from != u && !llvm::is_contained(next[from], u)) {
              next[from].push_back(u);
              ++indegree[u];
            }
          }
    // Kahn's algorithm, earliest original position first (so unfused code keeps its order).
    using Item = std::pair<unsigned, unsigned>; // (position of the unit's first op, unit)
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> ready;
    for (unsigned u = 0; u < units.size(); ++u)
      if (indegree[u] == 0)
        ready.push({position_[units[u].front()], u});
    Operation *terminator = func_.getBody().front().getTerminator();
    while (!ready.empty()) {
      unsigned u = ready.top().second;
      ready.pop();
      for (Operation *op : units[u])
        if (op != terminator)
          op->moveBefore(terminator);
      for (unsigned n : next[u])
        if (--indegree[n] == 0)
          ready.push({position_[units[n].front()], n});
    }

    unsigned counter = 0;
    func_.walk([&](KernelOp) { ++counter; });
    for (auto &unit : units)
      if (unit.size() > 1 && isGrouped(unit.front()))
        wrap(unit, counter++);
  }

  void wrap(ArrayRef<Operation *> ops, unsigned number) {
    llvm::DenseSet<Operation *> in(ops.begin(), ops.end());
    llvm::SetVector<Value> inputs;
    for (Operation *op : ops)
      for (Value v : op->getOperands())
        if (!v.getDefiningOp() || !in.contains(v.getDefiningOp()))
          inputs.insert(v);
    SmallVector<Value> results = outsideResults(ops);
    SmallVector<Type> types;
    for (Value r : results)
      types.push_back(r.getType());

    std::string name = "k" + std::to_string(number);
    llvm::SmallVector<StringRef> kinds;
    for (Operation *op : ops) {
      StringRef kind = op->getName().stripDialect();
      if (!llvm::is_contained(kinds, kind) && kinds.size() < 4)
        kinds.push_back(kind);
    }
    for (StringRef k : kinds)
      name += "_" + k.str();

    OpBuilder b(ops.back());
    b.setInsertionPointAfter(ops.back());
    auto kernel = KernelOp::create(b, ops.front()->getLoc(), types, name, inputs.getArrayRef());
    Block *body = b.createBlock(&kernel.getBody());
    IRMapping mapping;
    for (Value v : inputs)
      mapping.map(v, body->addArgument(v.getType(), v.getLoc()));
    b.setInsertionPointToStart(body);
    for (Operation *op : ops)
      b.clone(*op, mapping);
    SmallVector<Value> yielded;
    for (Value r : results)
      yielded.push_back(mapping.lookup(r));
    YieldOp::create(b, ops.back()->getLoc(), yielded);
    for (auto [r, k] : llvm::zip(results, kernel.getResults()))
      r.replaceAllUsesWith(k);
    copyLayer(ops, kernel);
    for (Operation *op : llvm::reverse(ops))
      op->erase();
  }

  static void copyLayer(ArrayRef<Operation *> ops, KernelOp kernel) {
    Attribute layer = ops.front()->getAttr("chitu.layer");
    for (Operation *op : ops)
      if (op->getAttr("chitu.layer") != layer)
        return;
    if (layer)
      kernel->setAttr("chitu.layer", layer);
  }

  static constexpr size_t kSiblingWindow = 24;

  func::FuncOp func_;
  std::vector<Operation *> order_;
  llvm::DenseMap<Operation *, SmallVector<Operation *>> groups_; // root -> ops in order
  std::vector<Operation *> compute_;
  llvm::DenseMap<Operation *, unsigned> position_;
  llvm::DenseMap<Operation *, Operation *> parent_;
};

struct FusePass : mlir::chitu::impl::FuseBase<FusePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isDeclaration())
      return;
    Fuser(func).run();
  }
};

} // namespace
