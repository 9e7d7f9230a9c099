// An MLP block in f32: up-projection with bias, GELU (tanh), down-projection, residual
// add, RMSNorm. Any number of tokens: x is [tokens, 64].
//
//   chitu-compile examples/mlp.mlir -o mlp.cbin
//   chitu-run mlp.cbin --input x=x.npy --output y=y.npy
//
// Weights are read from mlp.safetensors next to this file (random values made by
// make_weights.py).
func.func @main(%x: tensor<?x64xf32>) -> (tensor<?x64xf32> {chitu.name = "y"}) {
  %w_up = chitu.weight "up.weight" : tensor<256x64xf32>
  %b_up = chitu.weight "up.bias" : tensor<256xf32>
  %w_down = chitu.weight "down.weight" : tensor<64x256xf32>
  %gamma = chitu.weight "norm.weight" : tensor<64xf32>
  %h = chitu.matmul %x, %w_up transpose_rhs
      : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %hb = chitu.add %h, %b_up : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %a = chitu.gelu_tanh %hb : tensor<?x256xf32>
  %d = chitu.matmul %a, %w_down transpose_rhs
      : (tensor<?x256xf32>, tensor<64x256xf32>) -> tensor<?x64xf32>
  %r = chitu.add %d, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %y = chitu.rms_norm %r, %gamma eps = 1.0e-05
      : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
