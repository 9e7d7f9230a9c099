// CPU placement (docs/slicing.md): the steps that read a weight whose name matches one of
// the user's patterns (`--place 'mlp=cpu'`) run on the CPU executor, in host memory, while the
// rest of the model runs on the GPU. Decided at load time from the same .cbin.
#pragma once

#include "Model.h"

#include <string>
#include <vector>

namespace chitu::rt {

struct CpuPlacement {
  std::vector<std::vector<bool>> stepOnCpu; // [entry][step]
  std::vector<bool> weightOnCpu;            // weights no GPU step reads
  uint64_t weightBytesOnCpu = 0;
  size_t stepsOnCpu = 0;
  bool empty() const { return stepsOnCpu == 0; }
};

// Places on the CPU every step reading a weight some pattern matches. Errors: a pattern that
// is not a regular expression or matches no weight, and a matched step that reads or writes
// a state (the KV cache stays on the GPU), naming the step and the weight.
StatusOr<CpuPlacement> placeOnCpu(const Model &model, const std::vector<std::string> &patterns);

} // namespace chitu::rt
