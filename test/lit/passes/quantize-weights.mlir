// chitu-quantize-weights: linear layers' weights as int8 values and per-row scales.
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights=weight-dtype=int8 | FileCheck %s
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights="weight-dtype=int8 exclude=" | FileCheck --check-prefix=ALL %s
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights | FileCheck --check-prefix=NONE %s
// RUN: not chitu-opt %s --split-input-file --chitu-quantize-weights=weight-dtype=int4 -o /dev/null 2>&1 | FileCheck --check-prefix=BADTYPE %s
// RUN: not chitu-opt %s --split-input-file --chitu-quantize-weights="weight-dtype=int8 exclude=(" -o /dev/null 2>&1 | FileCheck --check-prefix=BADRE %s

// Two products of one weight share its quantized values and scales, each with its own
// dequantize (fusion folds each into its product); the head (lm_head, excluded by default)
// stays bf16; the original weight is gone.
// CHECK-LABEL: func.func @linear
// CHECK-NOT: chitu.weight "layers.0.up.weight" :
// CHECK: %[[Q:.*]] = chitu.weight "layers.0.up.weight" {quantize = "int8_rows"} : tensor<8x4xi8>
// CHECK: %[[S:.*]] = chitu.weight "layers.0.up.weight" {quantize = "int8_rows"} : tensor<8x1xf32>
// CHECK: %[[H:.*]] = chitu.weight "lm_head.weight" : tensor<6x8xbf16>
// CHECK: %[[W:.*]] = chitu.dequantize %[[Q]], %[[S]] : (tensor<8x4xi8>, tensor<8x1xf32>) -> tensor<8x4xbf16>
// CHECK: chitu.matmul %arg0, %[[W]] transpose_rhs
// CHECK: %[[W2:.*]] = chitu.dequantize %[[Q]], %[[S]]
// CHECK: chitu.matmul %arg1, %[[W2]] transpose_rhs
// CHECK: chitu.matmul %{{.*}}, %[[H]] transpose_rhs
// ALL-LABEL: func.func @linear
// ALL: chitu.weight "lm_head.weight" {quantize = "int8_rows"} : tensor<6x8xi8>
// NONE-LABEL: func.func @linear
// NONE-NOT: chitu.dequantize
// BADTYPE: unknown weight dtype 'int4' (supported: int8, fp8)
// BADRE: exclude pattern '(' is not a regular expression
func.func @linear(%x: tensor<?x4xbf16>, %y: tensor<?x4xbf16>) -> (tensor<?x8xbf16>, tensor<?x6xbf16>) {
  %w = chitu.weight "layers.0.up.weight" : tensor<8x4xbf16>
  %h = chitu.weight "lm_head.weight" : tensor<6x8xbf16>
  %a = chitu.matmul %x, %w transpose_rhs : (tensor<?x4xbf16>, tensor<8x4xbf16>) -> tensor<?x8xbf16>
  %b = chitu.matmul %y, %w transpose_rhs : (tensor<?x4xbf16>, tensor<8x4xbf16>) -> tensor<?x8xbf16>
  %c = chitu.matmul %b, %h transpose_rhs : (tensor<?x8xbf16>, tensor<6x8xbf16>) -> tensor<?x6xbf16>
  return %a, %c : tensor<?x8xbf16>, tensor<?x6xbf16>
}

// -----

