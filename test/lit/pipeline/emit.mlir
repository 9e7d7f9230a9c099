// The compile pipeline's stages, as chitu-compile shows them.
// RUN: chitu-compile %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: chitu-compile %s --emit=cuda | FileCheck %s --check-prefix=CUDA
// RUN: chitu-compile %s --emit=cuda -o %t.cu && FileCheck %s --check-prefix=CUDA < %t.cu
// RUN: chitu-compile %s --emit=mlir -o %t.mlir && FileCheck %s --check-prefix=MLIR < %t.mlir
// RUN: not chitu-compile %s --emit=cuda -o %t.missing/x.cu 2>&1 | FileCheck %s --check-prefix=NOWRITE
// NOWRITE: chitu-compile: error: cannot write '{{.*}}x.cu': No such file or directory
// RUN: chitu-compile %s --emit=mlir --print-ir-after-all 2>&1 >/dev/null | FileCheck %s --check-prefix=STAGES
// RUN: chitu-compile %s --emit=mlir --disable-pass=chitu-form-kernels,chitu-plan-memory | FileCheck %s --check-prefix=NOKERNELS
// RUN: not chitu-compile %s -o %t.cbin --disable-pass=chitu-plan-memory 2>&1 | FileCheck %s --check-prefix=NOPLAN

// MLIR-LABEL: func.func @main
// MLIR-SAME: {chitu.dims = ["s0", "16"]}
// MLIR-SAME: {chitu.dims = ["s1"]}
// MLIR-SAME: chitu.arg_slots = array<i64: 0, 1>
// MLIR: chitu.kernel "fused"{{.*}}chitu.slots
// MLIR: chitu.kernel "k1_gather"{{.*}}chitu.slots
// MLIR: chitu.kernel "k2_reduce_sum"{{.*}}chitu.slots
// MLIR: chitu.kernel "k3_matmul"{{.*}}chitu.slots

// A region of several ops becomes one loop computing each element through the chain.
// Each kernel's function is named after its code (identical kernels share a cubin); sizes
// are parameters named by position, bound to the function's symbols at launch.
// CUDA-LABEL: // ---- main / fused (sym0 = s0)
// CUDA-NEXT: // chitu kernel: chitu.exp chitu.neg chitu.cast
// CUDA: chitu_{{[0-9a-f]+}}(chitu::bf16 *__restrict__ out0,
// CUDA-NEXT: const float *__restrict__ in0,
// CUDA-NEXT: const long long sym0) {
// CUDA: const float [[X:v[0-9]+]] = chitu::to_float(in0[
// CUDA-NEXT: const float [[E:v[0-9]+]] = expf([[X]]);
// CUDA-NEXT: const float [[N:v[0-9]+]] = (-[[E]]);
// CUDA-NEXT: const float [[C:v[0-9]+]] = chitu::round_bf16([[N]]);
// CUDA-NEXT: out0[i] = chitu::from_float<chitu::bf16>([[C]]);

// Gathers check their indices and report through the status word.
// CUDA-LABEL: // ---- main / k1_gather
// CUDA-NEXT: // chitu kernel: chitu.gather
// CUDA: unsigned *__restrict__ status,
// CUDA: if (!ok{{[0-9]+}}) chitu::report_error(status, chitu::kErrorIndexOutOfRange);

// CUDA-LABEL: // ---- main / k2_reduce_sum
// CUDA-NEXT: // chitu kernel: chitu.reduce_sum
// CUDA: #include "reduce.cuh"
// CUDA: acc = chitu::block_reduce(acc, chitu::SumOp(), scratch);

// CUDA-LABEL: // ---- main / k3_matmul
// CUDA-NEXT: // chitu kernel: chitu.matmul
// CUDA: #include "matmul.cuh"
// CUDA: chitu::gemm_tile_fused<1>(

// STAGES: IR Dump After Canonicalizer
// STAGES: IR Dump After CheckShapes
// STAGES: IR Dump After FormKernels
// STAGES: chitu.kernel "k1_gather"
// STAGES: IR Dump After PlanMemory
// STAGES: chitu.num_slots

// NOKERNELS-NOT: chitu.kernel "k1
// NOKERNELS: chitu.gather
// NOPLAN: error: 'func.func' op has no memory plan (chitu-plan-memory must run)

func.func @main(%x: tensor<?x16xf32>, %ids: tensor<?xi32>) -> (tensor<?x16xbf16>, tensor<?xf32>, tensor<?x?xf32>) {
  %t = chitu.constant dense<0.5> : tensor<10x16xf32>
  %0 = chitu.kernel "fused" (%x) : (tensor<?x16xf32>) -> tensor<?x16xbf16> {
  ^bb0(%v: tensor<?x16xf32>):
    %e = chitu.exp %v : tensor<?x16xf32>
    %n = chitu.neg %e : tensor<?x16xf32>
    %c = chitu.cast %n : tensor<?x16xf32> -> tensor<?x16xbf16>
    chitu.yield %c : tensor<?x16xbf16>
  }
  %g = chitu.gather %t, %ids axis = 0 : (tensor<10x16xf32>, tensor<?xi32>) -> tensor<?x16xf32>
  %s = chitu.reduce_sum %g axes = [1] : tensor<?x16xf32> -> tensor<?xf32>
  %m = chitu.matmul %x, %g transpose_rhs : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x?xf32>
  return %0, %s, %m : tensor<?x16xbf16>, tensor<?xf32>, tensor<?x?xf32>
}
