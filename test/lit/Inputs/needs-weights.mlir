// A graph naming a weight, compiled without a weight file by the tool tests.
func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = chitu.weight "w" : tensor<4xf32>
  %0 = chitu.add %x, %w : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
