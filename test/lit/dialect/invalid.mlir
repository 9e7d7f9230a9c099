// Every verifier error of the chitu dialect.
// RUN: chitu-opt %s --split-input-file --verify-diagnostics

func.func @weight_dynamic() {
  // expected-error @+1 {{weight 'w' must have a static shape}}
  %w = chitu.weight "w" : tensor<?x4xf32>
  return
}

// -----

func.func @weight_unnamed() {
  // expected-error @+1 {{needs a non-empty name}}
  %w = chitu.weight "" : tensor<4xf32>
  return
}

// -----

func.func @constant_too_large() {
  // expected-error @+1 {{has 5000 elements; constants hold at most 4096}}
  %c = chitu.constant dense<1.0> : tensor<5000xf32>
  return
}

// -----

func.func @dim_out_of_range(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{dimension 2 is out of range for rank 2}}
  %d = chitu.dim %x, 2 : tensor<?x4xf32>
  return
}

// -----

func.func @no_broadcast(%a: tensor<3x4xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{operand shapes [3, 4] and [5] do not broadcast}}
  %0 = chitu.add %a, %b : (tensor<3x4xf32>, tensor<5xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @binary_result(%a: tensor<3x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{result shape [3, 5] does not match the expected shape [3, 4]}}
  %0 = chitu.mul %a, %b : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x5xf32>
  return
}

// -----

func.func @binary_types(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = chitu.sub %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

func.func @float_only(%i: tensor<4xi32>) {
  // expected-error @+1 {{must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %0 = chitu.exp %i : tensor<4xi32>
  return
}

// -----

func.func @cast_shape(%x: tensor<4xf32>) {
  // expected-error @+1 {{result shape [5] does not match the expected shape [4]}}
  %0 = chitu.cast %x : tensor<4xf32> -> tensor<5xbf16>
  return
}

// -----

func.func @matmul_rank(%a: tensor<4xf32>, %b: tensor<4x4xf32>) {
  // expected-error @+1 {{operands need rank >= 2}}
  %0 = chitu.matmul %a, %b : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @matmul_k(%a: tensor<4x8xf32>, %b: tensor<7x4xf32>) {
  // expected-error @+1 {{contraction sizes differ}}
  %0 = chitu.matmul %a, %b : (tensor<4x8xf32>, tensor<7x4xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x4xf32>) {
  // expected-error @+1 {{batch dimensions [2] and [3] do not broadcast}}
  %0 = chitu.matmul %a, %b : (tensor<2x4x8xf32>, tensor<3x8x4xf32>) -> tensor<2x4x4xf32>
  return
}

// -----

func.func @matmul_result(%a: tensor<4x8xf32>, %b: tensor<8x6xf32>) {
  // expected-error @+1 {{result shape [4, 8] does not match the expected shape [4, 6]}}
  %0 = chitu.matmul %a, %b : (tensor<4x8xf32>, tensor<8x6xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @matmul_int(%a: tensor<4x4xi32>) {
  // expected-error @+1 {{must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %0 = chitu.matmul %a, %a : (tensor<4x4xi32>, tensor<4x4xi32>) -> tensor<4x4xi32>
  return
}

// -----

func.func @reduce_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = chitu.reduce_sum %x axes = [2] : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @reduce_twice(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 1 is listed twice}}
  %0 = chitu.reduce_max %x axes = [1, 1] : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @reduce_none(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{needs at least one axis}}
  %0 = chitu.reduce_sum %x axes = [] : tensor<4x8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @reduce_result(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result shape [8] does not match the expected shape [4]}}
  %0 = chitu.reduce_sum %x axes = [1] : tensor<4x8xf32> -> tensor<8xf32>
  return
}

// -----

func.func @reduce_mean_int(%x: tensor<4x8xi32>) {
  // expected-error @+1 {{must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %0 = chitu.reduce_mean %x axes = [1] : tensor<4x8xi32> -> tensor<4xi32>
  return
}

// -----

func.func @softmax_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = chitu.softmax %x axis = 2 : tensor<4x8xf32>
  return
}

// -----

func.func @rms_norm_weight(%x: tensor<4x8xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{weight must have shape [8] (the last dimension of the input), got [4]}}
  %0 = chitu.rms_norm %x, %w eps = 1.0e-5 : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @layer_norm_bias(%x: tensor<4x8xf32>, %w: tensor<8xf32>, %b: tensor<8x1xf32>) {
  // expected-error @+1 {{bias must have shape [8] (the last dimension of the input), got [8, 1]}}
  %0 = chitu.layer_norm %x, %w, %b eps = 1.0e-5 : (tensor<4x8xf32>, tensor<8xf32>, tensor<8x1xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @reshape_count(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{cannot reshape [4, 8] (32 elements) to [5, 6] (30 elements)}}
  %0 = chitu.reshape %x [5, 6] : tensor<4x8xf32> -> tensor<5x6xf32>
  return
}

// -----

func.func @reshape_entries(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{shape entry 1 is 4 but the result type has [8, 2, 2]}}
  %0 = chitu.reshape %x [8, 4, 2] : tensor<4x8xf32> -> tensor<8x2x2xf32>
  return
}

// -----

func.func @reshape_dynamic_entry(%x: tensor<?x8xf32>, %n: index) {
  // expected-error @+1 {{shape entry 0 is dynamic but the result dimension is static}}
  %0 = chitu.reshape %x [%n, 8] : tensor<?x8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @reshape_rank(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{shape has 2 entries for a result of rank 3}}
  %0 = chitu.reshape %x [4, 8] : tensor<4x8xf32> -> tensor<4x4x2xf32>
  return
}

// -----

func.func @reshape_type(%x: tensor<4xf32>) {
  // expected-error @+1 {{changes the element type (use chitu.cast)}}
  %0 = chitu.reshape %x [4] : tensor<4xf32> -> tensor<4xf16>
  return
}

// -----

func.func @transpose_length(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{permutation has 3 entries for an input of rank 2}}
  %0 = chitu.transpose %x perm = [1, 0, 2] : tensor<4x8xf32> -> tensor<8x4xf32>
  return
}

