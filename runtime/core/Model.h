// A loaded and validated .cbin artifact, with its weights mapped. Everything the executors
// read from the flatbuffer has been bounds-checked here first.
#pragma once

#include "chitu/cbin/cbin_generated.h"
#include "support/CbinConstants.h"
#include "support/DType.h"
#include "support/MappedFile.h"
#include "support/Quantize.h"
#include "support/Safetensors.h"
#include "support/Status.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace chitu::rt {

using ::chitu::kSchemaVersion;
using ::chitu::kSegmentAlignment;
using ::chitu::kUnresolvedWeightFile;
constexpr size_t kMaxRank = 8;

struct LoadOptions {
  std::string weightsDir; // searched first for external weight files
  // False for inspection only: external weights are then neither opened nor checked, and
  // weightData() returns nullptr for them.
  bool resolveExternalWeights = true;
};

class Model {
public:
  static StatusOr<std::shared_ptr<Model>> load(const std::string &path, const LoadOptions &options);
  static StatusOr<std::shared_ptr<Model>> loadFromMemory(const void *data, size_t size,
                                                         const LoadOptions &options);

  const cbin::Artifact &artifact() const { return *artifact_; }
  const std::string &path() const { return file_->path(); }
  uint64_t fileSize() const { return file_->size(); }

  // Bytes of weight `index` (embedded: inside the .cbin; external: inside its mapped file).
  const uint8_t *weightData(uint32_t index) const { return weightData_[index]; }

  int findEntry(const std::string &name) const;
  // Index of an entry input/output by name, or -1.
  int findInput(int entry, const std::string &name) const;
  int findOutput(int entry, const std::string &name) const;

  // Input/output tensor of an entry.
  const cbin::Tensor &inputTensor(int entry, int index) const;
  const cbin::Tensor &outputTensor(int entry, int index) const;
  // Static dims of a tensor, -1 where dynamic (for introspection).
  std::vector<int64_t> declaredDims(const cbin::Tensor &t) const;

private:
  static StatusOr<std::shared_ptr<Model>> fromMapping(std::shared_ptr<MappedFile> file,
                                                      const LoadOptions &options);
  Status resolveWeights(const LoadOptions &options);
  Status mapExternalWeights(const LoadOptions &options);
  // Weight i derives from tensor t by quantization: computes it (both parts of the format
  // at once, cached for the other part).
  Status quantizeAtLoad(uint32_t i, const SafetensorsTensor &t, const SafetensorsFile &f,
                        const std::string &what);

  std::shared_ptr<MappedFile> file_;
  const cbin::Artifact *artifact_ = nullptr;
  std::vector<std::shared_ptr<SafetensorsFile>> weightFiles_;
  std::vector<const uint8_t *> weightData_;
  std::vector<std::vector<uint8_t>> converted_; // weights converted to another precision
  // Quantized source tensors (file path, tensor name, scheme, group) -> all their parts (a
  // std::map: the parts' addresses stay put).
  std::map<std::string, QuantizedWeight> quantized_;
};

// Structural validation of a verified flatbuffer: every index in range, every Expr well
// formed, every embedded byte range inside the file. Exposed for tests.
Status validateArtifact(const cbin::Artifact &a, uint64_t fileSize, uint64_t flatbufferEnd);

inline DType toDType(cbin::DType t) { return DType(static_cast<int8_t>(t)); }

} // namespace chitu::rt
