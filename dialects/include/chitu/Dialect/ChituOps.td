//===- ChituOps.td - chitu dialect operations ------------------*- tablegen -*-===//
//
// Operations of the chitu dialect. Each op's description carries an IR example; the
// generated reference is docs/dialect/ChituOps.md.
//
//===----------------------------------------------------------------------===//

#ifndef CHITU_OPS_TD
#define CHITU_OPS_TD

include "chitu/Dialect/ChituDialect.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Chitu_ElementType : AnyTypeOf<[F32, F16, BF16, I32, I64, I1]>;
def Chitu_Tensor : RankedTensorOf<[F32, F16, BF16, I32, I64, I1]>;
def Chitu_BoolTensor : RankedTensorOf<[I1]>;
def Chitu_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Chitu_IndexTensor : RankedTensorOf<[I32, I64]>;
// Quantized weight values: only chitu.weight makes them and only chitu.dequantize reads them.
def Chitu_QuantizedTensor : RankedTensorOf<[I8, F8E4M3FN]>;

//===----------------------------------------------------------------------===//
// Values: weights and constants
//===----------------------------------------------------------------------===//

def Chitu_WeightOp : Chitu_Op<"weight", [Pure]> {
  let summary = "A model weight, referenced by name";
  let description = [{
    Refers to a tensor stored outside the IR (a safetensors file). The compiler finds
    it by name in the weight files it is given, checks its dtype and shape against
    the result type, and either embeds it in the `.cbin` or records where it lives.
    The shape must be static.

    ```mlir
    %w = chitu.weight "layers.0.mlp.up_proj.weight" : tensor<11008x4096xbf16>
    ```

    With `quantize = "int8_rows"` (set by `chitu-quantize-weights`) the op is one part of
    the named float matrix `[rows, cols]` quantized per row (runtime/support/Quantize.h):
    an `i8` result of its shape is the values, an `f32` result `[rows, 1]` the scales. The
    compiler quantizes embedded weights; the runtime quantizes external ones when it loads
    them.

    ```mlir
    %q = chitu.weight "lm_head.weight" {quantize = "int8_rows"} : tensor<32000x4096xi8>
    %s = chitu.weight "lm_head.weight" {quantize = "int8_rows"} : tensor<32000x1xf32>
    ```

    `quantize = "fp8_rows"` is the same with `f8E4M3FN` values. `quantize = "int4_sym"` or
    `"int4_asym"` quantizes groups of `group_size` (32, 64 or 128) consecutive elements of a
    row to int4, two a byte; `part` names the part: the `i8` packed values `[rows, cols / 2]`,
    the `f32` scales `[rows, cols / group_size]`, and (asymmetric only) the `f32` zero points
    of the same shape.

    ```mlir
    %q = chitu.weight "w" {quantize = "int4_asym", group_size = 128 : i64, part = "values"}
        : tensor<4096x2048xi8>
    %s = chitu.weight "w" {quantize = "int4_asym", group_size = 128 : i64, part = "scales"}
        : tensor<4096x32xf32>
    %z = chitu.weight "w" {quantize = "int4_asym", group_size = 128 : i64, part = "zeros"}
        : tensor<4096x32xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, OptionalAttr<StrAttr>:$quantize,
                   OptionalAttr<I64Attr>:$group_size, OptionalAttr<StrAttr>:$part);
  let results = (outs AnyTypeOf<[Chitu_Tensor, Chitu_QuantizedTensor]>:$result);
  let builders = [
    OpBuilder<(ins "Type":$type, "StringRef":$name), [{
      build($_builder, $_state, type, $_builder.getStringAttr(name), StringAttr(), IntegerAttr(),
            StringAttr());
    }]>
  ];
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Chitu_ConstantOp : Chitu_Op<"constant", [ConstantLike, Pure,
    AllTypesMatch<["value", "result"]>]> {
  let summary = "A small constant tensor";
  let description = [{
    A constant given inline. Meant for small values (at most 4096 elements): larger
    data belongs in a weight file.

    ```mlir
    %c = chitu.constant dense<[1.0, 0.5]> : tensor<2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Chitu_DimOp : Chitu_Op<"dim", [Pure]> {
  let summary = "The size of one dimension of a tensor";
  let description = [{
    Returns dimension `index` of `input` as an `index` value, for ops that take sizes
    (`chitu.reshape`, `chitu.slice`). Folds to a constant when the dimension is static.

    ```mlir
    %n = chitu.dim %x, 0 : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$input, I64Attr:$index);
  let results = (outs Index:$result);
  let assemblyFormat = "$input `,` $index attr-dict `:` type($input)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise binary ops
//===----------------------------------------------------------------------===//

class Chitu_BinaryOp<string mnemonic, string what, string types = "any element type">
    : Chitu_Op<mnemonic, [Pure, SameOperandsAndResultElementType]> {
  let summary = "Elementwise " # what # " with broadcasting";
  let description = "Computes `" # what # "` elementwise. Operands broadcast as described in "
    # "the dialect documentation. Element types: " # types # ", the same for both "
    # "operands and the result.\n\n```mlir\n"
    # "%r = chitu." # mnemonic # " %a, %b : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>\n"
    # "```";
  let arguments = (ins Chitu_Tensor:$lhs, Chitu_Tensor:$rhs);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Chitu_AddOp : Chitu_BinaryOp<"add", "lhs + rhs">;
def Chitu_SubOp : Chitu_BinaryOp<"sub", "lhs - rhs">;
def Chitu_MulOp : Chitu_BinaryOp<"mul", "lhs * rhs">;
def Chitu_DivOp : Chitu_BinaryOp<"div", "lhs / rhs",
    "any element type (integers truncate; x / 0 = 0)">;
def Chitu_MaxOp : Chitu_BinaryOp<"max", "max(lhs, rhs)",
    "any element type (NaN propagates; on i1 a logical or)">;
def Chitu_MinOp : Chitu_BinaryOp<"min", "min(lhs, rhs)",
    "any element type (NaN propagates; on i1 a logical and)">;
def Chitu_PowOp : Chitu_BinaryOp<"pow", "pow(lhs, rhs)",
    "f32, f16 or bf16 (C's powf: a negative base with a non-integer exponent gives NaN)">;

def Chitu_CompareOp : Chitu_Op<"compare", [Pure]> {
  let summary = "Elementwise comparison with broadcasting";
  let description = [{
    Compares `lhs` and `rhs` elementwise (broadcasting like the binary ops) and returns
    an `i1` tensor. `predicate` is one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`; comparisons
    with NaN are false except `ne`. Operands have the same element type (not `i1`).

    ```mlir
    %m = chitu.compare "lt", %a, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xi1>
    ```
  }];
  let arguments = (ins StrAttr:$predicate, Chitu_Tensor:$lhs, Chitu_Tensor:$rhs);
  let results = (outs Chitu_BoolTensor:$result);
  let assemblyFormat = [{
    $predicate `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_SelectOp : Chitu_Op<"select", [Pure]> {
  let summary = "Elementwise choice between two tensors by a condition";
  let description = [{
    `condition ? on_true : on_false` elementwise; the three operands broadcast together
    like the binary ops. `on_true` and `on_false` have the result's element type.

    ```mlir
    %r = chitu.select %m, %a, %b
        : (tensor<?x8xi1>, tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins Chitu_BoolTensor:$condition, Chitu_Tensor:$on_true,
                   Chitu_Tensor:$on_false);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = [{
    $condition `,` $on_true `,` $on_false attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise unary ops
//===----------------------------------------------------------------------===//

class Chitu_UnaryOp<string mnemonic, string formula, Type tensorType>
    : Chitu_Op<mnemonic, [Pure, SameOperandsAndResultType]> {
  let summary = "Elementwise " # formula;
  let description = "Computes `" # formula # "` elementwise.\n\n```mlir\n"
    # "%y = chitu." # mnemonic # " %x : tensor<?x64xf32>\n```";
  let arguments = (ins tensorType:$input);
  let results = (outs tensorType:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Chitu_NegOp : Chitu_UnaryOp<"neg", "-x", Chitu_Tensor>;
def Chitu_AbsOp : Chitu_UnaryOp<"abs", "|x|", Chitu_Tensor>;
def Chitu_ErfOp : Chitu_UnaryOp<"erf", "erf(x)", Chitu_FloatTensor>;
def Chitu_ReluOp : Chitu_UnaryOp<"relu", "max(x, 0)", Chitu_Tensor>;
def Chitu_ExpOp : Chitu_UnaryOp<"exp", "exp(x)", Chitu_FloatTensor>;
def Chitu_LogOp : Chitu_UnaryOp<"log", "log(x)", Chitu_FloatTensor>;
def Chitu_SqrtOp : Chitu_UnaryOp<"sqrt", "sqrt(x)", Chitu_FloatTensor>;
def Chitu_RsqrtOp : Chitu_UnaryOp<"rsqrt", "1 / sqrt(x)", Chitu_FloatTensor>;
def Chitu_TanhOp : Chitu_UnaryOp<"tanh", "tanh(x)", Chitu_FloatTensor>;
def Chitu_SigmoidOp : Chitu_UnaryOp<"sigmoid", "1 / (1 + exp(-x))", Chitu_FloatTensor>;
def Chitu_SiluOp : Chitu_UnaryOp<"silu", "x * sigmoid(x)", Chitu_FloatTensor>;
def Chitu_GeluOp : Chitu_UnaryOp<"gelu", "0.5 * x * (1 + erf(x / sqrt(2)))",
    Chitu_FloatTensor>;
def Chitu_GeluTanhOp : Chitu_UnaryOp<"gelu_tanh",
    "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))", Chitu_FloatTensor>;

def Chitu_CastOp : Chitu_Op<"cast", [Pure]> {
  let summary = "Element type conversion";
  let description = [{
    Converts each element to the result's element type. Floats round to nearest even;
    float to integer truncates toward zero and saturates (NaN gives 0); integer
    narrowing wraps.

    ```mlir
    %y = chitu.cast %x : tensor<?x64xf32> -> tensor<?x64xbf16>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$input);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Contractions and reductions
//===----------------------------------------------------------------------===//

def Chitu_MatmulOp : Chitu_Op<"matmul", [Pure, SameOperandsAndResultElementType]> {
  let summary = "Batched matrix product";
  let description = [{
    `result[..., m, n] = sum_k lhs[..., m, k] * rhs[..., k, n]`, accumulated in f32.
    `transpose_lhs` reads `lhs` as `[..., k, m]` and `transpose_rhs` reads `rhs` as
    `[..., n, k]` (the layout of `nn.Linear` weights). Leading (batch) dimensions
    broadcast like elementwise ops; a rank-2 operand is shared by every batch.

    ```mlir
    %y = chitu.matmul %x, %w transpose_rhs
        : (tensor<?x4096xbf16>, tensor<11008x4096xbf16>) -> tensor<?x11008xbf16>
    ```
  }];
  let arguments = (ins Chitu_FloatTensor:$lhs, Chitu_FloatTensor:$rhs,
                   UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)? (`transpose_rhs` $transpose_rhs^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

class Chitu_ReduceOp<string mnemonic, string what, Type tensorType>
    : Chitu_Op<mnemonic, [Pure, SameOperandsAndResultElementType]> {
  let summary = "Reduction by " # what # " over axes";
  let description = "Reduces `input` by " # what # " over the listed `axes` (distinct, "
    # "non-negative). Reduced dimensions are dropped, or kept with size 1 with "
    # "`keep_dims`. Float sums accumulate in f32.\n\n```mlir\n"
    # "%s = chitu." # mnemonic # " %x axes = [1] : tensor<?x64xf32> -> tensor<?xf32>\n"
    # "%k = chitu." # mnemonic # " %x axes = [1] keep_dims : tensor<?x64xf32> -> tensor<?x1xf32>\n"
    # "```";
  let arguments = (ins tensorType:$input, DenseI64ArrayAttr:$axes, UnitAttr:$keep_dims);
  let results = (outs tensorType:$result);
  let assemblyFormat = [{
    $input `axes` `=` $axes (`keep_dims` $keep_dims^)? attr-dict `:` type($input) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def Chitu_ReduceSumOp : Chitu_ReduceOp<"reduce_sum", "sum", Chitu_Tensor>;
def Chitu_ReduceMaxOp : Chitu_ReduceOp<"reduce_max", "maximum", Chitu_Tensor>;
def Chitu_ReduceMeanOp : Chitu_ReduceOp<"reduce_mean", "mean", Chitu_FloatTensor>;

def Chitu_SoftmaxOp : Chitu_Op<"softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "Softmax along one axis";
  let description = [{
    `exp(x - max(x)) / sum(exp(x - max(x)))` along `axis`, computed in f32.

    ```mlir
    %p = chitu.softmax %scores axis = 3 : tensor<1x32x?x?xf32>
    ```
  }];
  let arguments = (ins Chitu_FloatTensor:$input, I64Attr:$axis);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = "$input `axis` `=` $axis attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Chitu_RmsNormOp : Chitu_Op<"rms_norm", [Pure, SameOperandsAndResultElementType]> {
  let summary = "RMS normalisation over the last axis";
  let description = [{
    `y = x / sqrt(mean(x^2, last axis) + eps) * weight`, computed in f32; `weight` has
    the size of the last axis. For f16/bf16 the normalised value is rounded to the type
    before the weight multiply, as PyTorch models (and vLLM) compute it.

    ```mlir
    %y = chitu.rms_norm %x, %w eps = 1.0e-05
        : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
    ```
  }];
  let arguments = (ins Chitu_FloatTensor:$input, Chitu_FloatTensor:$weight, F32Attr:$eps);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `eps` `=` $eps attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_LayerNormOp : Chitu_Op<"layer_norm", [Pure, SameOperandsAndResultElementType]> {
  let summary = "Layer normalisation over the last axis";
  let description = [{
    `y = (x - mean) / sqrt(var + eps) * weight + bias` over the last axis (biased
    variance), computed in f32. `bias` is optional.

    ```mlir
    %y = chitu.layer_norm %x, %w, %b eps = 1.0e-05
        : (tensor<?x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins Chitu_FloatTensor:$input, Chitu_FloatTensor:$weight,
                   Optional<Chitu_FloatTensor>:$bias, F32Attr:$eps);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? `eps` `=` $eps attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def Chitu_ReshapeOp : Chitu_Op<"reshape", [Pure]> {
  let summary = "Reinterprets a tensor with a new shape (row-major order kept)";
  let description = [{
    The new shape mixes static sizes and `index` values; it must match the result type
    and keep the element count (checked at run time when sizes are dynamic).

    ```mlir
    %n = chitu.dim %x, 0 : tensor<?x4096xf32>
    %h = chitu.reshape %x [%n, 32, 128] : tensor<?x4096xf32> -> tensor<?x32x128xf32>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$input, Variadic<Index>:$shape,
                   DenseI64ArrayAttr:$static_shape);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = [{
    $input custom<DynamicIndexList>($shape, $static_shape) attr-dict `:` type($input)
    `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Chitu_TransposeOp : Chitu_Op<"transpose", [Pure, SameOperandsAndResultElementType]> {
  let summary = "Permutes dimensions";
  let description = [{
    `result` dimension `i` is `input` dimension `perm[i]`.

    ```mlir
    %t = chitu.transpose %x perm = [0, 2, 1, 3] : tensor<?x?x32x128xf32> -> tensor<?x32x?x128xf32>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = "$input `perm` `=` $perm attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Chitu_SliceOp : Chitu_Op<"slice", [Pure, AttrSizedOperandSegments]> {
  let summary = "A strided window of a tensor";
  let description = [{
    Takes, in each dimension `d`, `sizes[d]` elements starting at `offsets[d]` with
    step `strides[d]` (static, >= 1). Offsets and sizes mix static values and `index`
    values; static sizes must match the result type. The window must lie inside the
    input (checked at compile time when static, at run time otherwise).

    ```mlir
    %half = chitu.slice %x [0, 64] [%n, 64] [1, 1] : tensor<?x128xf32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$input, Variadic<Index>:$offsets,
                   Variadic<Index>:$sizes, DenseI64ArrayAttr:$static_offsets,
                   DenseI64ArrayAttr:$static_sizes, DenseI64ArrayAttr:$strides);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = [{
    $input custom<DynamicIndexList>($offsets, $static_offsets)
    custom<DynamicIndexList>($sizes, $static_sizes) $strides attr-dict `:` type($input)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def Chitu_ConcatOp : Chitu_Op<"concat", [Pure, SameOperandsAndResultElementType]> {
  let summary = "Joins tensors along an axis";
  let description = [{
    All inputs have the same rank and the same sizes except along `axis`.

    ```mlir
    %qk = chitu.concat %q, %k axis = 1 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Variadic<Chitu_Tensor>:$inputs, I64Attr:$axis);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = "$inputs `axis` `=` $axis attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
}

def Chitu_GatherOp : Chitu_Op<"gather", [Pure]> {
  let summary = "Selects slices of a table by index (embedding lookup)";
  let description = [{
    Like `numpy.take(table, indices, axis)`: the result shape is
    `table.shape[:axis] + indices.shape + table.shape[axis+1:]`. Indices are i32 or
    i64 in `[-n, n)` for a dimension of size `n` (negative counts from the end); any
    other index makes the run fail with an error.

    ```mlir
    %e = chitu.gather %embed, %ids axis = 0 : (tensor<32000x4096xbf16>, tensor<?xi64>) -> tensor<?x4096xbf16>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$table, Chitu_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = [{
    $table `,` $indices `axis` `=` $axis attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_GatherElementsOp : Chitu_Op<"gather_elements", [Pure]> {
  let summary = "Picks one element per index along an axis";
  let description = [{
    `result[i0, .., ik, ..] = input[i0, .., indices[i0, .., ik, ..], ..]` with the index
    replacing coordinate `axis`: the result has the shape of `indices`, whose other
    dimensions are at most the input's. Indices are i32 or i64 in `[-n, n)` for an axis
    of size `n` (negative counts from the end); any other index fails the run.

    ```mlir
    %g = chitu.gather_elements %x, %idx axis = 1
        : (tensor<?x16xf32>, tensor<?x4xi64>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$input, Chitu_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $indices `axis` `=` $axis attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_BroadcastToOp : Chitu_Op<"broadcast_to", [Pure]> {
  let summary = "Stretches a tensor to a larger shape (NumPy broadcasting)";
  let description = [{
    The input's dimensions align on the right with the target shape; each is 1 (it
    stretches) or equal to the target's. The shape mixes static sizes and `index`
    values like `chitu.reshape`'s.

    ```mlir
    %n = chitu.dim %x, 0 : tensor<?x1xf32>
    %b = chitu.broadcast_to %x [%n, 64] : tensor<?x1xf32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$input, Variadic<Index>:$shape,
                   DenseI64ArrayAttr:$static_shape);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = [{
    $input custom<DynamicIndexList>($shape, $static_shape) attr-dict `:` type($input)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def Chitu_IotaOp : Chitu_Op<"iota", [Pure]> {
  let summary = "A one-dimensional arithmetic sequence";
  let description = [{
    `result[i] = start + i * step` for `i` in `[0, size)`, computed in f64 (floats) or
    exactly (integers) and converted to the result type. `size` is given when the result
    dimension is dynamic.

    ```mlir
    %r = chitu.iota size %n start = 0.0 step = 1.0 : tensor<?xi64>
    ```
  }];
  let arguments = (ins Optional<Index>:$size, F64Attr:$start, F64Attr:$step);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = [{
    (`size` $size^)? `start` `=` $start `step` `=` $step attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

def Chitu_FromSizesOp : Chitu_Op<"from_sizes", [Pure]> {
  let summary = "A small integer tensor holding sizes";
  let description = [{
    Turns sizes (static values and `index` values, as in `chitu.reshape`) into tensor
    data, for models that compute with their shapes (an ONNX mask built from the
    sequence length). The result has one element per size (rank 1), or is a scalar
    (rank 0) for a single size.

    ```mlir
    %n = chitu.dim %x, 0 : tensor<?x64xf32>
    %s = chitu.from_sizes [%n, 64] : tensor<2xi64>
    ```
  }];
  let arguments = (ins Variadic<Index>:$sizes, DenseI64ArrayAttr:$static_sizes);
  let results = (outs Chitu_IndexTensor:$result);
  let assemblyFormat = [{
    custom<DynamicIndexList>($sizes, $static_sizes) attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

def Chitu_CumsumOp : Chitu_Op<"cumsum", [Pure, SameOperandsAndResultType]> {
  let summary = "Running sum along an axis";
  let description = [{
    `result[.., i, ..] = sum of input[.., j, ..]` over `j <= i` (`j < i` with
    `exclusive`; from the end with `reverse`), accumulated in f32 for floats.

    ```mlir
    %c = chitu.cumsum %x axis = 1 exclusive : tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Chitu_Tensor:$input, I64Attr:$axis, UnitAttr:$exclusive,
                   UnitAttr:$reverse);
  let results = (outs Chitu_Tensor:$result);
  let assemblyFormat = [{
    $input `axis` `=` $axis (`exclusive` $exclusive^)? (`reverse` $reverse^)? attr-dict `:`
    type($input)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// LLM ops: rotary embedding, paged KV cache, attention, sampling
//===----------------------------------------------------------------------===//

def Chitu_RopeOp : Chitu_Op<"rope", [Pure]> {
  let summary = "Rotary position embedding (rotate-half layout)";
  let description = [{
    Rotates pairs `(x[i], x[i + d/2])` of each head by the angle
    `position * inv_freq[i]` (computed in f32), as Llama, Qwen2 and Mistral do:
    `y[i] = x[i] cos - x[i + d/2] sin`, `y[i + d/2] = x[i + d/2] cos + x[i] sin`.
    `input` is `[tokens, heads, d]` with `d` even, `positions` `[tokens]`, and `inv_freq`
    the `d/2` f32 frequencies (the frontend computes them, scaling included). For f16/bf16,
    `cos`, `sin` and each product are rounded to the type, as PyTorch models compute it.

    ```mlir
    %q = chitu.rope %x, %pos, %inv_freq
        : (tensor<?x32x128xbf16>, tensor<?xi32>, tensor<64xf32>) -> tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Chitu_FloatTensor:$input, Chitu_IndexTensor:$positions,
                   RankedTensorOf<[F32]>:$inv_freq);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $positions `,` $inv_freq attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_KvWriteOp : Chitu_Op<"kv_write", [MemoryEffects<[MemWrite]>]> {
  let summary = "Writes new keys or values into a paged KV cache, in place";
  let description = [{
    The cache is `[blocks, block_size, kv_heads, head_dim]`; row `t` of `values`
    (`[tokens, kv_heads, head_dim]`) goes to slot `slots[t]` (= block * block_size +
    offset); a negative slot skips the row, a slot past the cache fails the run. The result
    *is* the cache, updated in place: it must be an entry argument marked `chitu.state`
    or another `kv_write`'s result.

    ```mlir
    %kc1 = chitu.kv_write %kc, %k, %slots
        : (tensor<?x16x8x128xbf16>, tensor<?x8x128xbf16>, tensor<?xi32>) -> tensor<?x16x8x128xbf16>
    ```
  }];
  let arguments = (ins Chitu_FloatTensor:$cache, Chitu_FloatTensor:$values,
                   Chitu_IndexTensor:$slots);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = [{
    $cache `,` $values `,` $slots attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_PagedAttentionOp : Chitu_Op<"paged_attention", [Pure]> {
  let summary = "Causal attention of a ragged batch over a paged KV cache";
  let description = [{
    Token `t` (query `[tokens, heads, head_dim]`) belongs to sequence
    `sequence_ids[t]` at position `positions[t]`; it attends to that sequence's keys at
    positions `j` in `[max(0, p - window + 1), p]` (`window = 0`: all of `[0, p]`), read
    from the caches (`[blocks, block_size, kv_heads, head_dim]`) at slot
    `block_tables[seq, j / block_size] * block_size + j % block_size`. Query head `h` uses
    KV head `h / (heads / kv_heads)` (grouped-query attention). Scores are scaled by
    `scale`; the softmax and the weighted sum are computed in f32. The keys of the current
    tokens must already be in the cache (write them with `chitu.kv_write` first), so one
    op serves prefill chunks and decode steps alike. A sequence, block or position outside
    the tables fails the run.

    ```mlir
    %o = chitu.paged_attention %q, %kc, %vc, %tables, %seq, %pos scale = 0.0883883461 window = 4096
        : (tensor<?x32x128xbf16>, tensor<?x16x8x128xbf16>, tensor<?x16x8x128xbf16>,
           tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Chitu_FloatTensor:$query, Chitu_FloatTensor:$key_cache,
                   Chitu_FloatTensor:$value_cache, Chitu_IndexTensor:$block_tables,
                   Chitu_IndexTensor:$sequence_ids, Chitu_IndexTensor:$positions,
                   F32Attr:$scale, DefaultValuedAttr<I64Attr, "0">:$window);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key_cache `,` $value_cache `,` $block_tables `,` $sequence_ids `,` $positions
    `scale` `=` $scale (`window` `=` $window^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_AttentionOp : Chitu_Op<"attention", [Pure]> {
  let summary = "Dense scaled dot-product attention, with an optional additive mask";
  let description = [{
    `softmax(query . key^T * scale + mask) . value` over the last two axes: `query` is
    `[..., q_len, head_dim]`, `key` `[..., kv_len, head_dim]`, `value`
    `[..., kv_len, value_dim]` with the same leading (batch, head) dimensions, and the result
    `[..., q_len, value_dim]`. `mask`, when present, is added to the scaled scores and
    broadcasts to `[..., q_len, kv_len]` (numpy rules: a mask of `-inf` or a large negative
    value hides a key). Scores, softmax and the weighted sum are computed in f32, without
    rounding the scores or the probabilities to a 16-bit type. A row whose scores are all
    `-inf` is NaN, as the softmax of such a row is; with no keys the result is zero.

    `chitu-raise` forms it from `matmul(softmax(matmul(q, k^T) * s + mask), v)`, the way
    ONNX exports of encoders and decoders spell attention; the CUDA kernel streams keys and
    values through shared memory with an online softmax, so the scores never reach memory.

    ```mlir
    %o = chitu.attention %q, %k, %v, %mask scale = 0.125
        : (tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>,
           tensor<?x1x1x?xf32>) -> tensor<?x12x?x64xf32>
    ```
  }];
  let arguments = (ins Chitu_FloatTensor:$query, Chitu_FloatTensor:$key,
                   Chitu_FloatTensor:$value, Optional<Chitu_FloatTensor>:$mask, F32Attr:$scale);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`,` $mask^)? `scale` `=` $scale attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_DequantizeOp : Chitu_Op<"dequantize", [Pure]> {
  let summary = "Quantized values times their scales, as floats";
  let description = [{
    `values * scales`, elementwise, `scales` broadcast to `values` (numpy rules, same rank),
    computed in f32 and rounded to the result's float type. `chitu-quantize-weights` puts it
    between an int8-quantized weight and the product reading it. Fusion folds it into that
    product's kernel (weight rows `[N, K]` read transposed, one scale per row): the
    matrix-vector routines then sum activations times the int8 values and scale each
    column's sum once, without rounding each weight to the result type (a difference within
    that type's rounding); the other routes dequantize exactly as written.

    ```mlir
    %w = chitu.dequantize %q, %s : (tensor<4096x4096xi8>, tensor<4096x1xf32>)
        -> tensor<4096x4096xbf16>
    ```

    With `group_size = G` the values are int4 packed two a byte: `values` `[N, K / 2]` (`i8`;
    byte `b` holds element `2b` in its low nibble and `2b + 1` in its high nibble, unsigned
    `u` in 0..15), `scales` and the optional `zeros` `[N, K / G]` (one per group of G
    consecutive elements of a row; without `zeros` every zero point is 8), and the result
    `[N, K]` is `(u - zero) * scale`, computed in f32 and rounded to its type. Zero points
    are integers in 0..15 (as the quantizer, GPTQ and AWQ store them). Fused into a product,
    the kernels may round the scale to A's 16-bit type or scale a group's sum instead of each
    weight (a difference within that type's rounding); they take `128 + zero` (or `1024 +
    zero` in f16) as exact, which only integer zero points are.

    ```mlir
    %w = chitu.dequantize %q, %s, %z {group_size = 128 : i64}
        : (tensor<4096x2048xi8>, tensor<4096x32xf32>, tensor<4096x32xf32>)
        -> tensor<4096x4096xbf16>
    ```
  }];
  let arguments = (ins Chitu_QuantizedTensor:$values, RankedTensorOf<[F32]>:$scales,
                   Optional<RankedTensorOf<[F32]>>:$zeros, OptionalAttr<I64Attr>:$group_size);
  let results = (outs Chitu_FloatTensor:$result);
  let assemblyFormat = [{
    $values `,` $scales (`,` $zeros^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_SamplingProbsOp : Chitu_Op<"sampling_probs", [Pure]> {
  let summary = "Next-token probabilities after penalty, temperature and filters";
  let description = [{
    Per row `r` of `logits` (`[rows, vocab]`, f32), in this order (as Hugging Face's
    generate applies them):
    1. repetition penalty: each distinct id of `history[r]` in `[0, vocab)` (others, e.g.
       -1 padding, are ignored) has its logit divided by `repetition_penalty[r]` if
       positive, multiplied if not;
    2. `temperature[r] <= 0`: greedy, the result is one-hot at the first largest logit;
       otherwise logits are divided by the temperature and turned into
       `e = exp(x - max x)`;
    3. `top_k[r] > 0`: only values `>=` the k-th largest are kept;
    4. `top_p[r] < 1`: only values `>=` the largest threshold whose kept mass is at least
       `top_p` of the remaining mass are kept;
    5. `min_p[r] > 0`: only values `>= min_p * max` are kept;
    6. the kept values are normalised to sum to 1; the others are 0.

    ```mlir
    %p = chitu.sampling_probs %logits, %temp, %top_k, %top_p, %min_p, %penalty, %history
        : (tensor<?x32000xf32>, tensor<?xf32>, tensor<?xi32>, tensor<?xf32>, tensor<?xf32>,
           tensor<?xf32>, tensor<?x?xi32>) -> tensor<?x32000xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$logits, RankedTensorOf<[F32]>:$temperature,
                   RankedTensorOf<[I32]>:$top_k, RankedTensorOf<[F32]>:$top_p,
                   RankedTensorOf<[F32]>:$min_p, RankedTensorOf<[F32]>:$repetition_penalty,
                   RankedTensorOf<[I32]>:$history);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $logits `,` $temperature `,` $top_k `,` $top_p `,` $min_p `,` $repetition_penalty `,`
    $history attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Chitu_MultinomialOp : Chitu_Op<"multinomial", [Pure]> {
  let summary = "Draws one index per row from probabilities";
  let description = [{
    For row `r` of `probs` (`[rows, n]`, f32), draws `u` in `[0, 1)` from `seeds[r]`
    (splitmix64: the same seed gives the same draw on every device) and returns the first
    index whose running sum of probabilities exceeds `u` times the row's total. A row
    without a positive total (all zero, NaN) fails the run.

    ```mlir
    %ids = chitu.multinomial %p, %seeds : (tensor<?x32000xf32>, tensor<?xi64>) -> tensor<?xi32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$probs, RankedTensorOf<[I64]>:$seeds);
  let results = (outs RankedTensorOf<[I32]>:$result);
  let assemblyFormat = "$probs `,` $seeds attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Kernel regions
//===----------------------------------------------------------------------===//

def Chitu_KernelOp : Chitu_Op<"kernel", [IsolatedFromAbove, RecursiveMemoryEffects,
    SingleBlock]> {
  let summary = "A group of ops compiled into one CUDA kernel";
  let description = [{
    The unit of code generation: its region's ops become one kernel named `name`. The
    region sees only its operands (tensors, and `index` values for sizes) as block
    arguments and yields the kernel's results. `chitu-fuse` creates regions of several ops,
    `chitu-form-kernels` one per remaining op.

    ```mlir
    %y = chitu.kernel "k0_add" (%a, %b) : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32> {
    ^bb0(%x: tensor<?x64xf32>, %w: tensor<64xf32>):
      %s = chitu.add %x, %w : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
      chitu.yield %s : tensor<?x64xf32>
    }
    ```
  }];
  let arguments = (ins StrAttr:$name, Variadic<AnyTypeOf<[Chitu_Tensor, Chitu_QuantizedTensor, Index]>>:$inputs);
  let results = (outs Variadic<Chitu_Tensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $name `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    /// The kernel input that result `index` updates in place (a kv_write's cache), if any.
    std::optional<unsigned> getTiedInput(unsigned index);
  }];
}

def Chitu_YieldOp : Chitu_Op<"yield", [Pure, Terminator, ReturnLike,
                                       HasParent<"KernelOp">]> {
  let summary = "Yields the results of a kernel region";
  let description = [{
    ```mlir
    chitu.yield %s : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Variadic<Chitu_Tensor>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

#endif // CHITU_OPS_TD
