// RUN: chitu-opt %s --split-input-file --chitu-resolve-dims | FileCheck %s

// A size read off an activation is read off the argument it equals.
// CHECK-LABEL: func.func @through_pointwise
func.func @through_pointwise(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // CHECK: %[[N:.*]] = chitu.dim %arg0, 0 : tensor<?x64xf32>
  // CHECK: chitu.exp
  // CHECK-NOT: chitu.dim
  // CHECK: chitu.reshape %{{.*}} [%[[N]], 64]
  %y = chitu.exp %x : tensor<?x64xf32>
  %n = chitu.dim %y, 0 : tensor<?x64xf32>
  %r = chitu.reshape %y [%n, 64] : tensor<?x64xf32> -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// Sizes computed from several inputs become index arithmetic on their dimensions.
// CHECK-LABEL: func.func @through_concat
func.func @through_concat(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>) -> tensor<?xf32> {
  // CHECK-DAG: %[[A:.*]] = chitu.dim %arg0, 0
  // CHECK-DAG: %[[B:.*]] = chitu.dim %arg1, 0
  // CHECK: %[[S:.*]] = arith.addi %[[A]], %[[B]] : index
  // CHECK: %[[T:.*]] = arith.muli %[[S]], %{{.*}} : index
  // CHECK: chitu.reshape %{{.*}} [%[[T]]]
  %c = chitu.concat %a, %b axis = 0 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %n = chitu.dim %c, 0 : tensor<?x8xf32>
  %c8 = arith.constant 8 : index
  %m = arith.muli %n, %c8 : index
  %r = chitu.reshape %c [%m] : tensor<?x8xf32> -> tensor<?xf32>
  return %r : tensor<?xf32>
}

// -----

// Dims of arguments are left alone.
// CHECK-LABEL: func.func @argument
func.func @argument(%x: tensor<?x4xf32>) -> tensor<?xf32> {
  // CHECK: %[[N:.*]] = chitu.dim %arg0, 0
  // CHECK-NEXT: arith.constant 4
  %n = chitu.dim %x, 0 : tensor<?x4xf32>
  %c4 = arith.constant 4 : index
  %m = arith.muli %n, %c4 : index
  %r = chitu.reshape %x [%m] : tensor<?x4xf32> -> tensor<?xf32>
  return %r : tensor<?xf32>
}
