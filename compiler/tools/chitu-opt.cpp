//===- chitu-opt.cpp - the chitu dialect's opt tool -----------------------===//
//
// Parses, verifies and transforms chitu IR with any chitu pass or the whole compile
// pipeline (--chitu-compile-pipeline). Used by the lit tests.
//
//===----------------------------------------------------------------------===//

#include "chitu/Dialect/ChituOps.h"
#include "chitu/Passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::chitu::registerChituPasses();
  mlir::chitu::registerCompilePipeline();

  mlir::DialectRegistry registry;
  registry.insert<mlir::chitu::ChituDialect, mlir::arith::ArithDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "chitu optimizer driver\n", registry));
}
