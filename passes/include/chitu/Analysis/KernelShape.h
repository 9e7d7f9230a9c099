//===- KernelShape.h - which op groups make one CUDA kernel -----*- C++ -*-===//
//
// The kinds of kernel regions code generation can emit, and the test of whether a group
// of ops is one of them. The fusion pass groups ops only into shapes this accepts, and
// code generation dispatches on the same classification, so the two never disagree.
//
//   Elemental  ops computed element by element (reshape, rope, gather... included) and
//              kv_write scatters; any number of results, of any shapes (one loop each).
//   Reduction  one reduction, softmax or norm, with elemental producers read through,
//              and pointwise consumers of its result or side results at its shape.
//   Matmul     one to three rank-2 matmuls sharing their left operand (horizontal
//              fusion), that operand computed in the kernel from elemental ops and at
//              most one rms_norm (prologue), and pointwise consumers of the products
//              (epilogue: bias, activation, residual, cast), where one consumer may
//              combine two products of the same width (silu(gate) * up). A product's
//              weights may be dequantized in the kernel (B prologue: int8 rows times
//              their scales, fp8 rows, or int4 groups; read transposed).
//   Single     any one op (attention, sampling, batched matmul, ...).
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_ANALYSIS_KERNELSHAPE_H
#define CHITU_ANALYSIS_KERNELSHAPE_H

#include "chitu/Dialect/ChituOps.h"

#include "llvm/ADT/SmallVector.h"

#include <string>

namespace mlir::chitu {

/// Ops computed element by element: any element of the result from elements of the
/// operands at computable indices.
bool isElemental(Operation *op);
/// Elemental ops whose result element i reads each same-shaped operand at element i
/// (arithmetic, activations, casts; broadcast operands allowed).
bool isPointwise(Operation *op);

enum class KernelKind { Elemental, Reduction, Matmul, Single, Unsupported };

struct KernelShape {
  KernelKind kind = KernelKind::Unsupported;
  /// Reduction and Single: the op that is not elemental.
  Operation *anchor = nullptr;
  /// Matmul: the products, in order; their shared left operand; the prologue's rms_norm.
  llvm::SmallVector<MatmulOp, 3> matmuls;
  Value lhs;
  RmsNormOp prologueNorm;
  /// Matmul: for each product, its tile group (products combined by one epilogue op
  /// share a group and are computed by the same thread blocks).
  llvm::SmallVector<unsigned, 3> tileGroup;
  /// Matmul: for each product, the dequantize computing its right operand in the kernel
  /// (quantized weight rows [N, K] times row scales [N, 1], both kernel inputs), or null
  /// when the right operand is a kernel input itself.
  llvm::SmallVector<DequantizeOp, 3> rhsDequantize;
  /// Unsupported: why.
  std::string reason;

  explicit operator bool() const { return kind != KernelKind::Unsupported; }
};

/// Classifies a group of ops (in program order) whose values `results` are needed outside
/// it. Values not produced by `ops` are the kernel's inputs.
KernelShape classifyKernel(llvm::ArrayRef<Operation *> ops, llvm::ArrayRef<Value> results);

/// The same for a kernel region.
KernelShape classifyKernel(KernelOp kernel);

} // namespace mlir::chitu

#endif // CHITU_ANALYSIS_KERNELSHAPE_H