// Left alone: a weight read untransposed ([in, out]: per-row scales would scale inputs) and
// a weight's other uses (a tied embedding's gather keeps the float weight).
// CHECK-LABEL: func.func @untouched
// CHECK: %[[E:.*]] = chitu.weight "embed.weight" : tensor<10x4xf32>
// CHECK: %[[Q:.*]] = chitu.weight "embed.weight" {quantize = "int8_rows"} : tensor<10x4xi8>
// CHECK: %[[X:.*]] = chitu.gather %[[E]]
// CHECK: %[[D:.*]] = chitu.dequantize %[[Q]]
// CHECK: chitu.matmul %[[X]], %[[D]] transpose_rhs
// CHECK: %[[K:.*]] = chitu.weight "k.weight" : tensor<4x10xf32>
// CHECK: chitu.matmul %[[X]], %[[K]] :
func.func @untouched(%ids: tensor<?xi32>) -> (tensor<?x10xf32>, tensor<?x10xf32>) {
  %e = chitu.weight "embed.weight" : tensor<10x4xf32>
  %x = chitu.gather %e, %ids axis = 0 : (tensor<10x4xf32>, tensor<?xi32>) -> tensor<?x4xf32>
  %logits = chitu.matmul %x, %e transpose_rhs : (tensor<?x4xf32>, tensor<10x4xf32>) -> tensor<?x10xf32>
  %k = chitu.weight "k.weight" : tensor<4x10xf32>
  %y = chitu.matmul %x, %k : (tensor<?x4xf32>, tensor<4x10xf32>) -> tensor<?x10xf32>
  return %logits, %y : tensor<?x10xf32>, tensor<?x10xf32>
}

// Precision rules (Inputs/precision-rules.*): the first rule matching a weight decides; the
// rest follow the file's (or the pass's) weight dtype, then `exclude`.
// RUN: chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules.yaml 2>&1 | FileCheck --check-prefix=YAML %s
// RUN: chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules.json 2>&1 | FileCheck --check-prefix=JSON %s
// RUN: not chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-unmatched.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=UNMATCHED %s
// RUN: not chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-shadowed.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=SHADOWED %s
// RUN: not chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-bad-type.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=RULETYPE %s
// RUN: not chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-bad-key.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=RULEKEY %s
// RUN: not chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-bad-regex.json -o /dev/null 2>&1 | FileCheck --check-prefix=RULERE %s
// RUN: not chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-gather.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=RULEOPS %s
// RUN: not chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-malformed.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=MALFORMED %s
// RUN: not chitu-opt %S/Inputs/precision-rules-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/missing.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=MISSING %s
// YAML-LABEL: func.func @layers
// YAML: chitu.weight "layers.0.q.weight" : tensor<8x8xbf16>
// YAML: chitu.weight "layers.1.q.weight" {quantize = "int8_rows"} : tensor<8x8xi8>
// YAML: chitu.weight "layers.2.q.weight" : tensor<8x8xbf16>
// YAML: chitu.weight "lm_head.weight" {quantize = "int8_rows"} : tensor<6x8xi8>
// JSON-LABEL: func.func @layers
// JSON: chitu.weight "layers.0.q.weight" : tensor<8x8xbf16>
// JSON: chitu.weight "layers.1.q.weight" {quantize = "int8_rows"} : tensor<8x8xi8>
// JSON: chitu.weight "layers.2.q.weight" : tensor<8x8xbf16>
// JSON: chitu.weight "lm_head.weight" : tensor<6x8xbf16>
// UNMATCHED: precision-rules-unmatched.yaml:4:5): weights 'layers\.7\.' matches no linear layer's weight (names look like 'layers.0.q.weight')
// SHADOWED: precision-rules-shadowed.yaml:4:5): weights 'layers\.1\.' decides no weight: earlier rules take every weight it matches
// RULETYPE: precision-rules-bad-type.yaml:3:19: unknown weight dtype 'int4' (supported: int8, fp8, keep)
// RULEKEY: precision-rules-bad-key.yaml:2:5: unknown key 'weight' (keys: weights, ops, weight_dtype)
// RULERE: precision-rules-bad-regex.json:1:24: 'layers(' is not a regular expression
// RULEOPS: ops 'gather' matches no linear layer's weight
// MALFORMED: precision-rules-malformed.yaml:1:21: Unexpected token{{.*}}(not JSON or YAML)
// MISSING: missing.yaml: cannot read the precision rules
