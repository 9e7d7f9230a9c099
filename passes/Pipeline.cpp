//===- Pipeline.cpp - the chitu-compile pass pipeline ---------------------===//

#include "chitu/Passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include <set>

using namespace mlir;
using namespace mlir::chitu;

LogicalResult mlir::chitu::buildCompilePipeline(OpPassManager &pm, const PipelineOptions &options,
                                                std::string &error) {
  static const char *kPasses[] = {
      "canonicalize",       "chitu-raise",        "chitu-quantize-weights",
      "chitu-resolve-dims", "chitu-check-shapes", "chitu-fuse",
      "chitu-form-kernels", "chitu-plan-memory",  "chitu-slice"};
  std::set<std::string> disabled(options.disabledPasses.begin(), options.disabledPasses.end());
  for (const std::string &name : disabled)
    if (std::find(std::begin(kPasses), std::end(kPasses), name) == std::end(kPasses)) {
      error = "unknown pass '" + name +
              "' (passes: canonicalize, chitu-raise, chitu-quantize-weights, "
              "chitu-resolve-dims, chitu-check-shapes, "
              "chitu-fuse, chitu-form-kernels, chitu-plan-memory, chitu-slice)";
      return failure();
    }
  auto enabled = [&](const char *name) { return !disabled.count(name); };
  if (enabled("canonicalize"))
    pm.addPass(createCanonicalizerPass());
  if (enabled("chitu-raise"))
    pm.nest<func::FuncOp>().addPass(createRaise());
  // A module pass: a rule must match a weight somewhere in the module.
  if (enabled("chitu-quantize-weights") &&
      (!options.weightDtype.empty() || !options.precisionRules.empty()))
    pm.addPass(createQuantizeWeights(QuantizeWeightsOptions{
        options.weightDtype, options.groupSize, options.keepWeights, options.precisionRules}));
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  if (enabled("chitu-resolve-dims")) {
    fpm.addPass(createResolveDims());
    if (enabled("canonicalize")) // folds the dims it made of static sizes
      fpm.addPass(createCanonicalizerPass());
  }
  if (enabled("chitu-check-shapes"))
    fpm.addPass(createCheckShapes());
  if (enabled("chitu-fuse"))
    fpm.addPass(createFuse());
  if (enabled("chitu-form-kernels"))
    fpm.addPass(createFormKernels());
  if (enabled("chitu-plan-memory"))
    fpm.addPass(createPlanMemory());
  if (enabled("chitu-slice"))
    fpm.addPass(createSliceGraph(SliceGraphOptions{options.sliceBudget}));
  return success();
}

void mlir::chitu::registerCompilePipeline() {
  PassPipelineRegistration<>("chitu-compile-pipeline",
                             "The passes chitu-compile runs before code generation",
                             [](OpPassManager &pm) {
                               std::string error;
                               (void)buildCompilePipeline(pm, PipelineOptions(), error);
                             });
}
