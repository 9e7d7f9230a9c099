#include "CpuExecutor.h"

#include "CpuOps.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace chitu::rt {
namespace {

class CpuExecutor : public Executor {
public:
  explicit CpuExecutor(std::shared_ptr<const Model> model) : model_(std::move(model)) {}

  std::string deviceName() const override { return "cpu"; }

  StatusOr<void *> allocateState(uint64_t bytes) override {
    if (bytes > cpu::maxAllocBytes())
      return Status(StatusCode::OutOfMemory, "a state of " + std::to_string(bytes) +
                                                 " bytes exceeds the CPU executor's limit");
    void *p = std::calloc(std::max<uint64_t>(bytes, 1), 1);
    if (!p)
      return Status(StatusCode::OutOfMemory,
                    "cannot allocate a state of " + std::to_string(bytes) + " bytes");
    return p;
  }
  void freeState(void *state) override { std::free(state); }
  Status zeroState(void *state, uint64_t bytes) override {
    std::memset(state, 0, bytes);
    return Status::ok();
  }
  Status readState(const void *state, void *host, uint64_t bytes) override {
    if (bytes)
      std::memcpy(host, state, bytes);
    return Status::ok();
  }
  Status writeState(void *state, const void *host, uint64_t bytes) override {
    if (bytes)
      std::memcpy(state, host, bytes);
    return Status::ok();
  }

  Status run(int entry, const EntryShapes &shapes, const std::vector<const HostTensor *> &inputs,
             const std::vector<void *> &states) override {
    states_ = &states;
    const cbin::Artifact &a = model_->artifact();
    const cbin::Entry &e = *a.entries()->Get(entry);
    if (shapes.arenaSize > cpu::maxAllocBytes())
      return Status(StatusCode::OutOfMemory,
                    "the arena needs " + std::to_string(shapes.arenaSize) +
                        " bytes, more than the CPU executor's allocation limit");
    arena_.assign(shapes.arenaSize, 0);
    for (uint32_t i = 0; i < e.inputs()->size(); ++i) {
      uint32_t t = e.inputs()->Get(i);
      if (inputs[i] && shapes.bytes[t])
        std::memcpy(arena_.data() + shapes.offsets[t], inputs[i]->data.data(), shapes.bytes[t]);
    }
    stepTimes_.clear();
    for (uint32_t s = 0; s < e.steps()->size(); ++s) {
      const cbin::Step &step = *e.steps()->Get(s);
      const cbin::Kernel &k = *a.kernels()->Get(step.kernel());
      auto start = std::chrono::steady_clock::now();
      Status st = runStepOnCpu(*model_, step, shapes,
                               [&](uint32_t tensor) { return storage(tensor, shapes); });
      if (!st.isOk())
        return st.withContext("kernel " + k.name()->str());
      if (profiling_)
        stepTimes_.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
    }
    return Status::ok();
  }

  Status fetch(const EntryShapes &shapes, uint32_t t, const std::vector<void *> &states,
               HostTensor &out) override {
    states_ = &states;
    const cbin::Tensor &tensor = *model_->artifact().tensors()->Get(t);
    out.dtype = toDType(tensor.dtype());
    out.dims = shapes.dims[t];
    const uint8_t *src = storage(t, shapes);
    out.data.assign(src, src + shapes.bytes[t]);
    return Status::ok();
  }

private:
  uint8_t *storage(uint32_t tensor, const EntryShapes &shapes) {
    const cbin::Tensor &t = *model_->artifact().tensors()->Get(tensor);
    if (t.storage() == cbin::StorageKind::WEIGHT)
      return const_cast<uint8_t *>(model_->weightData(t.weight()));
    if (t.storage() == cbin::StorageKind::STATE)
      return static_cast<uint8_t *>((*states_)[size_t(shapes.stateOf[tensor])]);
    return arena_.data() + shapes.offsets[tensor];
  }

  std::shared_ptr<const Model> model_;
  std::vector<uint8_t> arena_;
  const std::vector<void *> *states_ = nullptr;
};

} // namespace

Status runStepOnCpu(const Model &model, const cbin::Step &step, const EntryShapes &shapes,
                    const std::function<uint8_t *(uint32_t tensor)> &storage,
                    cpu::Accumulate accumulate) {
  const cbin::Artifact &a = model.artifact();
  const cbin::Kernel &k = *a.kernels()->Get(step.kernel());
  std::vector<cpu::Value> values;
  values.reserve(k.num_inputs() + k.ops()->size());
  for (uint32_t t : *step.inputs()) {
    const cbin::Tensor &tensor = *a.tensors()->Get(t);
    // Weights stay where they are: a matmul reads them in place (cpu::Value::stored).
    values.push_back(tensor.storage() == cbin::StorageKind::WEIGHT
                         ? cpu::storedValue(storage(t), toDType(tensor.dtype()), shapes.dims[t])
                         : cpu::loadValue(storage(t), toDType(tensor.dtype()), shapes.dims[t]));
  }
  for (uint32_t j = 0; j < k.ops()->size(); ++j) {
    const cbin::Op &op = *k.ops()->Get(j);
    std::vector<const cpu::Value *> operands;
    for (uint32_t v : *op.operands())
      operands.push_back(&values[v]);
    auto dims = shapes.evalDims(*op.dims());
    if (!dims.isOk())
      return dims.status();
    std::vector<int64_t> params;
    if (op.params())
      for (const cbin::Expr *p : *op.params()) {
        auto v = shapes.eval(*p);
        if (!v.isOk())
          return v.status();
        params.push_back(*v);
      }
    auto result = cpu::runOp(op, operands, *dims, params, accumulate);
    if (!result.isOk())
      return result.status();
    values.push_back(std::move(*result));
  }
  for (uint32_t r = 0; r < k.results()->size(); ++r) {
    cpu::Value &v = values[k.results()->Get(r)];
    uint32_t t = step.outputs()->Get(r);
    const cbin::Tensor &tensor = *a.tensors()->Get(t);
    if (v.dtype != toDType(tensor.dtype()) || v.dims != shapes.dims[t])
      return invalidArtifact("result " + std::to_string(r) + " (" + dtypeName(v.dtype) +
                             dimsToString(v.dims) + ") does not match its tensor '" +
                             tensor.name()->str() + "' (" + dtypeName(toDType(tensor.dtype())) +
                             dimsToString(shapes.dims[t]) + ")");
    if (v.stored) // a kernel input passed through as its result
      v = cpu::loadValue(v.stored, v.dtype, v.dims);
    cpu::storeValue(v, storage(t));
  }
  return Status::ok();
}

std::unique_ptr<Executor> createCpuExecutor(std::shared_ptr<const Model> model) {
  return std::make_unique<CpuExecutor>(std::move(model));
}

} // namespace chitu::rt
