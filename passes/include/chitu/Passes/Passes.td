//===- Passes.td - chitu compiler passes -----------------------*- tablegen -*-===//
#ifndef CHITU_PASSES_TD
#define CHITU_PASSES_TD

include "mlir/Pass/PassBase.td"

def Raise : Pass<"chitu-raise", "func::FuncOp"> {
  let summary = "Replaces decomposed GELU, norms and attention by the dialect's ops";
  let description = [{
    Exporters spell some operations out in elementwise ops and reductions; the dialect
    has them as single ops that fusion and the kernels handle (one pass over the row for
    a norm, no intermediate tensors). Recognised, in any association and operand order:
    * `0.5 * x * (1 + erf(x / sqrt(2)))` (or `x * 0.70710678`) as `chitu.gelu`;
    * `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))` as `chitu.gelu_tanh`;
    * `x / sqrt(mean(x^2) + eps) * w` (or `x * rsqrt(..)`) over the last axis as
      `chitu.rms_norm`;
    * `(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * w [+ b]` over the last axis as
      `chitu.layer_norm`;
    * `matmul(softmax(matmul(q, k^T) * s [+ mask], last axis), v)` as `chitu.attention`
      (the scale multiplied or divided, on the scores or on q and k^T, any splat value; the
      transpose that made `k^T` is merged with the swap back), when the intermediates have
      no other use and q, k, v have the same leading dimensions.
    Constants must be splats equal to the formula's values up to their type's rounding
    (a relative 1e-4 for f32).

    ```mlir
    // before
    %d = chitu.div %x, %sqrt2 : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
    %e = chitu.erf %d : tensor<?x64xf32>
    %a = chitu.add %e, %one : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
    %m = chitu.mul %x, %a : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %g = chitu.mul %m, %half : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
    // after
    %g = chitu.gelu %x : tensor<?x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

def QuantizeWeights : Pass<"chitu-quantize-weights", "ModuleOp"> {
  let summary = "Stores the weights of linear layers as int8, fp8 or int4 with scales";
  let description = [{
    Precision assignment for weights (docs/precision.md). With `weight-dtype=int8` (or
    `fp8`: e4m3 values, `quantize = "fp8_rows"`, scale = row max / 448), every
    `chitu.matmul` whose right operand is a float `chitu.weight` matrix read transposed (a
    linear layer's `[out, in]` weight) and whose name `exclude` does not match reads instead
    the weight's int8 values and f32 per-row scales through `chitu.dequantize`. The matmul
    still computes in its float type with f32 accumulation; the weight takes 1 byte an element
    plus 4 a row. Other uses of the weight (a tied embedding's gather) keep the float weight.
    An empty `weight-dtype` leaves the function alone. `int4` (symmetric, `quantize =
    "int4_sym"`) and `int4_asym` (with zero points) store groups of `group-size` (32, 64 or
    128) consecutive elements of a row as int4, two a byte, with an f32 scale (and zero point)
    per group; a weight whose rows do not divide into groups stays as imported, with a warning.

    `rules-file` names a precision rule file (JSON or YAML, docs/precision.md): a list of
    rules, each a regular expression on weight names (`weights`) and/or on the kinds of the
    ops reading them (`ops`, e.g. `matmul`) with the `weight_dtype` to give them (`int8`,
    `fp8`, `int4`, `int4_asym`, or `keep`: as imported; int4 rules may set their own
    `group_size`), and optionally a default `weight_dtype` and `group_size` for the rest. The first
    rule that matches a linear layer's weight decides its type; weights no rule matches
    follow `weight-dtype` and `exclude`. A rule that matches no weight, an unknown key or
    type, or a pattern that is not a regular expression is an error.

    ```mlir
    // before
    %w = chitu.weight "layers.0.mlp.up_proj.weight" : tensor<11008x4096xbf16>
    %y = chitu.matmul %x, %w transpose_rhs : (tensor<?x4096xbf16>, tensor<11008x4096xbf16>) -> tensor<?x11008xbf16>
    // after
    %q = chitu.weight "layers.0.mlp.up_proj.weight" {quantize = "int8_rows"} : tensor<11008x4096xi8>
    %s = chitu.weight "layers.0.mlp.up_proj.weight" {quantize = "int8_rows"} : tensor<11008x1xf32>
    %w = chitu.dequantize %q, %s : (tensor<11008x4096xi8>, tensor<11008x1xf32>) -> tensor<11008x4096xbf16>
    %y = chitu.matmul %x, %w transpose_rhs : ...
    ```
  }];
  let options = [
    Option<"weightDtype", "weight-dtype", "std::string", /*default=*/"\"\"",
           "Storage type of linear layers' weights: int8, fp8, int4 or int4_asym (empty: "
           "as imported)">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"128",
           "int4: elements of a row per scale (32, 64 or 128)">,
    Option<"exclude", "exclude", "std::string", /*default=*/"\"lm_head\"",
           "Regular expression of weight names to keep as imported">,
    Option<"rulesFile", "rules-file", "std::string", /*default=*/"\"\"",
           "Precision rule file (JSON or YAML)">
  ];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

def ResolveDims : Pass<"chitu-resolve-dims", "func::FuncOp"> {
  let summary = "Expresses sizes of intermediate tensors through the entry's input sizes";
  let description = [{
    Rewrites each `chitu.dim` of a value computed inside the function into `arith`
    index operations on `chitu.dim`s of the function's arguments, from the symbolic
    shape analysis. Size computations then depend only on the inputs, so later passes
    may reorder and fuse compute ops freely. Frontends that read sizes off intermediate
    tensors (ONNX `Shape` of an activation) rely on it; a size the analysis cannot
    express is left alone.

    ```mlir
    // before: the size is read off an activation
    %y = chitu.exp %x : tensor<?x64xf32>
    %n = chitu.dim %y, 0 : tensor<?x64xf32>
    // after: off the argument it equals
    %n = chitu.dim %x, 0 : tensor<?x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::chitu::ChituDialect", "::mlir::arith::ArithDialect"];
}

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
  let summary = "Wraps each remaining compute op into a chitu.kernel region";
  let description = [{
    Wraps each compute op that is not yet inside a `chitu.kernel` (what `chitu-fuse` left
    alone) into a kernel region of its own, named `k<N>_<op>`, whose operands are the
    tensors and sizes it uses. Weights, constants and size computations stay outside, and
    so do views: reshapes of arena tensors, which need no kernel (their result is the
    input's memory).
  }];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

def PlanMemory : Pass<"chitu-plan-memory", "func::FuncOp"> {
  let summary = "Plans the activation arena: buffers, in-place results, packing by lifetime";
  let description = [{
    Every function argument and kernel result gets a buffer, except that views share their
    input's, a kernel result that reads a dying input only at the element it writes
    (pointwise ops at full shape) is written over it (`chitu.in_place` on the kernel), and
    `kv_write` results live in their state (slot -2 - input index; state arguments have
    slot -1). Buffers proportional to one symbol (activations of `s0` tokens) are packed
    per symbol at offsets `k * symbol` by lifetime, largest first (`chitu.slot_offsets`,
    `chitu.slot_units`: -1 for other slots); the others take slots reused by liveness,
    each as large as the largest buffer it holds. Each kernel gets `chitu.slots`, views
    `chitu.slots` too, the function `chitu.arg_slots` and `chitu.num_slots`; the
    artifact writer turns slots into arena offsets (expressions of the symbols).
  }];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

def SliceGraph : Pass<"chitu-slice", "func::FuncOp"> {
  let summary = "Cuts an entry's kernels into slices whose weights the runtime places together";
  let description = [{
    Dynamic graph slicing: partitions the kernels of each entry, in program order, into
    slices, so that the runtime can keep each slice's weights resident on the GPU, stream
    them from host memory while the previous slice runs, or run the slice on the CPU. A
    slice's footprint is its weights (each counted once) plus its largest kernel's inputs
    and outputs (activations, with every dynamic dimension at 1).

    * `budget` = 0 (the default): one slice per decoder layer (kernels tagged
      `chitu.layer` by the Hugging Face importer), and one per run of kernels outside the
      layers (the embedding; the final norm, head and sampling). A model without layers is
      one slice.
    * `budget` > 0: kernels join the current slice while its footprint stays within the
      budget; a kernel that exceeds the budget by itself is an error naming it.

    Each kernel gets `chitu.slice = i`; the function gets `chitu.slices`, one dictionary
    per slice: `weight_bytes`, `activation_bytes`, `kernels`. The .cbin records the slices
    with their steps, weights and boundary tensors (docs/cbin-format.md).

    ```mlir
    %0 = chitu.kernel "k0_gather"(%ids, %embed) {chitu.slice = 0 : i64} ...
    %1 = chitu.kernel "k1_rms_norm_matmul"(%0, ...) {chitu.layer = 0 : i64, chitu.slice = 1 : i64} ...
    ```
  }];
  let options = [
    Option<"budget", "budget", "int64_t", /*default=*/"0",
           "Bytes of weights plus activations per slice (0: one decoder layer per slice)">
  ];
  let dependentDialects = ["::mlir::chitu::ChituDialect"];
}

#endif // CHITU_PASSES_TD