// -----

func.func @transpose_perm(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{perm is not a permutation of 0..1}}
  %0 = chitu.transpose %x perm = [1, 1] : tensor<4x8xf32> -> tensor<8x8xf32>
  return
}

// -----

func.func @transpose_result(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result shape [4, 8] does not match the expected shape [8, 4]}}
  %0 = chitu.transpose %x perm = [1, 0] : tensor<4x8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @slice_window(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{window [offset 4, size 3, stride 2] exceeds dimension 1 of size 8}}
  %0 = chitu.slice %x [0, 4] [4, 3] [1, 2] : tensor<4x8xf32> -> tensor<4x3xf32>
  return
}

// -----

func.func @slice_stride(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{stride 0 in dimension 1 must be >= 1}}
  %0 = chitu.slice %x [0, 0] [4, 3] [1, 0] : tensor<4x8xf32> -> tensor<4x3xf32>
  return
}

// -----

func.func @slice_negative(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{offset -1 in dimension 0 is negative}}
  %0 = chitu.slice %x [-1, 0] [2, 3] [1, 1] : tensor<4x8xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @slice_sizes(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{sizes entry 1 is 3 but the result type has [2, 4]}}
  %0 = chitu.slice %x [0, 0] [2, 3] [1, 1] : tensor<4x8xf32> -> tensor<2x4xf32>
  return
}

// -----

func.func @slice_rank(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{needs one offset, size and stride per dimension}}
  %0 = chitu.slice %x [0] [2, 3] [1, 1] : tensor<4x8xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @concat_rank(%a: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{inputs have different ranks}}
  %0 = chitu.concat %a, %b axis = 0 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<5x8xf32>
  return
}

// -----

