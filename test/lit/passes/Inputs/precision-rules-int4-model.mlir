// The model of quantize-weights.mlir's int4 rule tests: three layers of 16 x 128.
func.func @layers(%x: tensor<?x128xbf16>) -> tensor<?x16xbf16> {
  %w0 = chitu.weight "layers.0.q.weight" : tensor<16x128xbf16>
  %w1 = chitu.weight "layers.1.q.weight" : tensor<16x128xbf16>
  %w2 = chitu.weight "layers.2.q.weight" : tensor<16x128xbf16>
  %a = chitu.matmul %x, %w0 transpose_rhs : (tensor<?x128xbf16>, tensor<16x128xbf16>) -> tensor<?x16xbf16>
  %b = chitu.matmul %x, %w1 transpose_rhs : (tensor<?x128xbf16>, tensor<16x128xbf16>) -> tensor<?x16xbf16>
  %c = chitu.matmul %x, %w2 transpose_rhs : (tensor<?x128xbf16>, tensor<16x128xbf16>) -> tensor<?x16xbf16>
  %s = chitu.add %a, %b : (tensor<?x16xbf16>, tensor<?x16xbf16>) -> tensor<?x16xbf16>
  %t = chitu.add %s, %c : (tensor<?x16xbf16>, tensor<?x16xbf16>) -> tensor<?x16xbf16>
  return %t : tensor<?x16xbf16>
}
