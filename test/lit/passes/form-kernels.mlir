// chitu-form-kernels: each top-level compute op gets a kernel region of its own.
// RUN: chitu-opt %s --split-input-file --chitu-form-kernels --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @wrap
func.func @wrap(%x: tensor<?x64xf32>) -> tensor<?x4x4xf32> {
  // Weights, constants and sizes stay outside kernels.
  // CHECK: %[[W:.*]] = chitu.weight "w"
  // CHECK: %[[N:.*]] = chitu.dim
  %w = chitu.weight "w" : tensor<32x64xf32>
  %n = chitu.dim %x, 0 : tensor<?x64xf32>
  // CHECK: %[[MM:.*]] = chitu.kernel "k0_matmul"(%{{.*}}, %[[W]])
  // CHECK-NEXT: ^bb0(%[[A:.*]]: tensor<?x64xf32>, %[[B:.*]]: tensor<32x64xf32>):
  // CHECK-NEXT: chitu.matmul %[[A]], %[[B]] transpose_rhs
  // CHECK-NEXT: chitu.yield
  %0 = chitu.matmul %x, %w transpose_rhs : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  // The same value used twice is one kernel input.
  // CHECK: chitu.kernel "k1_mul"(%[[MM]]) : (tensor<?x32xf32>) -> tensor<?x32xf32>
  // CHECK-NEXT: ^bb0(%[[V:.*]]: tensor<?x32xf32>):
  // CHECK-NEXT: chitu.mul %[[V]], %[[V]]
  %1 = chitu.mul %0, %0 : (tensor<?x32xf32>, tensor<?x32xf32>) -> tensor<?x32xf32>
  // Sizes are kernel inputs too.
  // CHECK: chitu.kernel "k2_slice"(%{{.*}}, %[[N]]) : (tensor<?x32xf32>, index) -> tensor<?x16xf32>
  %2 = chitu.slice %1 [0, 0] [%n, 16] [1, 2] : tensor<?x32xf32> -> tensor<?x16xf32>
  // A reshape of an arena tensor is a view: no kernel.
  // CHECK: chitu.reshape %{{.*}} [%[[N]], 4, 4]
  // CHECK-NOT: chitu.kernel
  // CHECK: return
  %3 = chitu.reshape %2 [%n, 4, 4] : tensor<?x16xf32> -> tensor<?x4x4xf32>
  return %3 : tensor<?x4x4xf32>
}

// -----

// Existing kernels are kept and numbering continues after them.
// CHECK-LABEL: func.func @keep_existing
func.func @keep_existing(%a: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: chitu.kernel "mine"
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: chitu.exp
  // CHECK-NEXT: chitu.neg
  %0 = chitu.kernel "mine" (%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    %e = chitu.exp %x : tensor<4xf32>
    %n = chitu.neg %e : tensor<4xf32>
    chitu.yield %n : tensor<4xf32>
  }
  // CHECK: chitu.kernel "k1_sqrt"
  %1 = chitu.sqrt %0 : tensor<4xf32>
  return %1 : tensor<4xf32>
}