func.func @concat_dims(%a: tensor<4x8xf32>, %b: tensor<4x7xf32>) {
  // expected-error @+1 {{inputs differ in dimension 1 (not the axis)}}
  %0 = chitu.concat %a, %b axis = 0 : (tensor<4x8xf32>, tensor<4x7xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @concat_result(%a: tensor<4x8xf32>, %b: tensor<2x8xf32>) {
  // expected-error @+1 {{result shape [7, 8] does not match the expected shape [6, 8]}}
  %0 = chitu.concat %a, %b axis = 0 : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<7x8xf32>
  return
}

// -----

func.func @concat_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = chitu.concat %a axis = 2 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @gather_axis(%t: tensor<10x8xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = chitu.gather %t, %i axis = 2 : (tensor<10x8xf32>, tensor<3xi64>) -> tensor<3x8xf32>
  return
}

// -----

func.func @gather_result(%t: tensor<10x8xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{result shape [3, 10] does not match the expected shape [3, 8]}}
  %0 = chitu.gather %t, %i axis = 0 : (tensor<10x8xf32>, tensor<3xi64>) -> tensor<3x10xf32>
  return
}

// -----

func.func @gather_float_indices(%t: tensor<10x8xf32>, %i: tensor<3xf32>) {
  // expected-error @+1 {{must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = chitu.gather %t, %i axis = 0 : (tensor<10x8xf32>, tensor<3xf32>) -> tensor<3x8xf32>
  return
}

// -----

func.func @kernel_args(%a: tensor<4xf32>) {
  // expected-error @+1 {{region argument type 'tensor<5xf32>' differs from its input's 'tensor<4xf32>'}}
  %0 = chitu.kernel "k" (%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<5xf32>):
    chitu.yield %a : tensor<4xf32>
  }
  return
}

// -----

func.func @kernel_yield(%a: tensor<4xf32>) {
  // expected-error @+1 {{yields 1 values whose types differ from the results}}
  %0 = chitu.kernel "k" (%a) : (tensor<4xf32>) -> tensor<4xf16> {
  ^bb0(%x: tensor<4xf32>):
    chitu.yield %x : tensor<4xf32>
  }
  return
}

// -----

func.func @kernel_weight() {
  %0 = chitu.kernel "k" () : () -> tensor<4xf32> {
    // expected-error @+1 {{cannot appear inside a chitu.kernel (only compute ops do)}}
    %w = chitu.weight "w" : tensor<4xf32>
    chitu.yield %w : tensor<4xf32>
  }
  return
}

// -----

func.func @kernel_name(%a: tensor<4xf32>) {
  // expected-error @+1 {{needs a name}}
  %0 = chitu.kernel "" (%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    chitu.yield %x : tensor<4xf32>
  }
  return
}

// -----

func.func @kernel_bad_name(%a: tensor<4xf32>) {
  // expected-error @+1 {{name 'my-kernel' must be a C identifier (letters, digits, '_')}}
  %0 = chitu.kernel "my-kernel" (%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    chitu.yield %x : tensor<4xf32>
  }
  return
}

// -----

func.func @yield_outside(%a: tensor<4xf32>) {
  // expected-error @+1 {{expects parent op 'chitu.kernel'}}
  chitu.yield %a : tensor<4xf32>
}

// -----

func.func @rope_odd(%x: tensor<2x4x15xf32>, %p: tensor<2xi32>, %f: tensor<7xf32>) {
  // expected-error @+1 {{head dimension 15 must be even}}
  %0 = chitu.rope %x, %p, %f : (tensor<2x4x15xf32>, tensor<2xi32>, tensor<7xf32>) -> tensor<2x4x15xf32>
  return
}

// -----

