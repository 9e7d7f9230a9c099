//===- ChituOps.h - chitu dialect operations --------------------*- C++ -*-===//
#ifndef CHITU_DIALECT_CHITUOPS_H
#define CHITU_DIALECT_CHITUOPS_H

#include "chitu/Dialect/ChituDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#include <optional>

#define GET_OP_CLASSES
#include "chitu/Dialect/ChituOps.h.inc"

namespace mlir::chitu {

/// Largest number of elements a chitu.constant may hold.
constexpr int64_t kMaxConstantElements = 4096;

/// True for ops that compute tensors and therefore belong in a kernel region (everything
/// but weights, constants, dims, kernels and yields).
bool isComputeOp(Operation *op);

/// Bytes one element of a chitu tensor element type takes in memory (i1: one byte).
int64_t storageBytes(Type elementType);

/// The operand whose buffer an op updates in place and returns (kv_write's cache), if any.
/// Its result must live where that operand lives.
std::optional<unsigned> tiedOperand(Operation *op);

/// True for a reshape at the top level of a function whose input lives in the activation
/// arena (an argument that is not a state, or a kernel result that is not one): it needs no
/// kernel, its result is the input's memory seen with other dimensions.
bool isView(Operation *op);

} // namespace mlir::chitu

#endif // CHITU_DIALECT_CHITUOPS_H
