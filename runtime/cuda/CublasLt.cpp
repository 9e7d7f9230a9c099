#include "CublasLt.h"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <vector>

namespace chitu::rt::cuda {
namespace {

// cublasLt.h / library_types.h values (stable ABI).
using cublasStatus_t = int;
using cublasLtHandle_t = struct cublasLtContext *;
using cublasLtMatmulDesc_t = struct cublasLtMatmulDescOpaque *;
using cublasLtMatrixLayout_t = struct cublasLtMatrixLayoutOpaque *;
using cublasLtMatmulPreference_t = struct cublasLtMatmulPreferenceOpaque *;
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
constexpr int CUBLAS_COMPUTE_32F = 68;
constexpr int CUDA_R_16F = 2, CUDA_R_16BF = 14, CUDA_R_32F = 0;
constexpr int CUBLASLT_MATMUL_DESC_TRANSA = 3, CUBLASLT_MATMUL_DESC_TRANSB = 4;
constexpr int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
// ..._MIN_ALIGNMENT_A_BYTES, then B, C, D.
constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5;
constexpr int32_t CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;

} // namespace

struct GemmLibrary::Api {
  cublasStatus_t (*create)(cublasLtHandle_t *);
  cublasStatus_t (*destroy)(cublasLtHandle_t);
  size_t (*getVersion)();
  cublasStatus_t (*descCreate)(cublasLtMatmulDesc_t *, int, int);
  cublasStatus_t (*descDestroy)(cublasLtMatmulDesc_t);
  cublasStatus_t (*descSetAttribute)(cublasLtMatmulDesc_t, int, const void *, size_t);
  cublasStatus_t (*layoutCreate)(cublasLtMatrixLayout_t *, int, uint64_t, uint64_t, int64_t);
  cublasStatus_t (*layoutDestroy)(cublasLtMatrixLayout_t);
  cublasStatus_t (*preferenceCreate)(cublasLtMatmulPreference_t *);
  cublasStatus_t (*preferenceDestroy)(cublasLtMatmulPreference_t);
  cublasStatus_t (*preferenceSetAttribute)(cublasLtMatmulPreference_t, int, const void *, size_t);
  cublasStatus_t (*algoGetHeuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t,
                                     cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                     cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                     cublasLtMatmulPreference_t, int,
                                     cublasLtMatmulHeuristicResult_t *, int *);
  cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,
                           cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t,
                           const void *, const void *, cublasLtMatrixLayout_t, void *,
                           cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t *, void *, size_t,
                           CUstream);
};

struct GemmLibrary::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

// The library is loaded once per process: $CHITU_CUBLASLT, else the sonames of CUDA 13 and 12
// by the loader's search path, then in the toolkit's usual directory.
StatusOr<std::unique_ptr<GemmLibrary>> GemmLibrary::create() {
  static Api api;
  static std::string loadError, version;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> names;
    if (const char *path = std::getenv("CHITU_CUBLASLT"); path && *path)
      names.push_back(path);
    for (const char *n : {"libcublasLt.so.13", "libcublasLt.so.12",
                          "/usr/local/cuda/lib64/libcublasLt.so.13",
                          "/usr/local/cuda/lib64/libcublasLt.so.12"})
      names.push_back(n);
    void *lib = nullptr;
    for (const std::string &n : names)
      if ((lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)))
        break;
    auto sym = [&](auto &fn, const char *name) -> bool {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      return fn != nullptr;
    };
    if (!lib)
      loadError = "cuBLASLt was not found (libcublasLt.so.13 or .12; set CHITU_CUBLASLT to its path)";
    else if (!(sym(api.create, "cublasLtCreate") && sym(api.destroy, "cublasLtDestroy") &&
               sym(api.getVersion, "cublasLtGetVersion") &&
               sym(api.descCreate, "cublasLtMatmulDescCreate") &&
               sym(api.descDestroy, "cublasLtMatmulDescDestroy") &&
               sym(api.descSetAttribute, "cublasLtMatmulDescSetAttribute") &&
               sym(api.layoutCreate, "cublasLtMatrixLayoutCreate") &&
               sym(api.layoutDestroy, "cublasLtMatrixLayoutDestroy") &&
               sym(api.preferenceCreate, "cublasLtMatmulPreferenceCreate") &&
               sym(api.preferenceDestroy, "cublasLtMatmulPreferenceDestroy") &&
               sym(api.preferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute") &&
               sym(api.algoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic") &&
               sym(api.matmul, "cublasLtMatmul")))
      loadError = "cuBLASLt lacks an entry point chitu uses";
    else
      version = "cuBLASLt " + std::to_string(api.getVersion());
  });
  if (!loadError.empty())
    return Status(StatusCode::Unsupported, loadError);
  std::unique_ptr<GemmLibrary> g(new GemmLibrary());
  g->api_ = &api;
  g->version_ = version;
  cublasLtHandle_t handle = nullptr;
  if (api.create(&handle) != CUBLAS_STATUS_SUCCESS)
    return Status(StatusCode::DeviceError, "cublasLtCreate failed");
  g->handle_ = handle;
  return g;
}

