//===- ArtifactWriter.h - write the .cbin -----------------------*- C++ -*-===//
//
// Packs a compiled module into a .cbin (runtime/schema/cbin.fbs): per entry function its
// symbols, checks, tensors with arena offsets, and steps; per kernel its portable op list
// (for the CPU executor), launch rule and cubins; the weights, embedded or referenced.
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_COMPILER_ARTIFACT_ARTIFACTWRITER_H
#define CHITU_COMPILER_ARTIFACT_ARTIFACTWRITER_H

#include "chitu/Analysis/ShapeAnalysis.h"
#include "codegen/CudaCodegen.h"
#include "frontend/MlirFrontend.h"
#include "support/Safetensors.h"

#include "llvm/ADT/DenseMap.h"

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace mlir::chitu {

struct CompiledKernel {
  KernelSource source;
  /// (architecture, cubin) for each target.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> binaries;
};

struct ArtifactInput {
  ModuleOp module;
  const ParsedModule *parsed = nullptr;
  llvm::DenseMap<Operation *, ShapeAnalysis> *analyses = nullptr; // per func.func
  llvm::DenseMap<Operation *, CompiledKernel> *kernels = nullptr; // per chitu.kernel
  std::vector<std::string> targets;
  /// Files the weights are looked up in, in order.
  std::vector<std::shared_ptr<::chitu::SafetensorsFile>> weightFiles;
  bool embedWeights = false;
  /// A float weight may be stored in another float precision than the IR declares; the
  /// compiler (embedded) or the runtime (external) converts it.
  bool allowPrecisionChange = false;
  /// With no weight files: record every weight as "find by name at load time" in files of
  /// this dtype (a Hugging Face directory compiled from its config alone).
  std::optional<::chitu::DType> unresolvedWeightDType;
  /// LLM metadata (Artifact.llm) for compiled decoders.
  const struct LlmMetadata *llm = nullptr;
  std::string producer;
};

struct ArtifactStats {
  /// Per entry: its name and planned arena size (an expression of the symbols).
  std::vector<std::pair<std::string, std::string>> arenas;
  size_t fileBytes = 0;
  size_t kernels = 0;
  size_t weights = 0;
  size_t embeddedBytes = 0;
  size_t externalBytes = 0;
};

/// A weight's source: the file and tensor it is read from.
struct WeightSource {
  const ::chitu::SafetensorsFile *file;
  const ::chitu::SafetensorsTensor *tensor;
};

/// Finds the tensor a chitu.weight names in `files` (first match) and checks its dtype
/// and shape against the IR; emits a diagnostic at the op and fails otherwise.
FailureOr<WeightSource>
findWeight(WeightOp op, const std::vector<std::shared_ptr<::chitu::SafetensorsFile>> &files,
           bool allowPrecisionChange = false);

/// findWeight for every weight of `module`, so that bad weights fail before any kernel
/// is compiled.
LogicalResult checkWeights(ModuleOp module,
                           const std::vector<std::shared_ptr<::chitu::SafetensorsFile>> &files,
                           bool allowPrecisionChange = false);

/// Writes the artifact to `path`. Emits diagnostics (missing or mismatched weights) and
/// fails without writing anything on error.
LogicalResult writeArtifact(const ArtifactInput &input, const std::string &path,
                            ArtifactStats &stats);

} // namespace mlir::chitu

#endif // CHITU_COMPILER_ARTIFACT_ARTIFACTWRITER_H
