//===- Onnx.h - ONNX models as a compiler input -----------------*- C++ -*-===//
//
// Imports an ONNX model (opsets 13 and later) as one chitu entry function, `main`,
// whose arguments and results carry the graph's input and output names. Initializers
// become weights (packed into the .cbin); shape computations (Shape, Gather on shapes,
// Concat, Range, ConstantOfShape...) are folded at compile time where their inputs are
// static and turned into `chitu.dim` / `arith` index values where they are not.
// docs/onnx.md lists the supported operators.
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_COMPILER_FRONTEND_ONNX_H
#define CHITU_COMPILER_FRONTEND_ONNX_H

#include "support/Safetensors.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::chitu {

struct OnnxImportOptions {
  /// What float32 tensors (inputs, outputs, initializers, activations) become; default
  /// float32. Norms, softmax and products still accumulate in f32.
  std::optional<::chitu::DType> precision;
};

struct OnnxModel {
  OwningOpRef<ModuleOp> module;
  /// The initializers the IR references as chitu.weight, as an in-memory safetensors
  /// image (null when every constant was small enough to inline).
  std::shared_ptr<::chitu::SafetensorsFile> weights;
  int64_t opset = 0;
  size_t nodes = 0;
};

/// True if `path` names an ONNX file (by its extension).
bool isOnnxFile(const std::string &path);

/// Imports the model at `path`. On failure returns a message that names the node, its
/// op type and what is supported (or what is wrong with the file).
FailureOr<OnnxModel> importOnnx(MLIRContext &context, const std::string &path,
                                const OnnxImportOptions &options, std::string &error);

/// The ONNX operators (default domain) the importer handles, sorted.
std::vector<std::string> supportedOnnxOps();

} // namespace mlir::chitu

#endif // CHITU_COMPILER_FRONTEND_ONNX_H
