func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = chitu.frobnicate %x : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
