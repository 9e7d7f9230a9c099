#include "Session.h"

#include "cpu/CpuExecutor.h"
#include "cuda/CudaExecutor.h"

#include <cstring>

namespace chitu::rt {

StatusOr<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                   DeviceKind device, int deviceIndex) {
  std::unique_ptr<Session> s(new Session());
  s->model_ = model;
  if (device == DeviceKind::Cpu) {
    s->executor_ = createCpuExecutor(model);
  } else {
    auto exec = createCudaExecutor(model, deviceIndex);
    if (!exec.isOk())
      return exec.status();
    s->executor_ = std::move(*exec);
  }
  size_t numEntries = model->artifact().entries()->size();
  s->inputs_.resize(numEntries);
  s->outputs_.resize(numEntries);
  for (size_t e = 0; e < numEntries; ++e)
    s->inputs_[e].resize(model->artifact().entries()->Get(uint32_t(e))->inputs()->size());
  return s;
}

Status Session::checkEntry(int entry) const {
  if (entry < 0 || size_t(entry) >= inputs_.size())
    return invalidArgument("entry index " + std::to_string(entry) + " out of range (" +
                           std::to_string(inputs_.size()) + " entries)");
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
  const cbin::Tensor &t = model_->inputTensor(entry, index);
  DType want = toDType(t.dtype());
  std::vector<int64_t> declared = model_->declaredDims(t);
  if (dtype != want)
    return invalidArgument("input '" + name + "' is " + dtypeName(want) + dimsToString(declared) +
                           ", got " + dtypeName(dtype));
  if (dims.size() != declared.size())
    return shapeMismatch("input '" + name + "' has rank " + std::to_string(declared.size()) + " " +
                         dimsToString(declared) + ", got " + dimsToString(dims));
  for (size_t d = 0; d < dims.size(); ++d)
    if (dims[d] < 0 || (declared[d] >= 0 && dims[d] != declared[d]))
      return shapeMismatch("input '" + name + "' must have shape " + dimsToString(declared) +
                           ", got " + dimsToString(dims));
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

Status Session::run(int entry) {
  CHITU_RETURN_IF_ERROR(checkEntry(entry));
  const cbin::Entry &e = *model_->artifact().entries()->Get(uint32_t(entry));
  std::vector<const HostTensor *> inputs;
  std::vector<std::vector<int64_t>> dims;
  std::string missing;
  for (size_t i = 0; i < inputs_[size_t(entry)].size(); ++i) {
    const auto &in = inputs_[size_t(entry)][i];
    if (!in) {
      const cbin::Tensor &t = model_->inputTensor(entry, int(i));
      missing += (missing.empty() ? "" : ", ") + t.name()->str() + " " +
                 dtypeName(toDType(t.dtype())) + dimsToString(model_->declaredDims(t));
      continue;
    }
    inputs.push_back(&*in);
    dims.push_back(in->dims);
  }
  if (!missing.empty())
    return invalidArgument("entry '" + e.name()->str() + "' is missing inputs: " + missing);
  auto shapes = bindEntryShapes(*model_, entry, dims);
  if (!shapes.isOk())
    return shapes.status();
  outputs_[size_t(entry)].clear();
  std::vector<HostTensor> outputs;
  CHITU_RETURN_IF_ERROR(executor_->run(entry, *shapes, inputs, outputs));
  outputs_[size_t(entry)] = std::move(outputs);
  return Status::ok();
}

StatusOr<const HostTensor *> Session::output(int entry, const std::string &name) const {
  CHITU_RETURN_IF_ERROR(checkEntry(entry));
  int index = model_->findOutput(entry, name);
  if (index < 0)
    return invalidArgument("no output named '" + name + "'");
  if (outputs_[size_t(entry)].empty())
    return invalidArgument("entry has not been run successfully yet");
  return &outputs_[size_t(entry)][size_t(index)];
}

} // namespace chitu::rt
