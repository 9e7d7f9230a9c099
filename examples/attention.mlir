// A small self-attention block in f32: 4 heads of 16 over a model width of 64, an
// additive mask (0 to attend, -inf to block; a causal mask gives a decoder), output
// projection, residual add and LayerNorm. x is [tokens, 64]; mask is [tokens, tokens].
// Weights: attention.safetensors next to this file.
func.func @main(%x: tensor<?x64xf32>, %mask: tensor<?x?xf32>)
    -> (tensor<?x64xf32> {chitu.name = "y"}) {
  %wq = chitu.weight "q.weight" : tensor<64x64xf32>
  %wk = chitu.weight "k.weight" : tensor<64x64xf32>
  %wv = chitu.weight "v.weight" : tensor<64x64xf32>
  %wo = chitu.weight "o.weight" : tensor<64x64xf32>
  %gamma = chitu.weight "norm.weight" : tensor<64xf32>
  %beta = chitu.weight "norm.bias" : tensor<64xf32>
  %scale = chitu.constant dense<0.25> : tensor<1xf32>   // 1 / sqrt(head_dim)
  %n = chitu.dim %x, 0 : tensor<?x64xf32>

  %q = chitu.matmul %x, %wq transpose_rhs : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %k = chitu.matmul %x, %wk transpose_rhs : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %v = chitu.matmul %x, %wv transpose_rhs : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %q3 = chitu.reshape %q [%n, 4, 16] : tensor<?x64xf32> -> tensor<?x4x16xf32>
  %k3 = chitu.reshape %k [%n, 4, 16] : tensor<?x64xf32> -> tensor<?x4x16xf32>
  %v3 = chitu.reshape %v [%n, 4, 16] : tensor<?x64xf32> -> tensor<?x4x16xf32>
  %qh = chitu.transpose %q3 perm = [1, 0, 2] : tensor<?x4x16xf32> -> tensor<4x?x16xf32>
  %kh = chitu.transpose %k3 perm = [1, 0, 2] : tensor<?x4x16xf32> -> tensor<4x?x16xf32>
  %vh = chitu.transpose %v3 perm = [1, 0, 2] : tensor<?x4x16xf32> -> tensor<4x?x16xf32>

  %s = chitu.matmul %qh, %kh transpose_rhs
      : (tensor<4x?x16xf32>, tensor<4x?x16xf32>) -> tensor<4x?x?xf32>
  %ss = chitu.mul %s, %scale : (tensor<4x?x?xf32>, tensor<1xf32>) -> tensor<4x?x?xf32>
  %sm = chitu.add %ss, %mask : (tensor<4x?x?xf32>, tensor<?x?xf32>) -> tensor<4x?x?xf32>
  %p = chitu.softmax %sm axis = 2 : tensor<4x?x?xf32>
  %ctx = chitu.matmul %p, %vh : (tensor<4x?x?xf32>, tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
  %ct = chitu.transpose %ctx perm = [1, 0, 2] : tensor<4x?x16xf32> -> tensor<?x4x16xf32>
  %c2 = chitu.reshape %ct [%n, 64] : tensor<?x4x16xf32> -> tensor<?x64xf32>

  %o = chitu.matmul %c2, %wo transpose_rhs : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %r = chitu.add %o, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %y = chitu.layer_norm %r, %gamma, %beta eps = 1.0e-05
      : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
