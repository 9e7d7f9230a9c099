// chitu-check-shapes: symbols, their unification, and run-time checks.
// RUN: chitu-opt %s --split-input-file --chitu-check-shapes --verify-diagnostics | FileCheck %s

// Two dynamic dims that an elementwise op joins become one symbol.
// CHECK-LABEL: func.func @unify
// CHECK-SAME: {chitu.dims = ["s0", "64"]}
// CHECK-SAME: {chitu.dims = ["s0", "64"]}
// CHECK-NOT: chitu.checks
func.func @unify(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = chitu.add %a, %b : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// A dynamic dim that meets a static size becomes that size; others keep their symbols.
// CHECK-LABEL: func.func @bind_static
// CHECK-SAME: {chitu.dims = ["s0", "8"]}
// CHECK-SAME: {chitu.dims = ["8"]}
func.func @bind_static(%a: tensor<?x?xf32>, %b: tensor<?xf32>) -> tensor<?x8xf32> {
  %w = chitu.weight "w" : tensor<8xf32>
  %0 = chitu.add %a, %w : (tensor<?x?xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %1 = chitu.add %0, %b : (tensor<?x8xf32>, tensor<?xf32>) -> tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// A dim that must equal a sum of others is derived from them.
// CHECK-LABEL: func.func @derived
// CHECK-SAME: {chitu.dims = ["s0", "4"]}
// CHECK-SAME: {chitu.dims = ["s1", "4"]}
// CHECK-SAME: {chitu.dims = ["s0 + s1", "4"]}
func.func @derived(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>, %c: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = chitu.concat %a, %b axis = 0 : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %1 = chitu.mul %0, %c : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// -----

// What cannot be decided at compile time becomes a run-time check.
// CHECK-LABEL: func.func @runtime_check
// CHECK-SAME: chitu.checks = ["12*s0 == 16*s1: chitu.reshape at
// CHECK-SAME: the new shape must have as many elements as the input
func.func @runtime_check(%x: tensor<?x12xf32>, %y: tensor<?xf32>) -> tensor<?x16xf32> {
  %n = chitu.dim %y, 0 : tensor<?xf32>
  %0 = chitu.reshape %x [%n, 16] : tensor<?x12xf32> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// Slice windows with dynamic parts are checked when the inputs are bound.
// CHECK-LABEL: func.func @slice_bounds
// CHECK-SAME: chitu.checks = ["2 + s1 <= s0: chitu.slice
func.func @slice_bounds(%x: tensor<?xf32>, %y: tensor<?xf32>) -> tensor<?xf32> {
  %n = chitu.dim %y, 0 : tensor<?xf32>
  %0 = chitu.slice %x [2] [%n] [1] : tensor<?xf32> -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

// Sizes that contradict each other at compile time are errors at the op.
func.func @conflict(%a: tensor<?xf32>) -> tensor<4xf32> {
  %w4 = chitu.weight "w4" : tensor<4xf32>
  %w5 = chitu.weight "w5" : tensor<5xf32>
  %0 = chitu.add %a, %w4 : (tensor<?xf32>, tensor<4xf32>) -> tensor<4xf32>
  // expected-error @+1 {{broadcast dimension 0 must match (4 vs 5)}}
  %1 = chitu.add %a, %w5 : (tensor<?xf32>, tensor<5xf32>) -> tensor<5xf32>
  return %0 : tensor<4xf32>
}

// -----

// A window that the analysis proves outside its input is an error (here the input's
// size becomes known only by relating it to a weight).
func.func @slice_outside(%x: tensor<?xf32>) -> tensor<4xf32> {
  %w = chitu.weight "w" : tensor<3xf32>
  %0 = chitu.add %x, %w : (tensor<?xf32>, tensor<3xf32>) -> tensor<?xf32>
  // expected-error @+1 {{the window must lie inside dimension 0 of the input (6 > 3)}}
  %1 = chitu.slice %0 [2] [4] [1] : tensor<?xf32> -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// Only index arithmetic is allowed on sizes.
func.func @float_arith(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{is only supported on index values (sizes)}}
  %c = arith.constant 1.0 : f32
  %d = arith.addf %c, %c : f32
  return %x : tensor<4xf32>
}
