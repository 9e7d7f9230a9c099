// A model prepared on one device with its input bindings and last outputs: what the C API's
// chitu_session handle wraps.
#pragma once

#include "Executor.h"

#include <memory>
#include <optional>

namespace chitu::rt {

enum class DeviceKind { Cpu, Cuda };

class Session {
public:
  static StatusOr<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                   DeviceKind device, int deviceIndex);

  const Model &model() const { return *model_; }
  std::string deviceName() const { return executor_->deviceName(); }

  Status setInput(int entry, const std::string &name, DType dtype, const std::vector<int64_t> &dims,
                  const void *data, size_t bytes);
  Status run(int entry);
  // An output of the last successful run of `entry`.
  StatusOr<const HostTensor *> output(int entry, const std::string &name) const;

private:
  Status checkEntry(int entry) const;

  std::shared_ptr<const Model> model_;
  std::unique_ptr<Executor> executor_;
  std::vector<std::vector<std::optional<HostTensor>>> inputs_; // [entry][input]
  std::vector<std::vector<HostTensor>> outputs_;               // [entry][output]
};

} // namespace chitu::rt