func.func @rope_freq(%x: tensor<2x4x16xf32>, %p: tensor<2xi32>, %f: tensor<7xf32>) {
  // expected-error @+1 {{the size of inv_freq is 7, expected 8}}
  %0 = chitu.rope %x, %p, %f : (tensor<2x4x16xf32>, tensor<2xi32>, tensor<7xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @kv_write_heads(%c: tensor<4x16x2x8xf32>, %v: tensor<3x4x8xf32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{the number of KV heads is 4, expected 2}}
  %0 = chitu.kv_write %c, %v, %s : (tensor<4x16x2x8xf32>, tensor<3x4x8xf32>, tensor<3xi32>) -> tensor<4x16x2x8xf32>
  return
}

// -----

func.func @kv_write_result(%c: tensor<4x16x2x8xf32>, %v: tensor<3x2x8xf32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{result type must be the cache's type}}
  %0 = chitu.kv_write %c, %v, %s : (tensor<4x16x2x8xf32>, tensor<3x2x8xf32>, tensor<3xi32>) -> tensor<4x16x2x8xf16>
  return
}

// -----

func.func @attention_groups(%q: tensor<2x5x8xf32>, %k: tensor<4x16x2x8xf32>, %t: tensor<1x4xi32>, %s: tensor<2xi32>) {
  // expected-error @+1 {{query heads (5) must be a multiple of the KV heads (2)}}
  %0 = chitu.paged_attention %q, %k, %k, %t, %s, %s scale = 1.0 : (tensor<2x5x8xf32>, tensor<4x16x2x8xf32>, tensor<4x16x2x8xf32>, tensor<1x4xi32>, tensor<2xi32>, tensor<2xi32>) -> tensor<2x5x8xf32>
  return
}

// -----

func.func @attention_window(%q: tensor<2x4x8xf32>, %k: tensor<4x16x2x8xf32>, %t: tensor<1x4xi32>, %s: tensor<2xi32>) {
  // expected-error @+1 {{window must not be negative}}
  %0 = chitu.paged_attention %q, %k, %k, %t, %s, %s scale = 1.0 window = -1 : (tensor<2x4x8xf32>, tensor<4x16x2x8xf32>, tensor<4x16x2x8xf32>, tensor<1x4xi32>, tensor<2xi32>, tensor<2xi32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @sampling_rows(%l: tensor<3x10xf32>, %t: tensor<2xf32>, %k: tensor<3xi32>, %h: tensor<3x2xi32>) {
  // expected-error @+1 {{the length of temperature is 2, expected 3}}
  %0 = chitu.sampling_probs %l, %t, %k, %t, %t, %t, %h : (tensor<3x10xf32>, tensor<2xf32>, tensor<3xi32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<3x2xi32>) -> tensor<3x10xf32>
  return
}

// -----

func.func @multinomial_seeds(%p: tensor<3x10xf32>, %s: tensor<2xi64>) {
  // expected-error @+1 {{the number of seeds is 2, expected 3}}
  %0 = chitu.multinomial %p, %s : (tensor<3x10xf32>, tensor<2xi64>) -> tensor<3xi32>
  return
}

// -----

func.func @add_i1(%a: tensor<4xi1>) {
  // expected-error @+1 {{does not take i1 operands (use min/max for and/or)}}
  %r = chitu.add %a, %a : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @pow_int(%a: tensor<4xi32>) {
  // expected-error @+1 {{takes f32, f16 or bf16 operands}}
  %r = chitu.pow %a, %a : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @compare_predicate(%a: tensor<4xf32>) {
  // expected-error @+1 {{predicate 'lte' is not eq, ne, lt, le, gt or ge}}
  %r = chitu.compare "lte", %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
  return
}

// -----

func.func @compare_types(%a: tensor<4xf32>, %b: tensor<4xi32>) {
  // expected-error @+1 {{operands have different element types}}
  %r = chitu.compare "eq", %a, %b : (tensor<4xf32>, tensor<4xi32>) -> tensor<4xi1>
  return
}

// -----

func.func @select_types(%c: tensor<4xi1>, %a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{on_true and on_false must have the result's element type}}
  %r = chitu.select %c, %a, %b : (tensor<4xi1>, tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

func.func @broadcast_to_bad(%x: tensor<3xf32>) {
  // expected-error @+1 {{input dimension 0 of size 3 neither is 1 nor matches the target [2, 4]}}
  %r = chitu.broadcast_to %x [2, 4] : tensor<3xf32> -> tensor<2x4xf32>
  return
}

// -----

func.func @iota_needs_size() {
  // expected-error @+1 {{needs a size operand for a dynamic result}}
  %r = chitu.iota start = 0.0 step = 1.0 : tensor<?xi64>
  return
}

// -----

func.func @gather_elements_rank(%x: tensor<4x4xf32>, %i: tensor<4xi64>) {
  // expected-error @+1 {{indices must have the input's rank}}
  %r = chitu.gather_elements %x, %i axis = 0 : (tensor<4x4xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}

// -----

func.func @from_sizes_count() {
  // expected-error @+1 {{result must be a static vector of 2 elements (or a scalar for one size)}}
  %r = chitu.from_sizes [2, 3] : tensor<3xi64>
  return
}

// -----

func.func @cumsum_axis(%x: tensor<4xf32>) {
  // expected-error @+1 {{axis 1 is out of range for rank 1}}
  %r = chitu.cumsum %x axis = 1 : tensor<4xf32>
  return
}

// -----

func.func @dense_attention_rank(%q: tensor<8xf32>) {
  // expected-error @+1 {{query must have rank 2 or more}}
  %0 = chitu.attention %q, %q, %q scale = 1.0 : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @dense_attention_heads(%q: tensor<4x5x16xf32>, %k: tensor<2x7x16xf32>) {
  // expected-error @+1 {{key dimension 0 is 2, expected 4}}
  %0 = chitu.attention %q, %k, %k scale = 1.0 : (tensor<4x5x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<4x5x16xf32>
  return
}

// -----

func.func @dense_attention_head_dim(%q: tensor<4x5x16xf32>, %k: tensor<4x7x8xf32>) {
  // expected-error @+1 {{the key head dimension is 8, expected 16}}
  %0 = chitu.attention %q, %k, %k scale = 1.0 : (tensor<4x5x16xf32>, tensor<4x7x8xf32>, tensor<4x7x8xf32>) -> tensor<4x5x8xf32>
  return
}

// -----

func.func @dense_attention_values(%q: tensor<4x5x16xf32>, %k: tensor<4x7x16xf32>, %v: tensor<4x6x16xf32>) {
  // expected-error @+1 {{the number of values is 6, expected 7}}
  %0 = chitu.attention %q, %k, %v scale = 1.0 : (tensor<4x5x16xf32>, tensor<4x7x16xf32>, tensor<4x6x16xf32>) -> tensor<4x5x16xf32>
  return
}

// -----

func.func @dense_attention_types(%q: tensor<4x5x16xf32>, %k: tensor<4x7x16xbf16>) {
  // expected-error @+1 {{query, key, value and result must have one element type}}
  %0 = chitu.attention %q, %k, %k scale = 1.0 : (tensor<4x5x16xf32>, tensor<4x7x16xbf16>, tensor<4x7x16xbf16>) -> tensor<4x5x16xf32>
  return
}

// -----

func.func @dense_attention_mask(%q: tensor<4x5x16xf32>, %k: tensor<4x7x16xf32>, %m: tensor<5x5xf32>) {
  // expected-error @+1 {{mask of shape [5, 5] does not broadcast to the scores' shape [4, 5, 7]}}
  %0 = chitu.attention %q, %k, %k, %m scale = 1.0 : (tensor<4x5x16xf32>, tensor<4x7x16xf32>, tensor<4x7x16xf32>, tensor<5x5xf32>) -> tensor<4x5x16xf32>
  return
}

// -----

func.func @dense_attention_result(%q: tensor<4x5x16xf32>, %k: tensor<4x7x16xf32>, %v: tensor<4x7x8xf32>) {
  // expected-error @+1 {{result shape [4, 5, 16] does not match the expected shape [4, 5, 8]}}
  %0 = chitu.attention %q, %k, %v scale = 1.0 : (tensor<4x5x16xf32>, tensor<4x7x16xf32>, tensor<4x7x8xf32>) -> tensor<4x5x16xf32>
  return
}

// -----

func.func @weight_i8_unquantized() {
  // expected-error @+1 {{an i8 weight must say how it is quantized}}
  %w = chitu.weight "w" : tensor<4x4xi8>
  return
}

// -----

func.func @weight_unknown_quantization() {
  // expected-error @+1 {{unknown quantization 'int3' (known: int8_rows, fp8_rows, int4_sym, int4_asym)}}
  %w = chitu.weight "w" {quantize = "int3"} : tensor<4x4xi8>
  return
}

// -----

func.func @weight_bad_scales() {
  // expected-error @+1 {{int8_rows parts are the i8 values [rows, cols] and the f32 scales [rows, 1], not 'tensor<4x2xf32>'}}
  %s = chitu.weight "w" {quantize = "int8_rows"} : tensor<4x2xf32>
  return
}

// -----

func.func @weight_fp8_parts() {
  // expected-error @+1 {{fp8_rows parts are the f8E4M3FN values [rows, cols] and the f32 scales [rows, 1], not 'tensor<4x4xi8>'}}
  %q = chitu.weight "w" {quantize = "fp8_rows"} : tensor<4x4xi8>
  return
}

// -----

func.func @weight_int4_no_group() {
  // expected-error @+1 {{int4_sym needs group_size 32, 64 or 128}}
  %q = chitu.weight "w" {quantize = "int4_sym", part = "values"} : tensor<4x16xi8>
  return
}

// -----

func.func @weight_int4_no_part() {
  // expected-error @+1 {{int4_asym needs part = "values", "scales" or "zeros"}}
  %q = chitu.weight "w" {quantize = "int4_asym", group_size = 32 : i64} : tensor<4x16xi8>
  return
}

// -----

func.func @weight_int4_sym_zeros() {
  // expected-error @+1 {{int4_sym has no zero points (every zero point is 8)}}
  %z = chitu.weight "w" {quantize = "int4_sym", group_size = 32 : i64, part = "zeros"} : tensor<4x1xf32>
  return
}

// -----

func.func @weight_int4_values_type() {
  // expected-error @+1 {{int4_sym values are i8 (two int4 a byte), not 'tensor<4x16xf32>'}}
  %q = chitu.weight "w" {quantize = "int4_sym", group_size = 32 : i64, part = "values"} : tensor<4x16xf32>
  return
}

// -----

func.func @weight_int8_group() {
  // expected-error @+1 {{int8_rows takes no group_size or part}}
  %q = chitu.weight "w" {quantize = "int8_rows", group_size = 32 : i64} : tensor<4x16xi8>
  return
}

// -----

func.func @dequantize_int4_packing(%q: tensor<4x32xi8>, %s: tensor<4x2xf32>) {
  // expected-error @+1 {{int4 values 'tensor<4x32xi8>' do not pack a 'tensor<4x32xbf16>' result in groups of 32}}
  %w = chitu.dequantize %q, %s {group_size = 32 : i64} : (tensor<4x32xi8>, tensor<4x2xf32>) -> tensor<4x32xbf16>
  return
}

// -----

func.func @dequantize_int4_scales(%q: tensor<4x32xi8>, %s: tensor<4x1xf32>) {
  // expected-error @+1 {{int4 scales must be 'tensor<4x2xf32>', one per group}}
  %w = chitu.dequantize %q, %s {group_size = 32 : i64} : (tensor<4x32xi8>, tensor<4x1xf32>) -> tensor<4x64xbf16>
  return
}

// -----

func.func @dequantize_int4_group(%q: tensor<4x32xi8>, %s: tensor<4x2xf32>) {
  // expected-error @+1 {{group_size must be 32, 64 or 128, not 16}}
  %w = chitu.dequantize %q, %s {group_size = 16 : i64} : (tensor<4x32xi8>, tensor<4x2xf32>) -> tensor<4x64xbf16>
  return
}

// -----

func.func @dequantize_zeros_without_groups(%q: tensor<4x8xi8>, %s: tensor<4x1xf32>, %z: tensor<4x1xf32>) {
  // expected-error @+1 {{zero points need group_size (int4 groups)}}
  %w = chitu.dequantize %q, %s, %z : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<4x1xf32>) -> tensor<4x8xbf16>
  return
}

// -----

func.func @dequantize_bad_scales(%q: tensor<4x8xi8>, %s: tensor<2x1xf32>) {
  // expected-error @+1 {{scales 'tensor<2x1xf32>' do not broadcast to the values 'tensor<4x8xi8>'}}
  %w = chitu.dequantize %q, %s : (tensor<4x8xi8>, tensor<2x1xf32>) -> tensor<4x8xbf16>
  return
}

// -----

func.func @dequantize_bad_result(%q: tensor<4x8xi8>, %s: tensor<4x1xf32>) {
  // expected-error @+1 {{result shape must be the values' shape}}
  %w = chitu.dequantize %q, %s : (tensor<4x8xi8>, tensor<4x1xf32>) -> tensor<8x4xbf16>
  return
}

// -----

func.func @i8_elsewhere(%q: tensor<4x8xi8>) {
  // expected-error @+1 {{operand #0 must be}}
  %r = chitu.relu %q : tensor<4x8xi8>
  return
}
