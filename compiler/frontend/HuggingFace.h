//===- HuggingFace.h - Hugging Face decoder checkpoints ---------*- C++ -*-===//
//
// Imports a Hugging Face causal-LM checkpoint directory (config.json, *.safetensors,
// optional tokenizer.json and generation_config.json) of the Llama, Qwen2 or Mistral
// family as one chitu entry function, `forward`, over a ragged batch with a paged KV
// cache (docs/llm.md describes its inputs and outputs).
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_COMPILER_FRONTEND_HUGGINGFACE_H
#define CHITU_COMPILER_FRONTEND_HUGGINGFACE_H

#include "support/DType.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::chitu {

/// What the runtime's LLM engine needs (Artifact.llm).
struct LlmMetadata {
  std::string architecture;
  int64_t vocabSize = 0, numLayers = 0, numKvHeads = 0, headDim = 0;
  int64_t kvBlockSize = 16, maxContext = 0, slidingWindow = 0;
  ::chitu::DType cacheDType = ::chitu::DType::F32;
  int64_t bosTokenId = -1;
  std::vector<int64_t> eosTokenIds;
  std::string tokenizerJson;
  // generation_config.json
  float temperature = 1.0f, topP = 1.0f, repetitionPenalty = 1.0f;
  int64_t topK = 0;
  bool doSample = false;
};

struct HfImportOptions {
  /// Float type of weights and activations; default: the checkpoint's.
  std::optional<::chitu::DType> precision;
  int64_t kvBlockSize = 16;
};

struct HfModel {
  OwningOpRef<ModuleOp> module;
  /// The checkpoint's weight files (empty: compiled from the configuration alone).
  std::vector<std::string> weightFiles;
  /// The dtype of the checkpoint's weights.
  ::chitu::DType checkpointDType = ::chitu::DType::F32;
  LlmMetadata meta;
};

/// True if `dir` looks like a Hugging Face checkpoint (has config.json).
bool isHuggingFaceDirectory(const std::string &dir);

/// Imports the checkpoint. On failure returns a message naming the problem (unknown
/// architecture, unsupported configuration, a missing shard...).
FailureOr<HfModel> importHuggingFace(MLIRContext &context, const std::string &dir,
                                     const HfImportOptions &options, std::string &error);

} // namespace mlir::chitu

#endif // CHITU_COMPILER_FRONTEND_HUGGINGFACE_H
