// chitu-slice: kernels cut into slices by decoder layer (default) or under a byte budget.
// RUN: chitu-opt %s --split-input-file --chitu-form-kernels --chitu-slice | FileCheck %s
// RUN: chitu-opt %s --split-input-file --chitu-form-kernels --chitu-slice=budget=9000 | FileCheck --check-prefix=BUDGET %s
// RUN: not chitu-opt %s --split-input-file --chitu-form-kernels --chitu-slice=budget=4000 -o /dev/null 2>&1 | FileCheck --check-prefix=SMALL %s

// Two "layers" of two products (4 KiB of f32 weights each), a head outside the layers.
// By layer: the kernels before the layers, each layer, the kernels after.
// The records (on the function): weights counted once per slice (layer 1 reads its weight
// twice), activations of the largest kernel with the dynamic dimension at 1.
// CHECK-LABEL: func.func @layers
// CHECK-SAME: chitu.slices = [{activation_bytes = 512 : i64, kernels = 1 : i64, weight_bytes = 0 : i64},
// CHECK-SAME: {activation_bytes = 320 : i64, kernels = 2 : i64, weight_bytes = 8192 : i64},
// CHECK-SAME: {activation_bytes = 320 : i64, kernels = 2 : i64, weight_bytes = 4096 : i64},
// CHECK-SAME: {activation_bytes = 260 : i64, kernels = 1 : i64, weight_bytes = 256 : i64}]
// CHECK: chitu.kernel "k0_relu"{{.*}}chitu.slice = 0
// CHECK: chitu.kernel "k1_matmul"{{.*}}chitu.layer = 0 : i64, chitu.slice = 1
// CHECK: chitu.kernel "k2_matmul"{{.*}}chitu.layer = 0 : i64, chitu.slice = 1
// CHECK: chitu.kernel "k3_matmul"{{.*}}chitu.layer = 1 : i64, chitu.slice = 2
// CHECK: chitu.kernel "k4_matmul"{{.*}}chitu.layer = 1 : i64, chitu.slice = 2
// CHECK: chitu.kernel "k5_matmul"{{.*}}chitu.slice = 3

// With a 9000-byte budget the kernels join while weights + largest activations fit,
// across layers: the relu and layer 0 (8192 + 512), then layer 1 and the head
// (4096 + 256 + 320).
// BUDGET-LABEL: func.func @layers
// BUDGET-SAME: chitu.slices = [{activation_bytes = 512 : i64, kernels = 3 : i64, weight_bytes = 8192 : i64},
// BUDGET-SAME: {activation_bytes = 320 : i64, kernels = 3 : i64, weight_bytes = 4352 : i64}]
// BUDGET: chitu.kernel "k0_relu"{{.*}}chitu.slice = 0
// BUDGET: chitu.kernel "k1_matmul"{{.*}}chitu.slice = 0
// BUDGET: chitu.kernel "k2_matmul"{{.*}}chitu.slice = 0
// BUDGET: chitu.kernel "k3_matmul"{{.*}}chitu.slice = 1
// BUDGET: chitu.kernel "k4_matmul"{{.*}}chitu.slice = 1
// BUDGET: chitu.kernel "k5_matmul"{{.*}}chitu.slice = 1

// A product whose weights alone exceed the budget is an error naming its kernel.
// SMALL: error: chitu-slice: kernel 'k1_matmul' needs 4096 bytes of weights and 320 of activations, more than the slice budget of 4000 bytes
func.func @layers(%x: tensor<?x64xf32>) -> tensor<?x1xf32> {
  %w0 = chitu.weight "layers.0.a" : tensor<16x64xf32>
  %w1 = chitu.weight "layers.0.b" : tensor<64x16xf32>
  %w2 = chitu.weight "layers.1.a" : tensor<64x16xf32>
  %wh = chitu.weight "head" : tensor<1x64xf32>
  %r = chitu.relu %x : tensor<?x64xf32>
  %a = chitu.matmul %r, %w0 transpose_rhs {chitu.layer = 0 : i64} : (tensor<?x64xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
  %b = chitu.matmul %a, %w1 transpose_rhs {chitu.layer = 0 : i64} : (tensor<?x16xf32>, tensor<64x16xf32>) -> tensor<?x64xf32>
  %c = chitu.matmul %b, %w2 {chitu.layer = 1 : i64} : (tensor<?x64xf32>, tensor<64x16xf32>) -> tensor<?x16xf32>
  %d = chitu.matmul %c, %w2 transpose_rhs {chitu.layer = 1 : i64} : (tensor<?x16xf32>, tensor<64x16xf32>) -> tensor<?x64xf32>
  %h = chitu.matmul %d, %wh transpose_rhs : (tensor<?x64xf32>, tensor<1x64xf32>) -> tensor<?x1xf32>
  return %h : tensor<?x1xf32>
}

// -----

// Without decoder layers the default is one slice.
// CHECK-LABEL: func.func @no_layers
// CHECK-SAME: chitu.slices = [{activation_bytes = 512 : i64, kernels = 2 : i64, weight_bytes = 256 : i64}]
func.func @no_layers(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {
  %c = chitu.weight "scale" : tensor<64xf32>
  %a = chitu.mul %x, %c : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %b = chitu.exp %a : tensor<?x64xf32>
  return %b : tensor<?x64xf32>
}
