// Several entry functions in one artifact; outputs that are inputs or constants.
// RUN: chitu-compile %s -o %t.cbin --quiet
// RUN: chitu-run %t.cbin --input x=%inputs/x_3x64.npy | FileCheck %s --check-prefix=FIRST
// RUN: chitu-run %t.cbin --entry second --input x=%inputs/x_3x64.npy | FileCheck %s --check-prefix=SECOND
// RUN: chitu-inspect %t.cbin | FileCheck %s --check-prefix=INSPECT

// FIRST: ran 'first' on cpu
// FIRST-NEXT: output0: f32[3, 64] = [-0.12573, 0.132105, -0.640423,

// SECOND: ran 'second' on cpu
// SECOND-NEXT: output0: f32[3, 64] = [0.12573, -0.132105, 0.640423,
// SECOND-NEXT: same: f32[3, 64] = [0.12573, -0.132105, 0.640423,
// SECOND-NEXT: output2: f32[2] = [1, 2]

// INSPECT: entry 'first': 1 steps
// INSPECT: entry 'second': 0 steps

func.func @first(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = chitu.neg %x : tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

func.func @second(%x: tensor<?x64xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32> {chitu.name = "same"}, tensor<2xf32>) {
  %c = chitu.constant dense<[1.0, 2.0]> : tensor<2xf32>
  return %x, %x, %c : tensor<?x64xf32>, tensor<?x64xf32>, tensor<2xf32>
}
