//===- CudaCodegen.h - CUDA C++ for kernel regions --------------*- C++ -*-===//
//
// Turns one chitu.kernel region into the source of one CUDA kernel plus the rule the
// runtime uses to launch it. The unit is the region, not the op: a region of several
// elementwise/data-movement ops becomes one loop computing each output element through
// the whole chain (an "elemental" kernel), and a reduction, softmax or normalisation
// reads its input through the same chain. Matmuls use the tiled template of
// kernels/matmul.cuh.
//
// Sizes are never baked in unless static: dynamic dimensions arrive as int64 kernel
// parameters (the entry's symbols) and every size is computed from them.
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_COMPILER_CODEGEN_CUDACODEGEN_H
#define CHITU_COMPILER_CODEGEN_CUDACODEGEN_H

#include "chitu/Analysis/ShapeAnalysis.h"
#include "chitu/Dialect/ChituOps.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::chitu {

/// A product kernel's route through a GEMM library for many rows (cbin LibraryGemm): the
/// kernel's A (an input, or the rows its `libraryASymbol` function writes), one library GEMM
/// per product, and its `libraryEpilogueSymbol` function computing the results from them.
struct LibraryRule {
  SymExpr when, m, k;
  bool f16 = false; // A, B and D are f16 (else bf16)
  int aInput = -1;  // the kernel input holding A's rows, or -1
  SymExpr aGrid[3]; // the A function's launch grid when aInput < 0
  struct Product {
    unsigned weightInput;
    SymExpr n;
    int output = -1;          // the kernel output written directly, or -1: workspace
    bool dequantized = false; // B dequantized into the workspace by the B function
  };
  std::vector<Product> products;
  bool epilogue = false; // the epilogue function runs after the library GEMMs
  SymExpr bGrid[3];      // the B function's launch grid (when a product is dequantized)
  bool dequantizes() const {
    for (const Product &p : products)
      if (p.dequantized)
        return true;
    return false;
  }
};

struct LaunchRule {
  SymExpr grid[3];
  unsigned block[3] = {1, 1, 1};
  /// Dynamic shared memory: the most any launch takes, and (when it depends on the sizes) the
  /// expression each launch evaluates.
  unsigned sharedBytes = 0;
  std::optional<SymExpr> sharedBytesExpr;
  /// When set, the source defines two functions: `symbol` for launches where this evaluates
  /// to 0 and `tilesSymbol` for the others (a product's matrix-vector routines for M <= 16,
  /// its tile routines for more rows).
  std::optional<SymExpr> tilesWhen;
  /// Symbols passed as int64 parameters after the pointers, in this order.
  std::vector<int64_t> scalarSymbols;
  /// The kernel takes a pointer to a status word it sets on errors (bad gather index).
  bool usesStatus = false;
  /// When set, the kernel takes a pointer (after the symbols) to a device scratch buffer of
  /// at least this many bytes, zeroed when the runtime allocates it and shared by the
  /// kernels of a run (they keep any counters they use in it zero between launches).
  std::optional<SymExpr> scratchBytes;
  std::optional<LibraryRule> library;
};

struct KernelSource {
  std::string name; // the kernel region's name (messages, chitu-inspect)
  // The CUDA function's name: derived from the code, so that the same computation (the
  // same op of every layer) has one source, one NVRTC compile and one cubin.
  std::string symbol;
  std::string tilesSymbol; // the second function when launch.tilesWhen is set
  // The library route's functions (launch.library): A's rows into the workspace, and the
  // epilogue from the library's products (empty when the route needs none).
  std::string libraryASymbol, libraryEpilogueSymbol, libraryBSymbol;
  std::string source; // CUDA C++; includes the embedded headers of kernels/
  LaunchRule launch;
};

/// Generates the kernel for `kernel`; emits a diagnostic and fails for op groupings code
/// generation does not support.
FailureOr<KernelSource> generateCudaKernel(KernelOp kernel, const ShapeAnalysis &shapes);

} // namespace mlir::chitu

#endif // CHITU_COMPILER_CODEGEN_CUDACODEGEN_H
