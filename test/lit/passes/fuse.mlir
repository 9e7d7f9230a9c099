// chitu-fuse: each fusion rule, and each reason a merge is refused.
// RUN: chitu-opt %s --split-input-file --chitu-fuse | FileCheck %s

// Products sharing their left operand become one kernel; the rms_norm they read joins it
// as the prologue (computed in the kernel, never stored).
// CHECK-LABEL: func.func @qkv_norm
// CHECK-SAME: chitu.unfused_kernels = 4
// CHECK: %[[K:.*]]:3 = chitu.kernel "k0_rms_norm_matmul"
// CHECK-NEXT: ^bb0
// CHECK-NEXT: chitu.rms_norm
// CHECK-NEXT: chitu.matmul
// CHECK-NEXT: chitu.matmul
// CHECK-NEXT: chitu.matmul
// CHECK-NEXT: chitu.yield
// CHECK: return %[[K]]#0, %[[K]]#1, %[[K]]#2
func.func @qkv_norm(%x: tensor<?x64xf32>, %w: tensor<64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>, %wv: tensor<32x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %n = chitu.rms_norm %x, %w eps = 1.0e-05 : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %q = chitu.matmul %n, %wq transpose_rhs : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %k = chitu.matmul %n, %wk transpose_rhs : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  %v = chitu.matmul %n, %wv transpose_rhs : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return %q, %k, %v : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Epilogues: a bias, an activation and a cast after one product; a residual add after
// another. Both products read %x, so they share the kernel, each with its own epilogue.
// CHECK-LABEL: func.func @epilogues
// CHECK: %[[K:.*]]:2 = chitu.kernel "k0_matmul_add_gelu_tanh_cast"
// CHECK: chitu.yield %{{.*}}, %{{.*}} : tensor<?x96xbf16>, tensor<?x32xf32>
// CHECK-NOT: chitu.kernel
// CHECK: return %[[K]]#0, %[[K]]#1
func.func @epilogues(%x: tensor<?x32xf32>, %w1: tensor<96x32xf32>, %b: tensor<96xf32>, %w2: tensor<32x32xf32>) -> (tensor<?x96xbf16>, tensor<?x32xf32>) {
  %h = chitu.matmul %x, %w1 transpose_rhs : (tensor<?x32xf32>, tensor<96x32xf32>) -> tensor<?x96xf32>
  %hb = chitu.add %h, %b : (tensor<?x96xf32>, tensor<96xf32>) -> tensor<?x96xf32>
  %a = chitu.gelu_tanh %hb : tensor<?x96xf32>
  %c = chitu.cast %a : tensor<?x96xf32> -> tensor<?x96xbf16>
  %d = chitu.matmul %x, %w2 transpose_rhs : (tensor<?x32xf32>, tensor<32x32xf32>) -> tensor<?x32xf32>
  %r = chitu.add %d, %x : (tensor<?x32xf32>, tensor<?x32xf32>) -> tensor<?x32xf32>
  return %c, %r : tensor<?x96xbf16>, tensor<?x32xf32>
}

// -----

// SwiGLU: gate and up share the normed input; silu(gate) * up combines the two products
// in one epilogue, so neither is stored. The down projection takes the residual add.
// CHECK-LABEL: func.func @swiglu
// CHECK: %[[H:.*]] = chitu.kernel "k0_rms_norm_matmul_silu_mul"
// CHECK: chitu.yield %{{.*}} : tensor<?x88xf32>
// CHECK: chitu.kernel "k1_matmul_add"(%[[H]],
func.func @swiglu(%x: tensor<?x32xf32>, %w: tensor<32xf32>, %wg: tensor<88x32xf32>, %wu: tensor<88x32xf32>, %wd: tensor<32x88xf32>) -> tensor<?x32xf32> {
  %n = chitu.rms_norm %x, %w eps = 1.0e-05 : (tensor<?x32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  %g = chitu.matmul %n, %wg transpose_rhs : (tensor<?x32xf32>, tensor<88x32xf32>) -> tensor<?x88xf32>
  %u = chitu.matmul %n, %wu transpose_rhs : (tensor<?x32xf32>, tensor<88x32xf32>) -> tensor<?x88xf32>
  %s = chitu.silu %g : tensor<?x88xf32>
  %m = chitu.mul %s, %u : (tensor<?x88xf32>, tensor<?x88xf32>) -> tensor<?x88xf32>
  %d = chitu.matmul %m, %wd transpose_rhs : (tensor<?x88xf32>, tensor<32x88xf32>) -> tensor<?x32xf32>
  %r = chitu.add %x, %d : (tensor<?x32xf32>, tensor<?x32xf32>) -> tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}

// -----

// Rotary embedding of q, and of k feeding the KV-cache append, and the append of v: the
// reshapes are read through, and the three independent groups (they share the positions
// and slots) become one elemental kernel.
// CHECK-LABEL: func.func @rope_kv
// CHECK: %[[R:.*]]:3 = chitu.kernel "k0_reshape_rope_kv_write"
// CHECK-COUNT-3: chitu.reshape
// CHECK-COUNT-2: chitu.rope
// CHECK-COUNT-2: chitu.kv_write
// CHECK: chitu.yield
// CHECK-NOT: chitu.kernel
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2
func.func @rope_kv(%q: tensor<?x32xf32>, %k: tensor<?x16xf32>, %v: tensor<?x16xf32>, %pos: tensor<?xi32>, %f: tensor<4xf32>,
                   %kc: tensor<?x4x2x8xf32> {chitu.state}, %vc: tensor<?x4x2x8xf32> {chitu.state}, %slots: tensor<?xi32>)
    -> (tensor<?x4x8xf32>, tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>) {
  %t = chitu.dim %pos, 0 : tensor<?xi32>
  %q3 = chitu.reshape %q [%t, 4, 8] : tensor<?x32xf32> -> tensor<?x4x8xf32>
  %k3 = chitu.reshape %k [%t, 2, 8] : tensor<?x16xf32> -> tensor<?x2x8xf32>
  %v3 = chitu.reshape %v [%t, 2, 8] : tensor<?x16xf32> -> tensor<?x2x8xf32>
  %rq = chitu.rope %q3, %pos, %f : (tensor<?x4x8xf32>, tensor<?xi32>, tensor<4xf32>) -> tensor<?x4x8xf32>
  %rk = chitu.rope %k3, %pos, %f : (tensor<?x2x8xf32>, tensor<?xi32>, tensor<4xf32>) -> tensor<?x2x8xf32>
  %kc2 = chitu.kv_write %kc, %rk, %slots : (tensor<?x4x2x8xf32>, tensor<?x2x8xf32>, tensor<?xi32>) -> tensor<?x4x2x8xf32>
  %vc2 = chitu.kv_write %vc, %v3, %slots : (tensor<?x4x2x8xf32>, tensor<?x2x8xf32>, tensor<?xi32>) -> tensor<?x4x2x8xf32>
  return %rq, %kc2, %vc2 : tensor<?x4x8xf32>, tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>
}

// -----

// A residual sum read by a norm and returned: computed in the norm's kernel and yielded
// as a side result; the pointwise op after the norm is its epilogue.
// CHECK-LABEL: func.func @norm_side_result
// CHECK: %[[K:.*]]:2 = chitu.kernel "k0_add_rms_norm_mul"
// CHECK: return %[[K]]#0, %[[K]]#1
func.func @norm_side_result(%a: tensor<?x40xf32>, %b: tensor<?x40xf32>, %w: tensor<40xf32>) -> (tensor<?x40xf32>, tensor<?x40xf32>) {
  %s = chitu.add %a, %b : (tensor<?x40xf32>, tensor<?x40xf32>) -> tensor<?x40xf32>
  %y = chitu.rms_norm %s, %w eps = 1.0e-05 : (tensor<?x40xf32>, tensor<40xf32>) -> tensor<?x40xf32>
  %z = chitu.mul %y, %y : (tensor<?x40xf32>, tensor<?x40xf32>) -> tensor<?x40xf32>
  return %s, %z : tensor<?x40xf32>, tensor<?x40xf32>
}

// -----

// Softmax reads its scaling and mask through, and its consumer joins it.
// CHECK-LABEL: func.func @softmax
// CHECK: chitu.kernel "k0_mul_add_softmax_exp"
// CHECK-NOT: chitu.kernel
func.func @softmax(%x: tensor<?x30xf32>, %c: tensor<1xf32>, %m: tensor<?x30xf32>) -> tensor<?x30xf32> {
  %s = chitu.mul %x, %c : (tensor<?x30xf32>, tensor<1xf32>) -> tensor<?x30xf32>
  %t = chitu.add %s, %m : (tensor<?x30xf32>, tensor<?x30xf32>) -> tensor<?x30xf32>
  %p = chitu.softmax %t axis = 1 : tensor<?x30xf32>
  %e = chitu.exp %p : tensor<?x30xf32>
  return %e : tensor<?x30xf32>
}

// -----

// Refused: products reading different left operands stay apart.
// CHECK-LABEL: func.func @different_operands
// CHECK-NOT: chitu.kernel
// CHECK: return
func.func @different_operands(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %w: tensor<16x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %a = chitu.matmul %x, %w transpose_rhs : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  %b = chitu.matmul %y, %w transpose_rhs : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  return %a, %b : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Refused: an epilogue op that reads the product at other elements (a transpose), or
// broadcasts it, is a kernel of its own; so is a prologue value that is also returned
// (a product's kernel computes its operand per tile and cannot store it).
// The transpose and the broadcast add read the product at other elements: they form an
// elemental kernel of their own (merged, as they read the same product).
// CHECK-LABEL: func.func @not_pointwise_after_product
// CHECK: %[[N:.*]] = chitu.rms_norm
// CHECK: %[[P:.*]] = chitu.matmul %[[N]]
// CHECK: chitu.kernel "k0_transpose_reshape_add"(%[[P]],
// CHECK: return %{{.*}}, %{{.*}}, %[[N]]
func.func @not_pointwise_after_product(%x: tensor<8x16xf32>, %w: tensor<8x16xf32>, %v: tensor<8x8x4xf32>, %g: tensor<16xf32>) -> (tensor<8x8xf32>, tensor<8x8x4xf32>, tensor<8x16xf32>) {
  %n = chitu.rms_norm %x, %g eps = 1.0e-05 : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  %p = chitu.matmul %n, %w transpose_rhs : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x8xf32>
  %t = chitu.transpose %p perm = [1, 0] : tensor<8x8xf32> -> tensor<8x8xf32>
  %p3 = chitu.reshape %p [8, 8, 1] : tensor<8x8xf32> -> tensor<8x8x1xf32>
  %b = chitu.add %p3, %v : (tensor<8x8x1xf32>, tensor<8x8x4xf32>) -> tensor<8x8x4xf32>
  return %t, %b, %n : tensor<8x8xf32>, tensor<8x8x4xf32>, tensor<8x16xf32>
}

// -----

// Refused: joining the add to the product would create a cycle with the attention kernel
// between them (the add reads the attention, which reads the product).
// CHECK-LABEL: func.func @cycle
// CHECK: %[[P2:.*]] = chitu.kernel "k0_reshape_matmul"
// CHECK: %[[P:.*]] = chitu.reshape %[[P2]]
// CHECK: %[[A:.*]] = chitu.paged_attention %[[P]]
// CHECK: chitu.add %[[P]], %[[A]]
func.func @cycle(%x: tensor<?x4x8xf32>, %w: tensor<32x32xf32>, %kc: tensor<6x4x2x8xf32>, %t: tensor<3x3xi32>, %s: tensor<?xi32>, %pos: tensor<?xi32>) -> tensor<?x4x8xf32> {
  %n = chitu.dim %x, 0 : tensor<?x4x8xf32>
  %x2 = chitu.reshape %x [%n, 32] : tensor<?x4x8xf32> -> tensor<?x32xf32>
  %p2 = chitu.matmul %x2, %w transpose_rhs : (tensor<?x32xf32>, tensor<32x32xf32>) -> tensor<?x32xf32>
  %p = chitu.reshape %p2 [%n, 4, 8] : tensor<?x32xf32> -> tensor<?x4x8xf32>
  %a = chitu.paged_attention %p, %kc, %kc, %t, %s, %pos scale = 0.25 : (tensor<?x4x8xf32>, tensor<6x4x2x8xf32>, tensor<6x4x2x8xf32>, tensor<3x3xi32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x4x8xf32>
  %r = chitu.add %p, %a : (tensor<?x4x8xf32>, tensor<?x4x8xf32>) -> tensor<?x4x8xf32>
  return %r : tensor<?x4x8xf32>
}

// -----

// Refused: an epilogue may combine two products, not three.
// CHECK-LABEL: func.func @three_products
// CHECK: chitu.kernel "k0_matmul_add"
// CHECK: chitu.yield
// CHECK: chitu.add
// CHECK: return
func.func @three_products(%x: tensor<?x16xf32>, %w1: tensor<16x16xf32>, %w2: tensor<16x16xf32>, %w3: tensor<16x16xf32>) -> tensor<?x16xf32> {
  %a = chitu.matmul %x, %w1 transpose_rhs : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  %b = chitu.matmul %x, %w2 transpose_rhs : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  %c = chitu.matmul %x, %w3 transpose_rhs : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  %ab = chitu.add %a, %b : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %abc = chitu.add %ab, %c : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %abc : tensor<?x16xf32>
}

// -----

// Dequantized weights (int8 rows times row scales) are computed in their product's kernel:
// gate and up fuse with the norm and both dequantizes, and the down projection with its
// own; no bf16 copy of a weight is ever stored.
// CHECK-LABEL: func.func @dequantized_weights
// CHECK: %[[H:.*]] = chitu.kernel "k0_rms_norm_dequantize_matmul_silu"
// CHECK-COUNT-2: chitu.dequantize
// CHECK: chitu.yield %{{.*}} : tensor<?x8xbf16>
// CHECK: chitu.kernel "k1_dequantize_matmul_add"({{.*}}%[[H]],
// CHECK-NOT: chitu.kernel
func.func @dequantized_weights(%x: tensor<?x4xbf16>, %w: tensor<4xbf16>, %gq: tensor<8x4xi8>, %gs: tensor<8x1xf32>, %uq: tensor<8x4xi8>, %us: tensor<8x1xf32>, %dq: tensor<4x8xi8>, %ds: tensor<4x1xf32>) -> tensor<?x4xbf16> {
  %n = chitu.rms_norm %x, %w eps = 1.0e-05 : (tensor<?x4xbf16>, tensor<4xbf16>) -> tensor<?x4xbf16>
  %wg = chitu.dequantize %gq, %gs : (tensor<8x4xi8>, tensor<8x1xf32>) -> tensor<8x4xbf16>
  %g = chitu.matmul %n, %wg transpose_rhs : (tensor<?x4xbf16>, tensor<8x4xbf16>) -> tensor<?x8xbf16>
  %wu = chitu.dequantize %uq, %us : (tensor<8x4xi8>, tensor<8x1xf32>) -> tensor<8x4xbf16>
  %u = chitu.matmul %n, %wu transpose_rhs : (tensor<?x4xbf16>, tensor<8x4xbf16>) -> tensor<?x8xbf16>
  %s = chitu.silu %g : tensor<?x8xbf16>
  %m = chitu.mul %s, %u : (tensor<?x8xbf16>, tensor<?x8xbf16>) -> tensor<?x8xbf16>
  %wd = chitu.dequantize %dq, %ds : (tensor<4x8xi8>, tensor<4x1xf32>) -> tensor<4x8xbf16>
  %d = chitu.matmul %m, %wd transpose_rhs : (tensor<?x8xbf16>, tensor<4x8xbf16>) -> tensor<?x4xbf16>
  %r = chitu.add %x, %d : (tensor<?x4xbf16>, tensor<?x4xbf16>) -> tensor<?x4xbf16>
  return %r : tensor<?x4xbf16>
}

// -----

// Refused: weights read untransposed ([K, N]: the row scales would scale K), and one
// dequantized value read by two products (it would be computed twice). Each dequantize
// stays a kernel of its own.
// CHECK-LABEL: func.func @dequantize_refused
// CHECK-NEXT: chitu.dequantize
// CHECK-NEXT: chitu.dequantize
// CHECK-NEXT: chitu.kernel "k0_matmul"
// CHECK-NOT: chitu.dequantize
// CHECK: chitu.yield
// CHECK-NEXT: }
// CHECK-NEXT: chitu.matmul
func.func @dequantize_refused(%x: tensor<?x4xbf16>, %y: tensor<?x8xbf16>, %aq: tensor<4x8xi8>, %as: tensor<4x1xf32>, %bq: tensor<8x4xi8>, %bs: tensor<8x1xf32>) -> (tensor<?x8xbf16>, tensor<?x8xbf16>, tensor<?x4xbf16>) {
  %wa = chitu.dequantize %aq, %as : (tensor<4x8xi8>, tensor<4x1xf32>) -> tensor<4x8xbf16>
  %a = chitu.matmul %x, %wa : (tensor<?x4xbf16>, tensor<4x8xbf16>) -> tensor<?x8xbf16>
  %wb = chitu.dequantize %bq, %bs : (tensor<8x4xi8>, tensor<8x1xf32>) -> tensor<8x4xbf16>
  %b = chitu.matmul %x, %wb transpose_rhs : (tensor<?x4xbf16>, tensor<8x4xbf16>) -> tensor<?x8xbf16>
  %c = chitu.matmul %y, %wb : (tensor<?x8xbf16>, tensor<8x4xbf16>) -> tensor<?x4xbf16>
  return %a, %b, %c : tensor<?x8xbf16>, tensor<?x8xbf16>, tensor<?x4xbf16>
}
