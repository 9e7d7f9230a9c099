// cuBLASLt, loaded with dlopen at first use like the driver (CudaDriver.h), for the product
// kernels' library route (cbin LibraryGemm): many-row products of 16-bit weights run as one
// library GEMM each. Without the library the kernels' own tile routines run, so the runtime
// keeps no link-time dependency on it. Only the entry points and constants chitu uses are
// declared here (cublasLt.h, stable since CUDA 11).
#pragma once

#include "CudaDriver.h"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <tuple>

namespace chitu::rt::cuda {

// D[M, N] = A[M, K] x B[N, K]^T, all row-major of one 16-bit type, fp32 accumulation: a
// product kernel's GEMM, planned once per shape (descriptors and the heuristic's algorithm).
class GemmLibrary {
public:
  // The loaded library with a handle, or why there is none (the route is then not taken).
  static StatusOr<std::unique_ptr<GemmLibrary>> create();
  ~GemmLibrary();

  struct Plan;
  // The plan for a shape whose pointers are all aligned to `alignment` bytes (a power of
  // two up to 256; the library's default assumption is 256), made on first use (host-side
  // only: safe before a graph capture).
  StatusOr<const Plan *> plan(int64_t m, int64_t n, int64_t k, bool f16, uint32_t alignment);
  // The largest power of two up to 256 dividing every pointer.
  static uint32_t alignmentOf(std::initializer_list<CUdeviceptr> pointers);
  // Enqueues the product on `stream`; `workspace` holds kWorkspaceBytes.
  Status run(const Plan &plan, CUdeviceptr a, CUdeviceptr b, CUdeviceptr d, CUdeviceptr workspace,
             CUstream stream) const;

  // Scratch memory the library may use per GEMM (its heuristic is asked for no more).
  static constexpr uint64_t kWorkspaceBytes = 32ull << 20;
  const std::string &version() const { return version_; }

private:
  struct Api;
  GemmLibrary() = default;
  void destroy(Plan *plan) const; // its descriptors, then the plan
  const Api *api_ = nullptr;
  void *handle_ = nullptr;
  std::string version_;
  std::map<std::tuple<int64_t, int64_t, int64_t, bool, uint32_t>, Plan *> plans_;
};

} // namespace chitu::rt::cuda
