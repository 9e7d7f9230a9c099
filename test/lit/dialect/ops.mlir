// Every chitu op parses, verifies, prints and parses again to the same IR.
// RUN: chitu-opt %s --split-input-file | chitu-opt --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @values
func.func @values(%x: tensor<?x64xf32>) -> (tensor<2xf32>, index) {
  // CHECK: chitu.weight "layers.0.w" : tensor<64x64xbf16>
  %w = chitu.weight "layers.0.w" : tensor<64x64xbf16>
  // CHECK: chitu.constant dense<[1.000000e+00, 5.000000e-01]> : tensor<2xf32>
  %c = chitu.constant dense<[1.0, 0.5]> : tensor<2xf32>
  // CHECK: chitu.dim %{{.*}}, 0 : tensor<?x64xf32>
  %n = chitu.dim %x, 0 : tensor<?x64xf32>
  return %c, %n : tensor<2xf32>, index
}

// -----

// CHECK-LABEL: func.func @binary
func.func @binary(%a: tensor<?x64xf32>, %b: tensor<64xf32>, %i: tensor<4xi32>) {
  // CHECK: chitu.add %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %0 = chitu.add %a, %b : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // CHECK: chitu.sub
  %1 = chitu.sub %a, %b : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // CHECK: chitu.mul
  %2 = chitu.mul %a, %a : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  // CHECK: chitu.div {{.*}} : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %3 = chitu.div %i, %i : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  // CHECK: chitu.max
  %4 = chitu.max %a, %b : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // CHECK: chitu.min
  %5 = chitu.min %i, %i : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

// CHECK-LABEL: func.func @unary
func.func @unary(%x: tensor<8xf16>, %i: tensor<8xi64>) {
  // CHECK: chitu.neg %{{.*}} : tensor<8xi64>
  %0 = chitu.neg %i : tensor<8xi64>
  // CHECK: chitu.relu %{{.*}} : tensor<8xf16>
  %1 = chitu.relu %x : tensor<8xf16>
  // CHECK: chitu.exp
  %2 = chitu.exp %x : tensor<8xf16>
  // CHECK: chitu.log
  %3 = chitu.log %x : tensor<8xf16>
  // CHECK: chitu.sqrt
  %4 = chitu.sqrt %x : tensor<8xf16>
  // CHECK: chitu.rsqrt
  %5 = chitu.rsqrt %x : tensor<8xf16>
  // CHECK: chitu.tanh
  %6 = chitu.tanh %x : tensor<8xf16>
  // CHECK: chitu.sigmoid
  %7 = chitu.sigmoid %x : tensor<8xf16>
  // CHECK: chitu.silu
  %8 = chitu.silu %x : tensor<8xf16>
  // CHECK: chitu.gelu %
  %9 = chitu.gelu %x : tensor<8xf16>
  // CHECK: chitu.gelu_tanh
  %10 = chitu.gelu_tanh %x : tensor<8xf16>
  // CHECK: chitu.cast %{{.*}} : tensor<8xf16> -> tensor<8xi32>
  %11 = chitu.cast %x : tensor<8xf16> -> tensor<8xi32>
  return
}

// -----

// CHECK-LABEL: func.func @contractions
func.func @contractions(%a: tensor<2x?x16xbf16>, %w: tensor<32x16xbf16>, %x: tensor<?x64xf32>,
                        %g: tensor<64xf32>) {
  // CHECK: chitu.matmul %{{.*}}, %{{.*}} transpose_rhs : (tensor<2x?x16xbf16>, tensor<32x16xbf16>) -> tensor<2x?x32xbf16>
  %0 = chitu.matmul %a, %w transpose_rhs : (tensor<2x?x16xbf16>, tensor<32x16xbf16>) -> tensor<2x?x32xbf16>
  // CHECK: chitu.matmul %{{.*}}, %{{.*}} transpose_lhs : (tensor<2x?x16xbf16>, tensor<2x?x16xbf16>) -> tensor<2x16x16xbf16>
  %1 = chitu.matmul %a, %a transpose_lhs : (tensor<2x?x16xbf16>, tensor<2x?x16xbf16>) -> tensor<2x16x16xbf16>
  // CHECK: chitu.reduce_sum %{{.*}} axes = [1] : tensor<?x64xf32> -> tensor<?xf32>
  %2 = chitu.reduce_sum %x axes = [1] : tensor<?x64xf32> -> tensor<?xf32>
  // CHECK: chitu.reduce_max %{{.*}} axes = [0, 1] keep_dims : tensor<?x64xf32> -> tensor<1x1xf32>
  %3 = chitu.reduce_max %x axes = [0, 1] keep_dims : tensor<?x64xf32> -> tensor<1x1xf32>
  // CHECK: chitu.reduce_mean
  %4 = chitu.reduce_mean %x axes = [0] : tensor<?x64xf32> -> tensor<64xf32>
  // CHECK: chitu.softmax %{{.*}} axis = 1 : tensor<?x64xf32>
  %5 = chitu.softmax %x axis = 1 : tensor<?x64xf32>
  // CHECK: chitu.rms_norm %{{.*}}, %{{.*}} eps = 9.99999974E-6 : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %6 = chitu.rms_norm %x, %g eps = 1.0e-05 : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // CHECK: chitu.layer_norm %{{.*}}, %{{.*}}, %{{.*}} eps
  %7 = chitu.layer_norm %x, %g, %g eps = 1.0e-05 : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // CHECK: chitu.layer_norm %{{.*}}, %{{.*}} eps
  %8 = chitu.layer_norm %x, %g eps = 1.0e-05 : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// CHECK-LABEL: func.func @movement
func.func @movement(%x: tensor<?x64xf32>, %t: tensor<100x8xf32>, %ids: tensor<?xi64>) {
  %n = chitu.dim %x, 0 : tensor<?x64xf32>
  // CHECK: chitu.reshape %{{.*}} [%{{.*}}, 4, 16] : tensor<?x64xf32> -> tensor<?x4x16xf32>
  %0 = chitu.reshape %x [%n, 4, 16] : tensor<?x64xf32> -> tensor<?x4x16xf32>
  // CHECK: chitu.transpose %{{.*}} perm = [1, 0, 2] : tensor<?x4x16xf32> -> tensor<4x?x16xf32>
  %1 = chitu.transpose %0 perm = [1, 0, 2] : tensor<?x4x16xf32> -> tensor<4x?x16xf32>
  // CHECK: chitu.slice %{{.*}} [0, 32] [%{{.*}}, 16] [1, 2] : tensor<?x64xf32> -> tensor<?x16xf32>
  %2 = chitu.slice %x [0, 32] [%n, 16] [1, 2] : tensor<?x64xf32> -> tensor<?x16xf32>
  // CHECK: chitu.concat %{{.*}}, %{{.*}} axis = 1 : (tensor<?x64xf32>, tensor<?x16xf32>) -> tensor<?x80xf32>
  %3 = chitu.concat %x, %2 axis = 1 : (tensor<?x64xf32>, tensor<?x16xf32>) -> tensor<?x80xf32>
  // CHECK: chitu.gather %{{.*}}, %{{.*}} axis = 0 : (tensor<100x8xf32>, tensor<?xi64>) -> tensor<?x8xf32>
  %4 = chitu.gather %t, %ids axis = 0 : (tensor<100x8xf32>, tensor<?xi64>) -> tensor<?x8xf32>
  return
}

// -----

// CHECK-LABEL: func.func @kernel
func.func @kernel(%a: tensor<?x64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  // CHECK: chitu.kernel "k0_add_exp"(%{{.*}}, %{{.*}}) : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32> {
  // CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<64xf32>):
  // CHECK-NEXT: %[[S:.*]] = chitu.add %[[X]], %[[W]]
  // CHECK-NEXT: %[[E:.*]] = chitu.exp %[[S]]
  // CHECK-NEXT: chitu.yield %[[E]] : tensor<?x64xf32>
  %0 = chitu.kernel "k0_add_exp" (%a, %b) : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32> {
  ^bb0(%x: tensor<?x64xf32>, %w: tensor<64xf32>):
    %s = chitu.add %x, %w : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    %e = chitu.exp %s : tensor<?x64xf32>
    chitu.yield %e : tensor<?x64xf32>
  }
  return %0 : tensor<?x64xf32>
}

// -----

// CHECK-LABEL: func.func @llm
func.func @llm(%x: tensor<?x4x16xbf16>, %pos: tensor<?xi32>, %f: tensor<8xf32>,
               %kc: tensor<?x16x2x16xbf16> {chitu.state}, %slots: tensor<?xi32>,
               %tables: tensor<?x?xi32>, %seq: tensor<?xi32>, %logits: tensor<?x100xf32>,
               %t: tensor<?xf32>, %k: tensor<?xi32>, %hist: tensor<?x?xi32>, %seeds: tensor<?xi64>) {
  // CHECK: chitu.rope %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x4x16xbf16>, tensor<?xi32>, tensor<8xf32>) -> tensor<?x4x16xbf16>
  %q = chitu.rope %x, %pos, %f : (tensor<?x4x16xbf16>, tensor<?xi32>, tensor<8xf32>) -> tensor<?x4x16xbf16>
  %n = chitu.dim %x, 0 : tensor<?x4x16xbf16>
  %kv = chitu.slice %q [0, 0, 0] [%n, 2, 16] [1, 1, 1] : tensor<?x4x16xbf16> -> tensor<?x2x16xbf16>
  // CHECK: chitu.kv_write %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x16x2x16xbf16>, tensor<?x2x16xbf16>, tensor<?xi32>) -> tensor<?x16x2x16xbf16>
  %kc1 = chitu.kv_write %kc, %kv, %slots : (tensor<?x16x2x16xbf16>, tensor<?x2x16xbf16>, tensor<?xi32>) -> tensor<?x16x2x16xbf16>
  // CHECK: chitu.paged_attention {{.*}} scale = 2.500000e-01 window = 8 :
  %o = chitu.paged_attention %q, %kc1, %kc1, %tables, %seq, %pos scale = 0.25 window = 8
      : (tensor<?x4x16xbf16>, tensor<?x16x2x16xbf16>, tensor<?x16x2x16xbf16>, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x4x16xbf16>
  // CHECK: chitu.paged_attention {{.*}} scale = 2.500000e-01 :
  %o2 = chitu.paged_attention %q, %kc1, %kc1, %tables, %seq, %pos scale = 0.25
      : (tensor<?x4x16xbf16>, tensor<?x16x2x16xbf16>, tensor<?x16x2x16xbf16>, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x4x16xbf16>
  // CHECK: chitu.sampling_probs
  %p = chitu.sampling_probs %logits, %t, %k, %t, %t, %t, %hist
      : (tensor<?x100xf32>, tensor<?xf32>, tensor<?xi32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?x?xi32>) -> tensor<?x100xf32>
  // CHECK: chitu.multinomial %{{.*}}, %{{.*}} : (tensor<?x100xf32>, tensor<?xi64>) -> tensor<?xi32>
  %ids = chitu.multinomial %p, %seeds : (tensor<?x100xf32>, tensor<?xi64>) -> tensor<?xi32>
  return
}

// -----

// CHECK-LABEL: func.func @masks
func.func @masks(%a: tensor<?x8xf32>, %b: tensor<8xf32>, %i: tensor<?x8xi64>)
    -> (tensor<?x8xf32>, tensor<?x8xi1>) {
  // CHECK: chitu.compare "lt", %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xi1>
  %m = chitu.compare "lt", %a, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xi1>
  // CHECK: chitu.min {{.*}} -> tensor<?x8xi1>
  %both = chitu.min %m, %m : (tensor<?x8xi1>, tensor<?x8xi1>) -> tensor<?x8xi1>
  // CHECK: chitu.select %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x8xi1>, tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %s = chitu.select %both, %a, %b : (tensor<?x8xi1>, tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  // CHECK: chitu.abs
  %abs = chitu.abs %s : tensor<?x8xf32>
  // CHECK: chitu.erf
  %erf = chitu.erf %abs : tensor<?x8xf32>
  // CHECK: chitu.pow
  %p = chitu.pow %erf, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  // CHECK: chitu.cumsum %{{.*}} axis = 1 exclusive reverse : tensor<?x8xf32>
  %c = chitu.cumsum %p axis = 1 exclusive reverse : tensor<?x8xf32>
  // CHECK: chitu.gather_elements %{{.*}}, %{{.*}} axis = 1 : (tensor<?x8xf32>, tensor<?x8xi64>) -> tensor<?x8xf32>
  %g = chitu.gather_elements %c, %i axis = 1 : (tensor<?x8xf32>, tensor<?x8xi64>) -> tensor<?x8xf32>
  return %g, %m : tensor<?x8xf32>, tensor<?x8xi1>
}

// -----

// CHECK-LABEL: func.func @sizes
func.func @sizes(%x: tensor<?x1xf32>) -> (tensor<?x64xf32>, tensor<?xi64>, tensor<2xi64>) {
  %n = chitu.dim %x, 0 : tensor<?x1xf32>
  // CHECK: chitu.broadcast_to %{{.*}} [%{{.*}}, 64] : tensor<?x1xf32> -> tensor<?x64xf32>
  %b = chitu.broadcast_to %x [%n, 64] : tensor<?x1xf32> -> tensor<?x64xf32>
  // CHECK: chitu.iota size %{{.*}} start = 0.000000e+00 step = 1.000000e+00 : tensor<?xi64>
  %r = chitu.iota size %n start = 0.0 step = 1.0 : tensor<?xi64>
  // CHECK: chitu.from_sizes [%{{.*}}, 64] : tensor<2xi64>
  %s = chitu.from_sizes [%n, 64] : tensor<2xi64>
  return %b, %r, %s : tensor<?x64xf32>, tensor<?xi64>, tensor<2xi64>
}

// -----

// CHECK-LABEL: func.func @dense_attention
func.func @dense_attention(%q: tensor<?x12x?x64xbf16>, %k: tensor<?x12x?x64xbf16>,
                           %v: tensor<?x12x?x32xbf16>, %mask: tensor<?x1x1x?xbf16>)
    -> (tensor<?x12x?x32xbf16>, tensor<?x12x?x32xbf16>) {
  // CHECK: chitu.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} scale = 1.250000e-01 : (tensor<?x12x?x64xbf16>, tensor<?x12x?x64xbf16>, tensor<?x12x?x32xbf16>, tensor<?x1x1x?xbf16>) -> tensor<?x12x?x32xbf16>
  %o = chitu.attention %q, %k, %v, %mask scale = 0.125
      : (tensor<?x12x?x64xbf16>, tensor<?x12x?x64xbf16>, tensor<?x12x?x32xbf16>, tensor<?x1x1x?xbf16>) -> tensor<?x12x?x32xbf16>
  // CHECK: chitu.attention %{{.*}}, %{{.*}}, %{{.*}} scale = 1.000000e+00 : (tensor<?x12x?x64xbf16>, tensor<?x12x?x64xbf16>, tensor<?x12x?x32xbf16>) -> tensor<?x12x?x32xbf16>
  %o2 = chitu.attention %q, %k, %v scale = 1.0
      : (tensor<?x12x?x64xbf16>, tensor<?x12x?x64xbf16>, tensor<?x12x?x32xbf16>) -> tensor<?x12x?x32xbf16>
  return %o, %o2 : tensor<?x12x?x32xbf16>, tensor<?x12x?x32xbf16>
}

// -----

// int8 weights (chitu-quantize-weights) round-trip.
// CHECK-LABEL: func.func @quantized
func.func @quantized() -> tensor<4x8xbf16> {
  // CHECK: chitu.weight "w" {quantize = "int8_rows"} : tensor<4x8xi8>
  %q = chitu.weight "w" {quantize = "int8_rows"} : tensor<4x8xi8>
  // CHECK: chitu.weight "w" {quantize = "int8_rows"} : tensor<4x1xf32>
  %s = chitu.weight "w" {quantize = "int8_rows"} : tensor<4x1xf32>
  // CHECK: chitu.dequantize %{{.*}}, %{{.*}} : (tensor<4x8xi8>, tensor<4x1xf32>) -> tensor<4x8xbf16>
  %w = chitu.dequantize %q, %s : (tensor<4x8xi8>, tensor<4x1xf32>) -> tensor<4x8xbf16>
  return %w : tensor<4x8xbf16>
}

// -----

// fp8 (e4m3) weights with row scales round-trip.
// CHECK-LABEL: func.func @quantized_fp8
func.func @quantized_fp8() -> tensor<4x8xbf16> {
  // CHECK: chitu.weight "w" {quantize = "fp8_rows"} : tensor<4x8xf8E4M3FN>
  %q = chitu.weight "w" {quantize = "fp8_rows"} : tensor<4x8xf8E4M3FN>
  %s = chitu.weight "w" {quantize = "fp8_rows"} : tensor<4x1xf32>
  // CHECK: chitu.dequantize %{{.*}}, %{{.*}} : (tensor<4x8xf8E4M3FN>, tensor<4x1xf32>) -> tensor<4x8xbf16>
  %w = chitu.dequantize %q, %s : (tensor<4x8xf8E4M3FN>, tensor<4x1xf32>) -> tensor<4x8xbf16>
  return %w : tensor<4x8xbf16>
}

// -----

// int4 groups (asymmetric: with zero points) round-trip.
// CHECK-LABEL: func.func @quantized_int4
func.func @quantized_int4() -> tensor<4x64xbf16> {
  // CHECK: chitu.weight "w" {group_size = 32 : i64, part = "values", quantize = "int4_asym"} : tensor<4x32xi8>
  %q = chitu.weight "w" {quantize = "int4_asym", group_size = 32 : i64, part = "values"} : tensor<4x32xi8>
  %s = chitu.weight "w" {quantize = "int4_asym", group_size = 32 : i64, part = "scales"} : tensor<4x2xf32>
  %z = chitu.weight "w" {quantize = "int4_asym", group_size = 32 : i64, part = "zeros"} : tensor<4x2xf32>
  // CHECK: chitu.dequantize %{{.*}}, %{{.*}}, %{{.*}} {group_size = 32 : i64} : (tensor<4x32xi8>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x64xbf16>
  %w = chitu.dequantize %q, %s, %z {group_size = 32 : i64} : (tensor<4x32xi8>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x64xbf16>
  return %w : tensor<4x64xbf16>
}
