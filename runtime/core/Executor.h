// What a device backend implements: run one entry of a model on bound inputs.
#pragma once

#include "Shapes.h"

#include <string>
#include <vector>

namespace chitu::rt {

class Executor {
public:
  virtual ~Executor() = default;
  virtual std::string deviceName() const = 0;
  // Runs `entry` with `shapes` already bound for `inputs` (entry order); fills `outputs`
  // (entry order) with host copies of the results.
  virtual Status run(int entry, const EntryShapes &shapes,
                     const std::vector<const HostTensor *> &inputs,
                     std::vector<HostTensor> &outputs) = 0;
};

} // namespace chitu::rt
