// chitu-quantize-weights: linear layers' weights as int8 values and per-row scales.
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights=weight-dtype=int8 | FileCheck %s
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights="weight-dtype=int8 exclude=" | FileCheck --check-prefix=ALL %s
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights | FileCheck --check-prefix=NONE %s
// RUN: not chitu-opt %s --split-input-file --chitu-quantize-weights=weight-dtype=int2 -o /dev/null 2>&1 | FileCheck --check-prefix=BADTYPE %s
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights="weight-dtype=int4 group-size=32" 2>/dev/null | FileCheck --check-prefix=INT4 %s
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights="weight-dtype=int4 group-size=32" 2>&1 >/dev/null | FileCheck --check-prefix=INT4WARN %s
// RUN: chitu-opt %s --split-input-file --chitu-quantize-weights="weight-dtype=int4_asym group-size=64" 2>/dev/null | FileCheck --check-prefix=ASYM %s
// RUN: not chitu-opt %s --split-input-file --chitu-quantize-weights="weight-dtype=int4 group-size=48" -o /dev/null 2>&1 | FileCheck --check-prefix=BADGROUP %s
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
// BADTYPE: unknown weight dtype 'int2' (supported: int8, fp8, int4, int4_asym)
// BADGROUP: group size 48 is not supported (32, 64 or 128)
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

// -----

// int4 groups: packed values [N, K / 2], scales (and, asymmetric, zero points) [N, K / G],
// one dequantize with the group size per product; a weight whose rows do not divide into
// groups (K = 48 with groups of 32 or 64) stays as imported, with a warning.
// INT4-LABEL: func.func @int4
// INT4WARN: warning: chitu-quantize-weights: 'layers.0.odd.weight' stays 'bf16': its rows of 48 do not divide into int4 groups of 32
// INT4: %[[Q:.*]] = chitu.weight "layers.0.up.weight" {group_size = 32 : i64, part = "values", quantize = "int4_sym"} : tensor<8x64xi8>
// INT4: %[[S:.*]] = chitu.weight "layers.0.up.weight" {group_size = 32 : i64, part = "scales", quantize = "int4_sym"} : tensor<8x4xf32>
// INT4-NOT: part = "zeros"
// INT4: chitu.dequantize %[[Q]], %[[S]] {group_size = 32 : i64} : (tensor<8x64xi8>, tensor<8x4xf32>) -> tensor<8x128xbf16>
// INT4: chitu.weight "layers.0.odd.weight" : tensor<8x48xbf16>
// ASYM-LABEL: func.func @int4
// ASYM: %[[Q:.*]] = chitu.weight "layers.0.up.weight" {group_size = 64 : i64, part = "values", quantize = "int4_asym"} : tensor<8x64xi8>
// ASYM: %[[S:.*]] = chitu.weight "layers.0.up.weight" {group_size = 64 : i64, part = "scales", quantize = "int4_asym"} : tensor<8x2xf32>
// ASYM: %[[Z:.*]] = chitu.weight "layers.0.up.weight" {group_size = 64 : i64, part = "zeros", quantize = "int4_asym"} : tensor<8x2xf32>
// ASYM: chitu.dequantize %[[Q]], %[[S]], %[[Z]] {group_size = 64 : i64} : (tensor<8x64xi8>, tensor<8x2xf32>, tensor<8x2xf32>) -> tensor<8x128xbf16>
func.func @int4(%x: tensor<?x128xbf16>, %y: tensor<?x48xbf16>) -> (tensor<?x8xbf16>, tensor<?x8xbf16>) {
  %w = chitu.weight "layers.0.up.weight" : tensor<8x128xbf16>
  %a = chitu.matmul %x, %w transpose_rhs : (tensor<?x128xbf16>, tensor<8x128xbf16>) -> tensor<?x8xbf16>
  %o = chitu.weight "layers.0.odd.weight" : tensor<8x48xbf16>
  %b = chitu.matmul %y, %o transpose_rhs : (tensor<?x48xbf16>, tensor<8x48xbf16>) -> tensor<?x8xbf16>
  return %a, %b : tensor<?x8xbf16>, tensor<?x8xbf16>
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
// RUN: chitu-opt %S/Inputs/precision-rules-int4-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-int4.yaml 2>&1 | FileCheck --check-prefix=RULEINT4 %s
// RUN: not chitu-opt %S/Inputs/precision-rules-int4-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-bad-group.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=RULEGROUP %s
// RUN: not chitu-opt %S/Inputs/precision-rules-int4-model.mlir --chitu-quantize-weights=rules-file=%S/Inputs/precision-rules-int8-group.yaml -o /dev/null 2>&1 | FileCheck --check-prefix=RULEINT8GROUP %s
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
// RULETYPE: precision-rules-bad-type.yaml:3:19: unknown weight dtype 'int2' (supported: int8, fp8, int4, int4_asym, keep)
// RULEKEY: precision-rules-bad-key.yaml:2:5: unknown key 'weight' (keys: weights, ops, weight_dtype, group_size)
// RULERE: precision-rules-bad-regex.json:1:24: 'layers(' is not a regular expression
// RULEOPS: ops 'gather' matches no linear layer's weight
// MALFORMED: precision-rules-malformed.yaml:1:21: Unexpected token{{.*}}(not JSON or YAML)
// MISSING: missing.yaml: cannot read the precision rules
// RULEINT4-LABEL: func.func @layers
// RULEINT4: chitu.weight "layers.0.q.weight" {group_size = 32 : i64, part = "values", quantize = "int4_sym"} : tensor<16x64xi8>
// RULEINT4: chitu.weight "layers.1.q.weight" {group_size = 128 : i64, part = "zeros", quantize = "int4_asym"} : tensor<16x1xf32>
// RULEINT4: chitu.weight "layers.2.q.weight" {quantize = "int8_rows"} : tensor<16x128xi8>
// RULEGROUP: precision-rules-bad-group.yaml:4:17: group_size must be 32, 64 or 128, not '100'
// RULEINT8GROUP: precision-rules-int8-group.yaml:2:5: 'group_size' applies to int4 and int4_asym rules only
