// mma.cuh: the sm_80+ building blocks of the tensor-core kernels (matmul.cuh, llm.cuh):
// the m16n8k16 product, 16-bit pairs packed for its fragments, ldmatrix and cp.async.
//
// Fragment layouts of mma.sync m16n8k16 (g = lane / 4, t = lane % 4), row-major A (16 x 16),
// column-major B (16 x 8), f32 C (16 x 8):
//   A: a[0] = (row g, k 2t..2t+1), a[1] = (row g+8, k 2t..), a[2] = (row g, k 2t+8..),
//      a[3] = (row g+8, k 2t+8..);
//   B: b0 = (k 2t..2t+1, column g), b1 = (k 2t+8..2t+9, column g);
//   C: c[0..1] = (row g, columns 2t..2t+1), c[2..3] = (row g+8, the same columns).
#pragma once

#include "common.cuh"

namespace chitu {

// Everything below is sm_80+; its callers keep it behind `__CUDA_ARCH__ >= 800`.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800

// c += a * b for one m16n8k16 tile with f32 accumulators; the pointer picks the input type.
__device__ __forceinline__ void mma_16816(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                          unsigned b1, const bf16 *) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
               "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_16816(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                          unsigned b1, const f16 *) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
               "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded to T and packed as one 32-bit fragment register (lo in the low half).
template <typename T> __device__ __forceinline__ unsigned pack2(float lo, float hi) {
  return (unsigned)from_float<T>(lo).bits | ((unsigned)from_float<T>(hi).bits << 16);
}

__device__ __forceinline__ unsigned shared_address(const void *p) {
  return (unsigned)__cvta_generic_to_shared(p);
}

// Four 8 x 8 16-bit matrices from shared memory: lanes 8i..8i+7 give the row addresses of
// matrix i (16 bytes each); r[i] of lane l then holds elements (row l/4; columns 2(l%4),
// 2(l%4)+1) of matrix i: an A fragment register, or a B one when rows run along n.
// (The unsigned overloads take shared-space addresses: 32 bits where a pointer takes 64.)
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], unsigned rowAddress) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(rowAddress));
}
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void *rowAddress) {
  ldmatrix_x4(r, shared_address(rowAddress));
}

// The same, transposed: lanes 8i..8i+7 give the row
// addresses of matrix i (16 bytes each); r[i] of lane l then holds elements (rows 2(l%4),
// 2(l%4)+1; column l/4) of matrix i, which is a B fragment half when rows run along k.
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], unsigned rowAddress) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(rowAddress));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void *rowAddress) {
  ldmatrix_x4_trans(r, shared_address(rowAddress));
}

// 16 bytes global -> shared without passing through registers; `valid` false fills zeros
// (the source is then not read).
__device__ __forceinline__ void cp_async_16(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared_address(dst)), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
// Waits until at most N of this thread's committed groups are still in flight.
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

#endif

} // namespace chitu