void GemmLibrary::destroy(Plan *p) const {
  if (p->a)
    api_->layoutDestroy(p->a);
  if (p->b)
    api_->layoutDestroy(p->b);
  if (p->d)
    api_->layoutDestroy(p->d);
  if (p->desc)
    api_->descDestroy(p->desc);
  delete p;
}

GemmLibrary::~GemmLibrary() {
  if (!api_)
    return;
  for (auto &[shape, p] : plans_)
    destroy(p);
  if (handle_)
    api_->destroy(static_cast<cublasLtHandle_t>(handle_));
}

uint32_t GemmLibrary::alignmentOf(std::initializer_list<CUdeviceptr> pointers) {
  uint32_t alignment = 256;
  for (CUdeviceptr p : pointers)
    while (alignment > 1 && p % alignment != 0)
      alignment /= 2;
  return alignment;
}

StatusOr<const GemmLibrary::Plan *> GemmLibrary::plan(int64_t m, int64_t n, int64_t k, bool f16,
                                                      uint32_t alignment) {
  auto key = std::make_tuple(m, n, k, f16, alignment);
  if (auto it = plans_.find(key); it != plans_.end())
    return static_cast<const Plan *>(it->second);
  auto failed = [&](const char *call) {
    return Status(StatusCode::DeviceError,
                  std::string(call) + " failed for a " + std::to_string(m) + " x " +
                      std::to_string(n) + " x " + std::to_string(k) + " product");
  };
  // Row-major D[M, N] = A[M, K] B[N, K]^T is, column-major, D^T (N x M) = op_T(B) A^T with
  // B seen as K x N and A as K x M: the library's "TN" case.
  const int type = f16 ? CUDA_R_16F : CUDA_R_16BF;
  auto p = std::make_unique<Plan>();
  auto release = [&] { destroy(p.release()); };
  if (api_->descCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS)
    return failed("cublasLtMatmulDescCreate");
  const int32_t transposed = CUBLAS_OP_T, plain = CUBLAS_OP_N;
  bool ok = api_->descSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transposed,
                                   sizeof transposed) == CUBLAS_STATUS_SUCCESS &&
            api_->descSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &plain, sizeof plain) ==
                CUBLAS_STATUS_SUCCESS &&
            api_->layoutCreate(&p->a, type, uint64_t(k), uint64_t(n), k) == CUBLAS_STATUS_SUCCESS &&
            api_->layoutCreate(&p->b, type, uint64_t(k), uint64_t(m), k) == CUBLAS_STATUS_SUCCESS &&
            api_->layoutCreate(&p->d, type, uint64_t(n), uint64_t(m), n) == CUBLAS_STATUS_SUCCESS;
  if (!ok) {
    release();
    return failed("cublasLt descriptor setup");
  }
  cublasLtMatmulPreference_t pref = nullptr;
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const uint64_t workspace = kWorkspaceBytes;
  if (api_->preferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS) {
    bool set = api_->preferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                            &workspace, sizeof workspace) == CUBLAS_STATUS_SUCCESS;
    for (int i = 0; i < 4; ++i)
      set = set && api_->preferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + i,
                                                &alignment, sizeof alignment) ==
                       CUBLAS_STATUS_SUCCESS;
    if (set)
      api_->algoGetHeuristic(static_cast<cublasLtHandle_t>(handle_), p->desc, p->a, p->b, p->d,
                             p->d, pref, 1, &result, &found);
    api_->preferenceDestroy(pref);
  }
  if (found < 1 || result.state != CUBLAS_STATUS_SUCCESS) {
    release();
    return failed("cublasLtMatmulAlgoGetHeuristic (no algorithm)");
  }
  p->algo = result.algo;
  Plan *raw = p.release();
  plans_[key] = raw;
  return static_cast<const Plan *>(raw);
}

Status GemmLibrary::run(const Plan &p, CUdeviceptr a, CUdeviceptr b, CUdeviceptr d,
                        CUdeviceptr workspace, CUstream stream) const {
  const float one = 1.0f, zero = 0.0f;
  // The library's A is our B (weights) and its B our A (activations); see plan().
  cublasStatus_t s = api_->matmul(
      static_cast<cublasLtHandle_t>(handle_), p.desc, &one, reinterpret_cast<const void *>(b),
      p.a, reinterpret_cast<const void *>(a), p.b, &zero, reinterpret_cast<const void *>(d), p.d,
      reinterpret_cast<void *>(d), p.d, &p.algo, reinterpret_cast<void *>(workspace),
      kWorkspaceBytes, stream);
  if (s != CUBLAS_STATUS_SUCCESS)
    return Status(StatusCode::DeviceError, "cublasLtMatmul failed (status " + std::to_string(s) + ")");
  return Status::ok();
}

} // namespace chitu::rt::cuda
