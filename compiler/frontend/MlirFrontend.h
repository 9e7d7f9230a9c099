//===- MlirFrontend.h - chitu IR text as a compiler input -------*- C++ -*-===//
//
// Reads a .mlir file in the chitu dialect and remembers the names the author gave the
// function arguments (%x becomes the input "x"), which the printed IR does not keep.
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_COMPILER_FRONTEND_MLIRFRONTEND_H
#define CHITU_COMPILER_FRONTEND_MLIRFRONTEND_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"

#include <map>
#include <string>
#include <vector>

namespace mlir::chitu {

struct ParsedModule {
  OwningOpRef<ModuleOp> module;
  /// Per function name: the source names of its arguments ("" where unknown).
  std::map<std::string, std::vector<std::string>> argumentNames;
};

/// Parses `path`; diagnostics go to the context's handler. Fails on parse or verify errors.
FailureOr<ParsedModule> parseMlirFile(MLIRContext &context, llvm::SourceMgr &sourceMgr,
                                      const std::string &path);

/// Name of argument `index` of `func`: its `chitu.name` attribute, else its source name,
/// else "input<index>".
std::string inputName(func::FuncOp func, unsigned index, const ParsedModule &parsed);
/// Name of result `index`: its `chitu.name` attribute, else "output<index>".
std::string outputName(func::FuncOp func, unsigned index);

} // namespace mlir::chitu

#endif // CHITU_COMPILER_FRONTEND_MLIRFRONTEND_H
