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
