//===- MlirFrontend.cpp - chitu IR text as a compiler input ---------------===//

#include "frontend/MlirFrontend.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/AsmParser/AsmParserState.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace mlir;
using namespace mlir::chitu;

FailureOr<ParsedModule> mlir::chitu::parseMlirFile(MLIRContext &context, llvm::SourceMgr &sourceMgr,
                                                   const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer) {
    emitError(UnknownLoc::get(&context))
        << "cannot read " << path << ": " << buffer.getError().message();
    return failure();
  }
  unsigned id = sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  (void)id;
  ParsedModule parsed;
  Block block;
  AsmParserState state;
  ParserConfig config(&context);
  if (failed(parseAsmSourceFile(sourceMgr, &block, config, &state)))
    return failure();
  // A file holds either one module or top-level functions (wrapped into a module).
  if (block.getOperations().size() == 1 && isa<ModuleOp>(block.front())) {
    parsed.module = cast<ModuleOp>(block.front());
    parsed.module->getOperation()->remove();
  } else {
    parsed.module = ModuleOp::create(FileLineColLoc::get(&context, path, 1, 1));
    Block *body = parsed.module->getBody();
    body->getOperations().splice(body->begin(), block.getOperations());
  }
  if (failed(verify(*parsed.module)))
    return failure();

  for (const auto &def : state.getBlockDefs()) {
    auto func = dyn_cast_or_null<func::FuncOp>(def.block->getParentOp());
    if (!func || def.block != &func.getBody().front())
      continue;
    std::vector<std::string> names;
    for (const auto &arg : def.arguments) {
      std::string text(arg.loc.Start.getPointer(),
                       arg.loc.End.getPointer() - arg.loc.Start.getPointer());
      names.push_back(!text.empty() && text[0] == '%' ? text.substr(1) : "");
    }
    parsed.argumentNames[func.getSymName().str()] = std::move(names);
  }
  return parsed;
}

std::string mlir::chitu::inputName(func::FuncOp func, unsigned index, const ParsedModule &parsed) {
  if (auto name = func.getArgAttrOfType<StringAttr>(index, "chitu.name"))
    return name.str();
  auto it = parsed.argumentNames.find(func.getSymName().str());
  if (it != parsed.argumentNames.end() && index < it->second.size() && !it->second[index].empty()) {
    const std::string &n = it->second[index];
    // MLIR names like %0 or %arg0 carry no meaning: fall back to inputN.
    auto digits = [](const std::string &s) {
      return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
    };
    bool generated = digits(n) || (n.rfind("arg", 0) == 0 && digits(n.substr(3)));
    if (!generated)
      return n;
  }
  return "input" + std::to_string(index);
}

std::string mlir::chitu::outputName(func::FuncOp func, unsigned index) {
  if (auto name = func.getResultAttrOfType<StringAttr>(index, "chitu.name"))
    return name.str();
  return "output" + std::to_string(index);
}
