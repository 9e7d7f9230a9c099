// The MLP block of mlp.mlir with bf16 weights and activations (kernels compute in f32
// and round each stored tensor to bf16). Weights: mlp_bf16.safetensors.
func.func @main(%x: tensor<?x64xbf16>) -> (tensor<?x64xbf16> {chitu.name = "y"}) {
  %w_up = chitu.weight "up.weight" : tensor<256x64xbf16>
  %b_up = chitu.weight "up.bias" : tensor<256xbf16>
  %w_down = chitu.weight "down.weight" : tensor<64x256xbf16>
  %gamma = chitu.weight "norm.weight" : tensor<64xbf16>
  %h = chitu.matmul %x, %w_up transpose_rhs
      : (tensor<?x64xbf16>, tensor<256x64xbf16>) -> tensor<?x256xbf16>
  %hb = chitu.add %h, %b_up : (tensor<?x256xbf16>, tensor<256xbf16>) -> tensor<?x256xbf16>
  %a = chitu.gelu_tanh %hb : tensor<?x256xbf16>
  %d = chitu.matmul %a, %w_down transpose_rhs
      : (tensor<?x256xbf16>, tensor<64x256xbf16>) -> tensor<?x64xbf16>
  %r = chitu.add %d, %x : (tensor<?x64xbf16>, tensor<?x64xbf16>) -> tensor<?x64xbf16>
  %y = chitu.rms_norm %r, %gamma eps = 1.0e-05
      : (tensor<?x64xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}
