#include "Placement.h"

#include <regex>

namespace chitu::rt {

StatusOr<CpuPlacement> placeOnCpu(const Model &model, const std::vector<std::string> &patterns) {
  const cbin::Artifact &a = model.artifact();
  const uint32_t numWeights = a.weights() ? a.weights()->size() : 0;
  CpuPlacement p;
  p.stepOnCpu.resize(a.entries()->size());
  for (uint32_t e = 0; e < a.entries()->size(); ++e)
    p.stepOnCpu[e].assign(a.entries()->Get(e)->steps()->size(), false);
  p.weightOnCpu.assign(numWeights, false);
  if (patterns.empty())
    return p;
  std::vector<bool> matched(numWeights, false);
  for (const std::string &pattern : patterns) {
    std::regex re;
    try {
      re = std::regex(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error &err) {
      return invalidArgument("placement pattern '" + pattern +
                             "' is not a regular expression: " + err.what());
    }
    bool any = false;
    for (uint32_t w = 0; w < numWeights; ++w)
      if (std::regex_search(a.weights()->Get(w)->name()->str(), re)) {
        matched[w] = true;
        any = true;
      }
    if (!any) {
      // Name the largest weight as an example: a layer's, not a small constant.
      uint32_t example = 0;
      for (uint32_t w = 1; w < numWeights; ++w)
        if (a.weights()->Get(w)->byte_size() > a.weights()->Get(example)->byte_size())
          example = w;
      return invalidArgument("placement pattern '" + pattern + "' matches no weight of the model" +
                             (numWeights ? " (names look like '" +
                                               a.weights()->Get(example)->name()->str() +
                                               "'; chitu-inspect lists them)"
                                         : " (it has none)"));
    }
  }
  std::vector<bool> readOnGpu(numWeights, false);
  for (uint32_t e = 0; e < a.entries()->size(); ++e) {
    const cbin::Entry &entry = *a.entries()->Get(e);
    for (uint32_t s = 0; s < entry.steps()->size(); ++s) {
      const cbin::Step &step = *entry.steps()->Get(s);
      int weight = -1;
      for (uint32_t t : *step.inputs()) {
        const cbin::Tensor &tensor = *a.tensors()->Get(t);
        if (tensor.storage() == cbin::StorageKind::WEIGHT && matched[tensor.weight()])
          weight = int(tensor.weight());
      }
      if (weight < 0) {
        for (uint32_t t : *step.inputs())
          if (a.tensors()->Get(t)->storage() == cbin::StorageKind::WEIGHT)
            readOnGpu[a.tensors()->Get(t)->weight()] = true;
        continue;
      }
      for (const auto *list : {step.inputs(), step.outputs()})
        for (uint32_t t : *list)
          if (a.tensors()->Get(t)->storage() == cbin::StorageKind::STATE)
            return invalidArgument(
                "placement: kernel '" + a.kernels()->Get(step.kernel())->name()->str() +
                "' of entry '" + entry.name()->str() + "' reads weight '" +
                a.weights()->Get(uint32_t(weight))->name()->str() +
                "', which a cpu pattern matches, and the state '" +
                a.tensors()->Get(t)->name()->str() +
                "' (the KV cache), which stays on the GPU; narrow the pattern (e.g. to "
                "the MLP weights)");
      p.stepOnCpu[e][s] = true;
      ++p.stepsOnCpu;
    }
  }
  for (uint32_t w = 0; w < numWeights; ++w)
    if (matched[w] && !readOnGpu[w]) {
      p.weightOnCpu[w] = true;
      p.weightBytesOnCpu += a.weights()->Get(w)->byte_size();
    }
  return p;
}

} // namespace chitu::rt
