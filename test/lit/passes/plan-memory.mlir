// chitu-plan-memory: arena slots by liveness.
// RUN: chitu-opt %s --split-input-file --chitu-plan-memory --verify-diagnostics | FileCheck %s

// A chain of pointwise kernels writes each result over its dying input: one slot.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: chitu.arg_slots = array<i64: 0>, chitu.num_slots = 1 : i64
func.func @chain(%x: tensor<8xf32>) -> tensor<8xf32> {
  // CHECK: chitu.kernel "a"{{.*}}chitu.in_place = array<i64: 0, 0>, chitu.slots = array<i64: 0>
  %0 = chitu.kernel "a" (%x) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>):
    %r = chitu.exp %v : tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  // CHECK: chitu.kernel "b"{{.*}}chitu.slots = array<i64: 0>
  %1 = chitu.kernel "b" (%0) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>):
    %r = chitu.exp %v : tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  return %1 : tensor<8xf32>
}

// -----

// A kernel that reads its input at other elements (a transpose) never writes over it; the
// input's slot is reused once it is dead.
// CHECK-LABEL: func.func @not_pointwise
// CHECK-SAME: chitu.num_slots = 2 : i64
func.func @not_pointwise(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  // CHECK: chitu.kernel "t"
  // CHECK-NOT: in_place
  // CHECK-SAME: chitu.slots = array<i64: 1>
  %0 = chitu.kernel "t" (%x) : (tensor<8x8xf32>) -> tensor<8x8xf32> {
  ^bb0(%v: tensor<8x8xf32>):
    %r = chitu.transpose %v perm = [1, 0] : tensor<8x8xf32> -> tensor<8x8xf32>
    chitu.yield %r : tensor<8x8xf32>
  }
  // CHECK: chitu.kernel "u"{{.*}}chitu.slots = array<i64: 0>
  %1 = chitu.kernel "u" (%0) : (tensor<8x8xf32>) -> tensor<8x8xf32> {
  ^bb0(%v: tensor<8x8xf32>):
    %r = chitu.transpose %v perm = [1, 0] : tensor<8x8xf32> -> tensor<8x8xf32>
    chitu.yield %r : tensor<8x8xf32>
  }
  // CHECK: chitu.kernel "w"{{.*}}chitu.slots = array<i64: 1>
  %2 = chitu.kernel "w" (%1) : (tensor<8x8xf32>) -> tensor<8x8xf32> {
  ^bb0(%v: tensor<8x8xf32>):
    %r = chitu.transpose %v perm = [1, 0] : tensor<8x8xf32> -> tensor<8x8xf32>
    chitu.yield %r : tensor<8x8xf32>
  }
  return %2 : tensor<8x8xf32>
}

// -----

// Returned values and arguments used later keep their slots (no in-place write over them).
// CHECK-LABEL: func.func @live_until_end
// CHECK-SAME: chitu.arg_slots = array<i64: 0>, chitu.num_slots = 3 : i64
func.func @live_until_end(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  // CHECK: chitu.kernel "a"{{.*}}chitu.slots = array<i64: 1>
  %0 = chitu.kernel "a" (%x) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>):
    %r = chitu.exp %v : tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  // %0 is returned, %x is not: "b" writes over %x.
  // CHECK: chitu.kernel "b"{{.*}}chitu.in_place = array<i64: 0, 1>, chitu.slots = array<i64: 0>
  %1 = chitu.kernel "b" (%0, %x) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>, %w: tensor<8xf32>):
    %r = chitu.add %v, %w : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  // CHECK: chitu.kernel "c"{{.*}}chitu.slots = array<i64: 2>
  %2 = chitu.kernel "c" (%1) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%v: tensor<8xf32>):
    %r = chitu.exp %v : tensor<8xf32>
    chitu.yield %r : tensor<8xf32>
  }
  return %0, %1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// A view (reshape of an arena tensor) has no kernel: it takes its input's slot, and keeps
// the input alive as long as it is used.
// CHECK-LABEL: func.func @view
// CHECK-SAME: chitu.num_slots = 2 : i64
func.func @view(%x: tensor<4x8xf32>) -> tensor<32xf32> {
  // CHECK: chitu.kernel "a"{{.*}}chitu.slots = array<i64: 1>
  %0 = chitu.kernel "a" (%x) : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%v: tensor<4x8xf32>):
    %r = chitu.transpose %v perm = [0, 1] : tensor<4x8xf32> -> tensor<4x8xf32>
    chitu.yield %r : tensor<4x8xf32>
  }
  // CHECK: chitu.reshape {{.*}} {chitu.slots = array<i64: 1>}
  %1 = chitu.reshape %0 [32] : tensor<4x8xf32> -> tensor<32xf32>
  // The view is read by "b" (at other elements): its slot (1) is busy until then.
  // CHECK: chitu.kernel "b"{{.*}}chitu.slots = array<i64: 0>
  %2 = chitu.kernel "b" (%1) : (tensor<32xf32>) -> tensor<32xf32> {
  ^bb0(%v: tensor<32xf32>):
    %r = chitu.slice %v [0] [32] [1] : tensor<32xf32> -> tensor<32xf32>
    chitu.yield %r : tensor<32xf32>
  }
  // "c" reads the view at the element it writes: it may write over it.
  // CHECK: chitu.kernel "c"{{.*}}chitu.in_place = array<i64: 0, 1>, chitu.slots = array<i64: 1>
  %3 = chitu.kernel "c" (%2, %1) : (tensor<32xf32>, tensor<32xf32>) -> tensor<32xf32> {
  ^bb0(%v: tensor<32xf32>, %w: tensor<32xf32>):
    %r = chitu.slice %v [0] [32] [1] : tensor<32xf32> -> tensor<32xf32>
    %s = chitu.add %r, %w : (tensor<32xf32>, tensor<32xf32>) -> tensor<32xf32>
    chitu.yield %s : tensor<32xf32>
  }
  return %3 : tensor<32xf32>
}

// -----

// A product's epilogue may write over the residual it adds (read at the element it
// writes), never over its left operand (read by every column tile).
// CHECK-LABEL: func.func @residual
func.func @residual(%x: tensor<4x8xf32>, %h: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  // CHECK: chitu.kernel "mm"{{.*}}chitu.in_place = array<i64: 0, 2>, chitu.slots = array<i64: 1>
  %0 = chitu.kernel "mm" (%x, %w, %h) : (tensor<4x8xf32>, tensor<8x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>, %b: tensor<8x8xf32>, %c: tensor<4x8xf32>):
    %p = chitu.matmul %a, %b transpose_rhs : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %s = chitu.add %p, %c : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    chitu.yield %s : tensor<4x8xf32>
  }
  return %0 : tensor<4x8xf32>
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
