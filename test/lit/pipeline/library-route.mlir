// Many-row products of 16-bit weights get library routes (cbin LibraryGemm): the kernel
// body is compiled once per route, and the A and epilogue functions take the workspace
// pointers after the kernel's parameters.
// RUN: chitu-compile %s --emit=cuda | FileCheck %s
// RUN: chitu-compile %s -o %t.cbin --target sm_90 && chitu-inspect %t.cbin | FileCheck %s --check-prefix=INSPECT

// The rms-norm prologue feeds the library through the A function; SwiGLU needs the epilogue.
// CHECK-LABEL: // ---- main / k0_rms_norm_matmul_silu_mul
// CHECK: template <int kRoute>
// CHECK: chitu::bf16 *__restrict__ library_a,
// CHECK-NEXT: const chitu::bf16 *__restrict__ library_c0,
// CHECK-NEXT: const chitu::bf16 *__restrict__ library_c1) {
// CHECK: kRoute != chitu::kRouteLibraryEpilogue && r < tile_m
// CHECK: if constexpr (kRoute == chitu::kRouteLibraryA) {
// CHECK-NEXT: chitu::library_store_a(row0, tile_m, sym0, 32LL, library_a, load_a);
// CHECK: if constexpr (kRoute == chitu::kRouteLibraryEpilogue) {
// CHECK-NEXT: const chitu::bf16 *const products[] = {library_c0, library_c1};
// CHECK-NEXT: chitu::library_epilogue<2>(
// CHECK: _body<chitu::kRouteFewRows>({{.*}}, nullptr, nullptr, nullptr);
// CHECK: _body<chitu::kRouteTiles>({{.*}}, nullptr, nullptr, nullptr);
// CHECK: chitu_[[H:[0-9a-f]+]]_library_a(
// CHECK: _body<chitu::kRouteLibraryA>({{.*}}, library_a, library_c0, library_c1);
// CHECK: chitu_[[H]]_library_epilogue(
// CHECK: _body<chitu::kRouteLibraryEpilogue>(

// A is an input: no A function. The residual add (in place) takes the epilogue.
// CHECK-LABEL: // ---- main / k1_matmul_add
// CHECK-NOT: _library_a(
// CHECK: _library_epilogue(

// INSPECT: k0_rms_norm_matmul_silu_mul: ops [RMS_NORM, MATMUL, MATMUL, SILU, MUL]
// INSPECT: library GEMM when (min(1, floordiv(s0, 64))): 2 product(s), A written by the prologue, then the epilogue
// INSPECT: k1_matmul_add: ops [MATMUL, ADD, MATMUL]
// INSPECT: library GEMM when (min(1, floordiv(s0, 64))): 2 product(s), A input 0, then the epilogue

func.func @main(%x: tensor<?x32xbf16>, %h: tensor<?x64xbf16>) -> (tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<?x32xbf16>) {
  %w = chitu.constant dense<1.0> : tensor<32xbf16>
  %wg = chitu.constant dense<0.5> : tensor<64x32xbf16>
  %wu = chitu.constant dense<0.25> : tensor<64x32xbf16>
  %wd = chitu.constant dense<0.125> : tensor<32x64xbf16>
  %n = chitu.rms_norm %x, %w eps = 1.0e-05 : (tensor<?x32xbf16>, tensor<32xbf16>) -> tensor<?x32xbf16>
  %g = chitu.matmul %n, %wg transpose_rhs : (tensor<?x32xbf16>, tensor<64x32xbf16>) -> tensor<?x64xbf16>
  %u = chitu.matmul %n, %wu transpose_rhs : (tensor<?x32xbf16>, tensor<64x32xbf16>) -> tensor<?x64xbf16>
  %s = chitu.silu %g : tensor<?x64xbf16>
  %a = chitu.mul %s, %u : (tensor<?x64xbf16>, tensor<?x64xbf16>) -> tensor<?x64xbf16>
  %d = chitu.matmul %h, %wd transpose_rhs : (tensor<?x64xbf16>, tensor<32x64xbf16>) -> tensor<?x32xbf16>
  %r = chitu.add %x, %d : (tensor<?x32xbf16>, tensor<?x32xbf16>) -> tensor<?x32xbf16>
  %p = chitu.matmul %h, %wd transpose_rhs : (tensor<?x64xbf16>, tensor<32x64xbf16>) -> tensor<?x32xbf16>
  return %a, %r, %p : tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<?x32xbf16>
}
