// Folders of the chitu ops, as run by canonicalize in the compile pipeline.
// RUN: chitu-opt %s --split-input-file --canonicalize | FileCheck %s

// CHECK-LABEL: func.func @folds
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
func.func @folds(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, index) {
  // Same-type casts, identity transposes and reshapes to the same static shape vanish.
  %0 = chitu.cast %x : tensor<4x8xf32> -> tensor<4x8xf32>
  %1 = chitu.transpose %0 perm = [0, 1] : tensor<4x8xf32> -> tensor<4x8xf32>
  %2 = chitu.reshape %1 [4, 8] : tensor<4x8xf32> -> tensor<4x8xf32>
  // Static dims fold to constants.
  %3 = chitu.dim %2, 1 : tensor<4x8xf32>
  // CHECK: %[[C8:.*]] = arith.constant 8 : index
  // CHECK: return %[[X]], %[[C8]]
  return %2, %3 : tensor<4x8xf32>, index
}

// -----

// CHECK-LABEL: func.func @keeps
func.func @keeps(%x: tensor<?x8xf32>) -> (tensor<?x8xbf16>, tensor<8x?xf32>) {
  // CHECK: chitu.cast
  %0 = chitu.cast %x : tensor<?x8xf32> -> tensor<?x8xbf16>
  // CHECK: chitu.transpose
  %1 = chitu.transpose %x perm = [1, 0] : tensor<?x8xf32> -> tensor<8x?xf32>
  return %0, %1 : tensor<?x8xbf16>, tensor<8x?xf32>
}
