//===- ChituDialect.td - the chitu dialect ---------------------*- tablegen -*-===//
//
// The chitu dialect: tensor-level operations of LLM inference graphs, and the kernel
// regions that the compiler turns into CUDA kernels.
//
//===----------------------------------------------------------------------===//

#ifndef CHITU_DIALECT_TD
#define CHITU_DIALECT_TD

include "mlir/IR/OpBase.td"

def Chitu_Dialect : Dialect {
  let name = "chitu";
  let summary = "Tensor operations of LLM inference graphs and their CUDA kernel regions.";
  let description = [{
    Programs are `func.func` functions over ranked tensors whose element types are
    `f32`, `f16`, `bf16`, `i32`, `i64` or `i1` (masks); dimensions may be dynamic (`?`). Weights are
    referenced by name (`chitu.weight`), never inlined. Dynamic dimensions are read with
    `chitu.dim` and combined with `arith` index operations where an op needs a size
    (`chitu.reshape`, `chitu.slice`).

    Shape rules shared by all ops:
    * Elementwise binary ops broadcast like NumPy: shapes align on the right and a
      static dimension of 1 stretches. A dynamic dimension never broadcasts: two dynamic
      dimensions that meet must be equal at run time, and a dynamic dimension that
      meets a static size N > 1 must be N.
    * Axes are non-negative (`0 <= axis < rank`).

    Numerics: float ops on `f16`/`bf16` compute in `f32` and round to the storage type
    when a value leaves a kernel or is cast. Integer arithmetic wraps; integer division
    truncates, and dividing by zero gives 0. Float-to-integer casts truncate and
    saturate (NaN gives 0). `max`/`min` propagate NaN.

    After kernel formation, every compute op sits inside a `chitu.kernel` region: the
    unit that code generation turns into one CUDA kernel.
  }];
  let cppNamespace = "::mlir::chitu";
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let hasConstantMaterializer = 1;
}

class Chitu_Op<string mnemonic, list<Trait> traits = []>
    : Op<Chitu_Dialect, mnemonic, traits>;

#endif // CHITU_DIALECT_TD
