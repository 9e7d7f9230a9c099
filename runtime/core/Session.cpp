#include "Session.h"

#include "cpu/CpuExecutor.h"
#include "cuda/CudaExecutor.h"

#include <cstring>

namespace chitu::rt {

StatusOr<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                   DeviceKind device, int deviceIndex,
                                                   const SessionOptions &options) {
  std::unique_ptr<Session> s(new Session());
  s->model_ = model;
  auto cpu = placeOnCpu(*model, options.cpuWeightPatterns);
  if (!cpu.isOk())
    return cpu.status();
  if (device == DeviceKind::Cpu) {
    s->executor_ = createCpuExecutor(model);
  } else {
    auto exec = createCudaExecutor(model, deviceIndex, options.gpuMemoryBytes, std::move(*cpu));
    if (!exec.isOk())
      return exec.status();
    s->executor_ = std::move(*exec);
  }
  size_t numEntries = model->artifact().entries()->size();
  s->inputs_.resize(numEntries);
  for (size_t e = 0; e < numEntries; ++e)
    s->inputs_[e].resize(model->artifact().entries()->Get(uint32_t(e))->inputs()->size());
  return s;
}

Session::~Session() {
  for (auto &[name, state] : states_)
    executor_->freeState(state.buffer);
}

Status Session::checkEntry(int entry) const {
  if (entry < 0 || size_t(entry) >= inputs_.size())
    return invalidArgument("entry index " + std::to_string(entry) + " out of range (" +
                           std::to_string(inputs_.size()) + " entries)");
  return Status::ok();
}

bool Session::isState(int entry, int input) const {
  return model_->inputTensor(entry, input).storage() == cbin::StorageKind::STATE;
}

// Checks a shape against an input's declared shape (static dims must match).
static Status checkDeclared(const std::string &what, const std::vector<int64_t> &declared,
                            const std::vector<int64_t> &dims) {
  if (dims.size() != declared.size())
    return shapeMismatch(what + " has rank " + std::to_string(declared.size()) + " " +
                         dimsToString(declared) + ", got " + dimsToString(dims));
  for (size_t d = 0; d < dims.size(); ++d)
    if (dims[d] < 0 || (declared[d] >= 0 && dims[d] != declared[d]))
      return shapeMismatch(what + " must have shape " + dimsToString(declared) + ", got " +
                           dimsToString(dims));
  return Status::ok();
}

Status Session::setInput(int entry, const std::string &name, DType dtype,
                         const std::vector<int64_t> &dims, const void *data, size_t bytes) {
  CHITU_RETURN_IF_ERROR(checkEntry(entry));
  int index = model_->findInput(entry, name);
  const cbin::Entry &e = *model_->artifact().entries()->Get(uint32_t(entry));
  if (index < 0) {
    std::string names;
    for (uint32_t i = 0; i < e.inputs()->size(); ++i)
      names += (i ? ", " : "") + model_->inputTensor(entry, int(i)).name()->str();
    return invalidArgument("entry '" + e.name()->str() + "' has no input '" + name +
                           "' (inputs: " + names + ")");
  }
  if (isState(entry, index))
    return invalidArgument("input '" + name +
                           "' is a state (a KV cache): allocate it with "
                           "chitu_session_set_state instead");
  const cbin::Tensor &t = model_->inputTensor(entry, index);
  DType want = toDType(t.dtype());
  std::vector<int64_t> declared = model_->declaredDims(t);
  if (dtype != want)
    return invalidArgument("input '" + name + "' is " + dtypeName(want) + dimsToString(declared) +
                           ", got " + dtypeName(dtype));
  CHITU_RETURN_IF_ERROR(checkDeclared("input '" + name + "'", declared, dims));
  uint64_t need = dtypeSize(dtype);
  for (int64_t d : dims)
    if (__builtin_mul_overflow(need, uint64_t(d), &need))
      return invalidArgument("input '" + name + "' is too large");
  if (need != bytes)
    return invalidArgument("input '" + name + "' of shape " + dimsToString(dims) + " needs " +
                           std::to_string(need) + " bytes, got " + std::to_string(bytes));
  if (bytes && !data)
    return invalidArgument("input '" + name + "' has no data");
  HostTensor h;
  h.dtype = dtype;
  h.dims = dims;
  h.data.resize(bytes);
  if (bytes)
    std::memcpy(h.data.data(), data, bytes);
  inputs_[size_t(entry)][size_t(index)] = std::move(h);
  return Status::ok();
}

