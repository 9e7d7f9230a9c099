#include "Shapes.h"

#include "support/Expr.h"

#include <algorithm>

namespace chitu::rt {

int64_t numElements(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

std::string dimsToString(const std::vector<int64_t> &dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i)
      s += ", ";
    s += dims[i] < 0 ? "?" : std::to_string(dims[i]);
  }
  return s + "]";
}

StatusOr<int64_t> EntryShapes::eval(const cbin::Expr &e) const {
  return evalExpr(e.code()->data(), e.code()->size(), symbols.data(), symbols.size());
}

StatusOr<std::vector<int64_t>>
EntryShapes::evalDims(const flatbuffers::Vector<flatbuffers::Offset<cbin::Expr>> &dims) const {
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < dims.size(); ++i) {
    auto v = eval(*dims.Get(i));
    if (!v.isOk())
      return v.status();
    if (*v < 0)
      return shapeMismatch("a dimension evaluates to " + std::to_string(*v) +
                           " for these input shapes");
    out.push_back(*v);
  }
  return out;
}

StatusOr<EntryShapes> bindEntryShapes(const Model &model, int entry,
                                      const std::vector<std::vector<int64_t>> &inputDims) {
  const cbin::Artifact &a = model.artifact();
  const cbin::Entry &e = *a.entries()->Get(entry);
  EntryShapes s;
  if (inputDims.size() != e.inputs()->size())
    return invalidArgument("expected " + std::to_string(e.inputs()->size()) + " inputs, got " +
                           std::to_string(inputDims.size()));
  for (uint32_t i = 0; i < e.inputs()->size(); ++i) {
    const cbin::Tensor &t = model.inputTensor(entry, int(i));
    if (inputDims[i].size() != t.dims()->size())
      return shapeMismatch("input '" + t.name()->str() + "' has rank " +
                           std::to_string(inputDims[i].size()) + ", the model expects " +
                           std::to_string(t.dims()->size()) + " " +
                           dimsToString(model.declaredDims(t)));
    for (int64_t d : inputDims[i])
      if (d < 0)
        return invalidArgument("input '" + t.name()->str() + "' has a negative dimension");
  }
  // Symbols take their values from the inputs; every input dim is then re-derived and
  // compared, which checks static dims and repeated symbols alike.
  if (e.symbols())
    for (const cbin::Symbol *sym : *e.symbols())
      s.symbols.push_back(inputDims[sym->input()][sym->dim()]);
  for (uint32_t i = 0; i < e.inputs()->size(); ++i) {
    const cbin::Tensor &t = model.inputTensor(entry, int(i));
    for (uint32_t d = 0; d < t.dims()->size(); ++d) {
      auto expected = s.eval(*t.dims()->Get(d));
      if (!expected.isOk())
        return expected.status();
      if (*expected != inputDims[i][d]) {
        std::string why = "input '" + t.name()->str() + "' has shape " +
                          dimsToString(inputDims[i]) + " but the model expects " +
                          dimsToString(model.declaredDims(t));
        if (model.declaredDims(t)[d] < 0)
          why += " where dimension " + std::to_string(d) + " must be " + std::to_string(*expected) +
                 " to agree with the other inputs";
        return shapeMismatch(why);
      }
    }
  }
  if (e.checks())
    for (const cbin::Check *c : *e.checks()) {
      auto lhs = s.eval(*c->lhs());
      auto rhs = s.eval(*c->rhs());
      if (!lhs.isOk())
        return lhs.status();
      if (!rhs.isOk())
        return rhs.status();
      bool ok = c->kind() == cbin::CheckKind::EQ ? *lhs == *rhs : *lhs <= *rhs;
      if (!ok)
        return shapeMismatch(
            (c->message() ? c->message()->str() : std::string("shape constraint")) + " (" +
            std::to_string(*lhs) + (c->kind() == cbin::CheckKind::EQ ? " != " : " > ") +
            std::to_string(*rhs) + ")");
    }

  auto arena = s.eval(*e.arena_size());
  if (!arena.isOk())
    return arena.status();
  if (*arena < 0 || uint64_t(*arena) > kMaxArenaBytes)
    return invalidArtifact("arena size " + std::to_string(*arena) + " is out of range");
  s.arenaSize = uint64_t(*arena);

  size_t numTensors = a.tensors()->size();
  s.dims.resize(numTensors);
  s.bytes.assign(numTensors, 0);
  s.offsets.assign(numTensors, 0);
  s.stateOf.assign(numTensors, -1);
  std::vector<bool> done(numTensors, false);
  auto bindTensor = [&](uint32_t index) -> Status {
    if (done[index])
      return Status::ok();
    done[index] = true;
    const cbin::Tensor &t = *a.tensors()->Get(index);
    auto dims = s.evalDims(*t.dims());
    if (!dims.isOk())
      return dims.status();
    uint64_t bytes = dtypeSize(toDType(t.dtype()));
    for (int64_t d : *dims)
      if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes))
        return shapeMismatch("tensor '" + t.name()->str() + "' is too large");
    if (t.storage() == cbin::StorageKind::ARENA) {
      auto off = s.eval(*t.arena_offset());
      if (!off.isOk())
        return off.status();
      uint64_t end;
      if (*off < 0 || __builtin_add_overflow(uint64_t(*off), bytes, &end) || end > s.arenaSize)
        return invalidArtifact("tensor '" + t.name()->str() + "' lies outside the arena");
      s.offsets[index] = uint64_t(*off);
    } else if (t.storage() == cbin::StorageKind::STATE) {
      if (t.state_input() >= e.inputs()->size())
        return invalidArtifact("tensor '" + t.name()->str() + "' names a missing state input");
      const cbin::Tensor &owner = *a.tensors()->Get(e.inputs()->Get(t.state_input()));
      if (owner.storage() != cbin::StorageKind::STATE || owner.dtype() != t.dtype() ||
          owner.dims()->size() != t.dims()->size())
        return invalidArtifact("tensor '" + t.name()->str() + "' does not match its state input");
      s.stateOf[index] = int(t.state_input());
    } else {
      const cbin::Weight &w = *a.weights()->Get(t.weight());
      for (uint32_t d = 0; d < w.dims()->size(); ++d)
        if (w.dims()->Get(d) != (*dims)[d])
          return invalidArtifact("tensor '" + t.name()->str() +
                                 "' does not match its weight's shape");
    }
    s.dims[index] = std::move(*dims);
    s.bytes[index] = bytes;
    return Status::ok();
  };
  for (uint32_t t : *e.inputs())
    CHITU_RETURN_IF_ERROR(bindTensor(t));
  for (uint32_t t : *e.outputs())
    CHITU_RETURN_IF_ERROR(bindTensor(t));
  for (const cbin::Step *step : *e.steps()) {
    for (uint32_t t : *step->inputs())
      CHITU_RETURN_IF_ERROR(bindTensor(t));
    for (uint32_t t : *step->outputs())
      CHITU_RETURN_IF_ERROR(bindTensor(t));
  }
  // Every tensor lies inside the declared arena (checked above); the executors allocate
  // only the part the tensors use, so a damaged size cannot make them allocate absurdly.
  uint64_t used = 0;
  for (uint32_t t = 0; t < numTensors; ++t)
    if (done[t] && a.tensors()->Get(t)->storage() == cbin::StorageKind::ARENA)
      used = std::max(used, s.offsets[t] + s.bytes[t]);
  s.arenaSize = used;
  return s;
}

} // namespace chitu::rt
