// The model of quantize-weights.mlir's precision rule tests: three layers and a head.
func.func @layers(%x: tensor<?x8xbf16>) -> tensor<?x6xbf16> {
  %w0 = chitu.weight "layers.0.q.weight" : tensor<8x8xbf16>
  %w1 = chitu.weight "layers.1.q.weight" : tensor<8x8xbf16>
  %w2 = chitu.weight "layers.2.q.weight" : tensor<8x8xbf16>
  %h = chitu.weight "lm_head.weight" : tensor<6x8xbf16>
  %a = chitu.matmul %x, %w0 transpose_rhs : (tensor<?x8xbf16>, tensor<8x8xbf16>) -> tensor<?x8xbf16>
  %b = chitu.matmul %a, %w1 transpose_rhs : (tensor<?x8xbf16>, tensor<8x8xbf16>) -> tensor<?x8xbf16>
  %c = chitu.matmul %b, %w2 transpose_rhs : (tensor<?x8xbf16>, tensor<8x8xbf16>) -> tensor<?x8xbf16>
  %d = chitu.matmul %c, %h transpose_rhs : (tensor<?x8xbf16>, tensor<6x8xbf16>) -> tensor<?x6xbf16>
  return %d : tensor<?x6xbf16>
}