Status Session::setState(const std::string &name, DType dtype, const std::vector<int64_t> &dims,
                         const void *data, size_t dataBytes) {
  // The state's declaration: the first entry that has it.
  const cbin::Tensor *decl = nullptr;
  for (int e = 0; e < int(inputs_.size()) && !decl; ++e) {
    int i = model_->findInput(e, name);
    if (i >= 0 && isState(e, i))
      decl = &model_->inputTensor(e, i);
  }
  if (!decl)
    return invalidArgument("the model has no state named '" + name + "'");
  if (toDType(decl->dtype()) != dtype)
    return invalidArgument("state '" + name + "' is " + dtypeName(toDType(decl->dtype())) +
                           ", got " + dtypeName(dtype));
  CHITU_RETURN_IF_ERROR(checkDeclared("state '" + name + "'", model_->declaredDims(*decl), dims));
  uint64_t bytes = dtypeSize(dtype);
  for (int64_t d : dims)
    if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes))
      return invalidArgument("state '" + name + "' is too large");
  if (data && dataBytes != bytes)
    return invalidArgument("state '" + name + "' of shape " + dimsToString(dims) + " needs " +
                           std::to_string(bytes) + " bytes, got " + std::to_string(dataBytes));
  auto it = states_.find(name);
  if (it != states_.end() && it->second.dims != dims) {
    executor_->freeState(it->second.buffer);
    states_.erase(it);
    it = states_.end();
  }
  if (it == states_.end()) {
    auto buffer = executor_->allocateState(bytes);
    if (!buffer.isOk())
      return buffer.status();
    it = states_.emplace(name, State{dtype, dims, bytes, *buffer}).first;
  }
  lastEntry_ = -1; // outputs may alias the state
  if (data)
    return executor_->writeState(it->second.buffer, data, bytes);
  return executor_->zeroState(it->second.buffer, bytes);
}

Status Session::readState(const std::string &name, void *data, size_t bytes) const {
  auto it = states_.find(name);
  if (it == states_.end())
    return invalidArgument("state '" + name + "' has not been set");
  if (bytes != it->second.bytes)
    return invalidArgument("state '" + name + "' has " + std::to_string(it->second.bytes) +
                           " bytes, the buffer " + std::to_string(bytes));
  return executor_->readState(it->second.buffer, data, bytes);
}

Status Session::run(int entry) {
  CHITU_RETURN_IF_ERROR(checkEntry(entry));
  const cbin::Entry &e = *model_->artifact().entries()->Get(uint32_t(entry));
  size_t numInputs = inputs_[size_t(entry)].size();
  std::vector<const HostTensor *> inputs(numInputs, nullptr);
  std::vector<void *> states(numInputs, nullptr);
  std::vector<std::vector<int64_t>> dims(numInputs);
  std::vector<uint64_t> stateBytes(numInputs, 0);
  std::string missing;
  for (size_t i = 0; i < numInputs; ++i) {
    const cbin::Tensor &t = model_->inputTensor(entry, int(i));
    if (isState(entry, int(i))) {
      auto it = states_.find(t.name()->str());
      if (it != states_.end()) {
        states[i] = it->second.buffer;
        dims[i] = it->second.dims;
        stateBytes[i] = it->second.bytes;
        continue;
      }
    } else if (const auto &in = inputs_[size_t(entry)][i]) {
      inputs[i] = &*in;
      dims[i] = in->dims;
      continue;
    }
    missing += (missing.empty() ? "" : ", ") + t.name()->str() + " " +
               dtypeName(toDType(t.dtype())) + dimsToString(model_->declaredDims(t)) +
               (isState(entry, int(i)) ? " (state)" : "");
  }
  if (!missing.empty())
    return invalidArgument("entry '" + e.name()->str() + "' is missing inputs: " + missing);
  auto shapes = bindEntryShapes(*model_, entry, dims);
  if (!shapes.isOk())
    return shapes.status();
  // Tensors that live in a state buffer must fit it.
  for (size_t t = 0; t < shapes->stateOf.size(); ++t)
    if (shapes->stateOf[t] >= 0 && shapes->bytes[t] > stateBytes[size_t(shapes->stateOf[t])])
      return invalidArtifact("a tensor is larger than its state buffer");
  lastEntry_ = -1;
  fetched_.clear();
  CHITU_RETURN_IF_ERROR(executor_->run(entry, *shapes, inputs, states));
  lastEntry_ = entry;
  lastShapes_ = std::move(*shapes);
  lastStates_ = std::move(states);
  return Status::ok();
}

StatusOr<const HostTensor *> Session::output(int entry, const std::string &name) {
  CHITU_RETURN_IF_ERROR(checkEntry(entry));
  int index = model_->findOutput(entry, name);
  if (index < 0)
    return invalidArgument("no output named '" + name + "'");
  if (lastEntry_ != entry)
    return invalidArgument(lastEntry_ < 0
                               ? "the entry has not run successfully yet"
                               : "the outputs of this entry were replaced by a later run of "
                                 "another entry");
  auto it = fetched_.find(index);
  if (it == fetched_.end()) {
    uint32_t t =
        model_->artifact().entries()->Get(uint32_t(entry))->outputs()->Get(uint32_t(index));
    HostTensor out;
    CHITU_RETURN_IF_ERROR(executor_->fetch(*lastShapes_, t, lastStates_, out));
    it = fetched_.emplace(index, std::move(out)).first;
  }
  return &it->second;
}

} // namespace chitu::rt
