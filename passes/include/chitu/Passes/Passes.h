//===- Passes.h - chitu compiler passes -------------------------*- C++ -*-===//
#ifndef CHITU_PASSES_PASSES_H
#define CHITU_PASSES_PASSES_H

#include "chitu/Dialect/ChituOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::chitu {

#define GEN_PASS_DECL
#include "chitu/Passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "chitu/Passes/Passes.h.inc"

/// Options of the compile pipeline.
struct PipelineOptions {
  /// Passes to leave out, by argument name (e.g. "chitu-plan-memory").
  std::vector<std::string> disabledPasses;
  /// chitu-slice's budget in bytes (0: one decoder layer per slice).
  int64_t sliceBudget = 0;
  /// chitu-quantize-weights: the linear layers' weight type ("", int8, fp8, int4, int4_asym) and
  /// the names it leaves alone.
  std::string weightDtype;
  /// int4 weights: elements of a row per scale (32, 64 or 128).
  int64_t groupSize = 128;
  std::string keepWeights = "lm_head";
  /// chitu-quantize-weights: the precision rule file ("": none).
  std::string precisionRules;
};

/// The passes chitu-compile runs, in order: canonicalize, chitu-raise, chitu-quantize-weights (with
/// a weight dtype), chitu-resolve-dims, chitu-check-shapes, chitu-fuse, chitu-form-kernels,
/// chitu-plan-memory, chitu-slice. Fails if a disabled pass name is unknown or required.
LogicalResult buildCompilePipeline(OpPassManager &pm, const PipelineOptions &options,
                                   std::string &error);

/// Registers the pipeline as `chitu-compile-pipeline` for chitu-opt.
void registerCompilePipeline();

} // namespace mlir::chitu

#endif // CHITU_PASSES_PASSES_H
