//===- Passes.td - chitu compiler passes -----------------------*- tablegen -*-===//
#ifndef CHITU_PASSES_TD
#define CHITU_PASSES_TD

include "mlir/Pass/PassBase.td"

def CheckShapes : Pass<"chitu-check-shapes", "func::FuncOp"> {
  let summary = "Relates all dynamic dimensions and records the run-time shape checks";
  let description = [{
    Runs the symbolic shape analysis over an entry function: every dynamic input
    dimension becomes a symbol; dimensions that ops force to be equal share one symbol,
    dimensions forced to a static size become that size, and conditions that cannot be
    decided at compile time become run-time checks. Shapes that are inconsistent at
    compile time are reported at the op that needs them.

    The result is made visible as attributes: each argument gets `chitu.dims` (one
    string per dimension, e.g. `["s0", "64"]`) and the function `chitu.checks` (one
    string per run-time check).
  }];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

def Fuse : Pass<"chitu-fuse", "func::FuncOp"> {
  let summary = "Fuses compute ops into the kernel regions code generation supports";
  let description = [{
    Groups ops greedily into `chitu.kernel` regions, rule by rule: products sharing a left
    operand (Q/K/V, gate/up) become one kernel; pointwise consumers of a product, a
    reduction or an elemental group join it as its epilogue (bias, residual add,
    `silu(gate) * up`, casts); elemental ops and `rms_norm`s whose users all sit in one
    kernel join it as its prologue (a norm computed inside the product's kernel, reshapes
    and rotary embedding read through); independent elemental kernels reading a common
    input merge (rotary embedding of q with the KV-cache appends). A merge is refused when
    the group is not a supported kernel shape or would create a cycle between kernels.
    Ops are reordered so that each kernel follows what it reads. Single ops are left to
    `chitu-form-kernels`.

    ```mlir
    // before: rms_norm, then three matmuls reading it
    %n = chitu.rms_norm %x, %w eps = 1.0e-05 : ...
    %q = chitu.matmul %n, %wq transpose_rhs : ...
    %k = chitu.matmul %n, %wk transpose_rhs : ...
    // after: one kernel computes the norm in its prologue and both products
    %q, %k = chitu.kernel "k0_rms_norm_matmul" (%x, %w, %wq, %wk) : ... {
      ...
    }
    ```
  }];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

def FormKernels : Pass<"chitu-form-kernels", "func::FuncOp"> {
  let summary = "Groups compute ops into chitu.kernel regions";
  let description = [{
    Wraps each compute op that is not yet inside a `chitu.kernel` into a kernel region
    of its own, named `k<N>_<op>`, whose operands are the tensors and sizes it uses.
    Weights, constants and size computations stay outside. Code generation turns each
    region into one CUDA kernel; the fusion pass (later) changes only the grouping.
  }];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

def PlanMemory : Pass<"chitu-plan-memory", "func::FuncOp"> {
  let summary = "Assigns every intermediate tensor an arena slot, reusing dead ones";
  let description = [{
    Liveness over the (single-block) entry function: each function argument and kernel
    result gets a slot of the arena; a slot whose tensor is dead is reused by a later
    one. Arguments and returned values live for the whole function. The slot of each
    kernel result is recorded in the kernel's `chitu.slots` attribute, argument slots
    in the function's `chitu.arg_slots`, and the slot count in `chitu.num_slots`.
    Arguments marked `chitu.state` (KV caches) live outside the arena (slot -1); a kernel
    result that updates one in place (`chitu.kv_write`) lives in its input's buffer
    (slot -2 - input index).
    The size of a slot is the largest tensor it holds, a function of the dynamic
    dimensions computed when the artifact is written.
  }];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

#endif // CHITU_PASSES_TD
