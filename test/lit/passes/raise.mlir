// RUN: chitu-opt %s --split-input-file --chitu-raise | FileCheck %s

// CHECK-LABEL: func.func @gelu_erf
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>)
// CHECK-NEXT: %[[G:.*]] = chitu.gelu %[[X]] : tensor<?x64xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_erf(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %sqrt2 = chitu.constant dense<1.41421354> : tensor<f32>
  %one = chitu.constant dense<1.0> : tensor<f32>
  %half = chitu.constant dense<0.5> : tensor<f32>
  %d = chitu.div %x, %sqrt2 : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  %e = chitu.erf %d : tensor<?x64xf32>
  %a = chitu.add %e, %one : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  %m = chitu.mul %x, %a : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %g = chitu.mul %m, %half : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  return %g : tensor<?x64xf32>
}

// -----

// The half first, the scale as a multiplication by 1/sqrt(2), the one on the left.
// CHECK-LABEL: func.func @gelu_erf_reordered
// CHECK: chitu.gelu %arg0 : tensor<8xf16>
func.func @gelu_erf_reordered(%x: tensor<8xf16>) -> tensor<8xf16> {
  %r = chitu.constant dense<0.70710678> : tensor<f16>
  %one = chitu.constant dense<1.0> : tensor<f16>
  %half = chitu.constant dense<0.5> : tensor<f16>
  %h = chitu.mul %half, %x : (tensor<f16>, tensor<8xf16>) -> tensor<8xf16>
  %d = chitu.mul %x, %r : (tensor<8xf16>, tensor<f16>) -> tensor<8xf16>
  %e = chitu.erf %d : tensor<8xf16>
  %a = chitu.add %one, %e : (tensor<f16>, tensor<8xf16>) -> tensor<8xf16>
  %g = chitu.mul %h, %a : (tensor<8xf16>, tensor<8xf16>) -> tensor<8xf16>
  return %g : tensor<8xf16>
}

// -----

// GPT-2's gelu_new.
// CHECK-LABEL: func.func @gelu_tanh
// CHECK-NEXT: %[[G:.*]] = chitu.gelu_tanh %arg0 : tensor<?x64xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_tanh(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %half = chitu.constant dense<0.5> : tensor<f32>
  %k = chitu.constant dense<0.0447149985> : tensor<f32>
  %c = chitu.constant dense<0.797884583> : tensor<f32>
  %one = chitu.constant dense<1.0> : tensor<f32>
  %h = chitu.mul %x, %half : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  %x2 = chitu.mul %x, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %x3 = chitu.mul %x2, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %kx3 = chitu.mul %x3, %k : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  %p = chitu.add %x, %kx3 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %s = chitu.mul %p, %c : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  %t = chitu.tanh %s : tensor<?x64xf32>
  %a = chitu.add %t, %one : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  %g = chitu.mul %h, %a : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %g : tensor<?x64xf32>
}

// -----

// Wrong constants are left alone.
// CHECK-LABEL: func.func @not_gelu
// CHECK-NOT: chitu.gelu
// CHECK: chitu.erf
func.func @not_gelu(%x: tensor<8xf32>) -> tensor<8xf32> {
  %two = chitu.constant dense<2.0> : tensor<f32>
  %one = chitu.constant dense<1.0> : tensor<f32>
  %half = chitu.constant dense<0.5> : tensor<f32>
  %d = chitu.div %x, %two : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %e = chitu.erf %d : tensor<8xf32>
  %a = chitu.add %e, %one : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  %m = chitu.mul %x, %a : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %g = chitu.mul %m, %half : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  return %g : tensor<8xf32>
}

// -----

