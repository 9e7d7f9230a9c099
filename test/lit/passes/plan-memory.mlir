// chitu-plan-memory: arena slots by liveness.
// RUN: chitu-opt %s --split-input-file --chitu-plan-memory --verify-diagnostics | FileCheck %s

// A chain reuses slots as soon as tensors die; a kernel never writes over its inputs.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: chitu.arg_slots = array<i64: 0>, chitu.num_slots = 2 : i64
func.func @chain(%x: tensor<8xf32>) -> tensor<8xf32> {
  // CHECK: chitu.kernel "a"{{.*}}chitu.slots = array<i64: 1>
  %0 = chitu.kernel "a" (%x) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>):
    %r = chitu.exp %v : tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  // %x is dead after "a": its slot is reused.
  // CHECK: chitu.kernel "b"{{.*}}chitu.slots = array<i64: 0>
  %1 = chitu.kernel "b" (%0) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>):
    %r = chitu.exp %v : tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  // CHECK: chitu.kernel "c"{{.*}}chitu.slots = array<i64: 1>
  %2 = chitu.kernel "c" (%1) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>):
    %r = chitu.exp %v : tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  return %2 : tensor<8xf32>
}

// -----

// Returned values and arguments used later keep their slots.
// CHECK-LABEL: func.func @live_until_end
// CHECK-SAME: chitu.arg_slots = array<i64: 0>, chitu.num_slots = 3 : i64
func.func @live_until_end(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  // CHECK: chitu.kernel "a"{{.*}}chitu.slots = array<i64: 1>
  %0 = chitu.kernel "a" (%x) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>):
    %r = chitu.exp %v : tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  // CHECK: chitu.kernel "b"{{.*}}chitu.slots = array<i64: 2>
  %1 = chitu.kernel "b" (%0, %x) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>, %w: tensor<8xf32>):
    %r = chitu.add %v, %w : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  return %0, %1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// Memory is planned only for kernels.
func.func @not_formed(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{is not in a chitu.kernel: run chitu-form-kernels first}}
  %0 = chitu.exp %x : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

// A KV cache is a state: no arena slot; the kernel that writes it in place has its result
// tied to the cache input (-2 - input index).
// CHECK-LABEL: func.func @state
// CHECK-SAME: chitu.arg_slots = array<i64: -1, 0, 1>
func.func @state(%c: tensor<4x16x2x8xf32> {chitu.state}, %v: tensor<3x2x8xf32>, %s: tensor<3xi32>) -> tensor<4x16x2x8xf32> {
  // CHECK: chitu.kernel "w"{{.*}}chitu.slots = array<i64: -2>
  %0 = chitu.kernel "w" (%c, %v, %s) : (tensor<4x16x2x8xf32>, tensor<3x2x8xf32>, tensor<3xi32>) -> tensor<4x16x2x8xf32> {
  ^bb0(%cc: tensor<4x16x2x8xf32>, %vv: tensor<3x2x8xf32>, %ss: tensor<3xi32>):
    %r = chitu.kv_write %cc, %vv, %ss : (tensor<4x16x2x8xf32>, tensor<3x2x8xf32>, tensor<3xi32>) -> tensor<4x16x2x8xf32>
    chitu.yield %r : tensor<4x16x2x8xf32>
  }
  return %0 : tensor<4x16x2x8xf32>
}

// -----

func.func @not_state(%c: tensor<4x16x2x8xf32>, %v: tensor<3x2x8xf32>, %s: tensor<3xi32>) -> tensor<4x16x2x8xf32> {
  // expected-error @+1 {{updates a tensor in place that is not a state}}
  %0 = chitu.kernel "w" (%c, %v, %s) : (tensor<4x16x2x8xf32>, tensor<3x2x8xf32>, tensor<3xi32>) -> tensor<4x16x2x8xf32> {
  ^bb0(%cc: tensor<4x16x2x8xf32>, %vv: tensor<3x2x8xf32>, %ss: tensor<3xi32>):
    %r = chitu.kv_write %cc, %vv, %ss : (tensor<4x16x2x8xf32>, tensor<3x2x8xf32>, tensor<3xi32>) -> tensor<4x16x2x8xf32>
    chitu.yield %r : tensor<4x16x2x8xf32>
  }
  return %0 : tensor<4x16x2x8xf32>
}