// CHECK-LABEL: func.func @rms_norm
// CHECK-NEXT: %[[N:.*]] = chitu.rms_norm %arg0, %arg1 eps = 9.99999997E-7 : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: return %[[N]]
func.func @rms_norm(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {
  %eps = chitu.constant dense<1.0e-6> : tensor<f32>
  %sq = chitu.mul %x, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %m = chitu.reduce_mean %sq axes = [1] keep_dims : tensor<?x64xf32> -> tensor<?x1xf32>
  %a = chitu.add %m, %eps : (tensor<?x1xf32>, tensor<f32>) -> tensor<?x1xf32>
  %s = chitu.sqrt %a : tensor<?x1xf32>
  %n = chitu.div %x, %s : (tensor<?x64xf32>, tensor<?x1xf32>) -> tensor<?x64xf32>
  %y = chitu.mul %w, %n : (tensor<64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// A mean over another axis is no rms norm.
// CHECK-LABEL: func.func @not_rms_norm
// CHECK-NOT: chitu.rms_norm
func.func @not_rms_norm(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  %eps = chitu.constant dense<1.0e-6> : tensor<f32>
  %sq = chitu.mul %x, %x : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x64xf32>
  %m = chitu.reduce_mean %sq axes = [0] keep_dims : tensor<4x64xf32> -> tensor<1x64xf32>
  %a = chitu.add %m, %eps : (tensor<1x64xf32>, tensor<f32>) -> tensor<1x64xf32>
  %r = chitu.rsqrt %a : tensor<1x64xf32>
  %n = chitu.mul %x, %r : (tensor<4x64xf32>, tensor<1x64xf32>) -> tensor<4x64xf32>
  %y = chitu.mul %n, %w : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}

// -----

// CHECK-LABEL: func.func @layer_norm
// CHECK-NEXT: %[[N:.*]] = chitu.layer_norm %arg0, %arg1, %arg2 eps = 9.99999974E-6 : (tensor<?x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
// CHECK-NEXT: return %[[N]]
func.func @layer_norm(%x: tensor<?x32xf32>, %w: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<?x32xf32> {
  %eps = chitu.constant dense<1.0e-5> : tensor<f32>
  %mu = chitu.reduce_mean %x axes = [1] keep_dims : tensor<?x32xf32> -> tensor<?x1xf32>
  %d = chitu.sub %x, %mu : (tensor<?x32xf32>, tensor<?x1xf32>) -> tensor<?x32xf32>
  %sq = chitu.mul %d, %d : (tensor<?x32xf32>, tensor<?x32xf32>) -> tensor<?x32xf32>
  %v = chitu.reduce_mean %sq axes = [1] keep_dims : tensor<?x32xf32> -> tensor<?x1xf32>
  %a = chitu.add %v, %eps : (tensor<?x1xf32>, tensor<f32>) -> tensor<?x1xf32>
  %s = chitu.sqrt %a : tensor<?x1xf32>
  %n = chitu.div %d, %s : (tensor<?x32xf32>, tensor<?x1xf32>) -> tensor<?x32xf32>
  %m = chitu.mul %n, %w : (tensor<?x32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  %y = chitu.add %m, %b : (tensor<?x32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// The ONNX export of BERT/GPT-2 attention: k^T made by one transpose of [b, s, h, d], the
// scale on the scores, a padding mask added after it. The k transpose becomes the swap
// back ([0, 2, 1, 3]).
// CHECK-LABEL: func.func @attention_onnx
// CHECK-SAME: (%[[Q:.*]]: tensor<?x4x?x16xf32>, %[[K:.*]]: tensor<?x?x4x16xf32>, %[[V:.*]]: tensor<?x4x?x16xf32>, %[[M:.*]]: tensor<?x1x1x?xf32>)
// CHECK-NEXT: %[[KT:.*]] = chitu.transpose %[[K]] perm = [0, 2, 1, 3] : tensor<?x?x4x16xf32> -> tensor<?x4x?x16xf32>
// CHECK-NEXT: %[[O:.*]] = chitu.attention %[[Q]], %[[KT]], %[[V]], %[[M]] scale = 2.500000e-01 : (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x1x1x?xf32>) -> tensor<?x4x?x16xf32>
// CHECK-NEXT: return %[[O]]
func.func @attention_onnx(%q: tensor<?x4x?x16xf32>, %k: tensor<?x?x4x16xf32>, %v: tensor<?x4x?x16xf32>,
                          %mask: tensor<?x1x1x?xf32>) -> tensor<?x4x?x16xf32> {
  %c = chitu.constant dense<0.25> : tensor<f32>
  %kt = chitu.transpose %k perm = [0, 2, 3, 1] : tensor<?x?x4x16xf32> -> tensor<?x4x16x?xf32>
  %s = chitu.matmul %q, %kt : (tensor<?x4x?x16xf32>, tensor<?x4x16x?xf32>) -> tensor<?x4x?x?xf32>
  %ss = chitu.mul %s, %c : (tensor<?x4x?x?xf32>, tensor<f32>) -> tensor<?x4x?x?xf32>
  %sm = chitu.add %ss, %mask : (tensor<?x4x?x?xf32>, tensor<?x1x1x?xf32>) -> tensor<?x4x?x?xf32>
  %p = chitu.softmax %sm axis = 3 : tensor<?x4x?x?xf32>
  %o = chitu.matmul %p, %v : (tensor<?x4x?x?xf32>, tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// -----

// scaled_dot_product_attention's export: q and k^T each scaled by sqrt(scale) (one as a
// division), k^T a plain transpose of k (which then needs none), the mask added first, no
// batch dimension beyond the heads.
// CHECK-LABEL: func.func @attention_sdpa
// CHECK-SAME: (%[[Q:.*]]: tensor<8x?x32xf16>, %[[K:.*]]: tensor<8x?x32xf16>, %[[V:.*]]: tensor<8x?x24xf16>, %[[M:.*]]: tensor<?x?xf16>)
// CHECK-NEXT: %[[O:.*]] = chitu.attention %[[Q]], %[[K]], %[[V]], %[[M]] scale = 1.250000e-01
// CHECK-NEXT: return %[[O]]
func.func @attention_sdpa(%q: tensor<8x?x32xf16>, %k: tensor<8x?x32xf16>, %v: tensor<8x?x24xf16>,
                          %mask: tensor<?x?xf16>) -> tensor<8x?x24xf16> {
  %a = chitu.constant dense<0.5> : tensor<f16>
  %b = chitu.constant dense<4.0> : tensor<f16>
  %qs = chitu.mul %a, %q : (tensor<f16>, tensor<8x?x32xf16>) -> tensor<8x?x32xf16>
  %kt = chitu.transpose %k perm = [0, 2, 1] : tensor<8x?x32xf16> -> tensor<8x32x?xf16>
  %kts = chitu.div %kt, %b : (tensor<8x32x?xf16>, tensor<f16>) -> tensor<8x32x?xf16>
  %s = chitu.matmul %qs, %kts : (tensor<8x?x32xf16>, tensor<8x32x?xf16>) -> tensor<8x?x?xf16>
  %sm = chitu.add %mask, %s : (tensor<?x?xf16>, tensor<8x?x?xf16>) -> tensor<8x?x?xf16>
  %p = chitu.softmax %sm axis = 2 : tensor<8x?x?xf16>
  %o = chitu.matmul %p, %v : (tensor<8x?x?xf16>, tensor<8x?x24xf16>) -> tensor<8x?x24xf16>
  return %o : tensor<8x?x24xf16>
}

// -----

// k already in [len, dim] layout (transpose_rhs), no mask, the scale divided: no transpose.
// CHECK-LABEL: func.func @attention_transposed_rhs
// CHECK-NEXT: %[[O:.*]] = chitu.attention %arg0, %arg1, %arg2 scale = 1.250000e-01
// CHECK-NEXT: return %[[O]]
func.func @attention_transposed_rhs(%q: tensor<2x?x64xbf16>, %k: tensor<2x?x64xbf16>, %v: tensor<2x?x64xbf16>)
    -> tensor<2x?x64xbf16> {
  %c = chitu.constant dense<8.0> : tensor<bf16>
  %s = chitu.matmul %q, %k transpose_rhs : (tensor<2x?x64xbf16>, tensor<2x?x64xbf16>) -> tensor<2x?x?xbf16>
  %ss = chitu.div %s, %c : (tensor<2x?x?xbf16>, tensor<bf16>) -> tensor<2x?x?xbf16>
  %p = chitu.softmax %ss axis = 2 : tensor<2x?x?xbf16>
  %o = chitu.matmul %p, %v : (tensor<2x?x?xbf16>, tensor<2x?x64xbf16>) -> tensor<2x?x64xbf16>
  return %o : tensor<2x?x64xbf16>
}

// -----

// The probabilities are a result too (output_attentions): nothing is raised. Nor is a
// softmax over another axis, or keys broadcast over the heads (the dialect op takes equal
// leading dimensions).
// CHECK-LABEL: func.func @not_attention
// CHECK-NOT: chitu.attention
func.func @not_attention(%q: tensor<4x?x16xf32>, %k: tensor<4x?x16xf32>, %v: tensor<4x?x16xf32>,
                         %k1: tensor<1x?x16xf32>)
    -> (tensor<4x?x16xf32>, tensor<4x?x?xf32>, tensor<4x?x16xf32>, tensor<4x?x16xf32>) {
  %s = chitu.matmul %q, %k transpose_rhs : (tensor<4x?x16xf32>, tensor<4x?x16xf32>) -> tensor<4x?x?xf32>
  %p = chitu.softmax %s axis = 2 : tensor<4x?x?xf32>
  %o = chitu.matmul %p, %v : (tensor<4x?x?xf32>, tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
  %s2 = chitu.matmul %q, %k transpose_rhs : (tensor<4x?x16xf32>, tensor<4x?x16xf32>) -> tensor<4x?x?xf32>
  %p2 = chitu.softmax %s2 axis = 1 : tensor<4x?x?xf32>
  %o2 = chitu.matmul %p2, %v : (tensor<4x?x?xf32>, tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
  %s3 = chitu.matmul %q, %k1 transpose_rhs : (tensor<4x?x16xf32>, tensor<1x?x16xf32>) -> tensor<4x?x?xf32>
  %p3 = chitu.softmax %s3 axis = 2 : tensor<4x?x?xf32>
  %o3 = chitu.matmul %p3, %v : (tensor<4x?x?xf32>, tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
  return %o, %p, %o2, %o3 : tensor<4x?x16xf32>, tensor<4x?x?xf32>, tensor<4x?x16xf32>, tensor<4x?x16xf32>
}
