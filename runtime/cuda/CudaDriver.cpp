#include "CudaDriver.h"

#include <dlfcn.h>
#include <map>
#include <mutex>

namespace chitu::rt::cuda {
namespace {

Status loadDriver(Driver &d) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return Status(StatusCode::DeviceError,
                  "no CUDA driver: libcuda.so.1 could not be loaded (is an NVIDIA driver "
                  "installed?)");
  auto sym = [&](auto &fn, const char *name) -> bool {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    return fn != nullptr;
  };
  bool ok =
      sym(d.cuInit, "cuInit") && sym(d.cuDeviceGetCount, "cuDeviceGetCount") &&
      sym(d.cuDeviceGet, "cuDeviceGet") && sym(d.cuDeviceGetName, "cuDeviceGetName") &&
      sym(d.cuDeviceGetAttribute, "cuDeviceGetAttribute") &&
      sym(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
      sym(d.cuCtxSetCurrent, "cuCtxSetCurrent") && sym(d.cuModuleLoadData, "cuModuleLoadData") &&
      sym(d.cuModuleUnload, "cuModuleUnload") &&
      sym(d.cuModuleGetFunction, "cuModuleGetFunction") &&
      sym(d.cuFuncSetAttribute, "cuFuncSetAttribute") && sym(d.cuMemAlloc, "cuMemAlloc_v2") &&
      sym(d.cuMemFree, "cuMemFree_v2") && sym(d.cuMemGetInfo, "cuMemGetInfo_v2") &&
      sym(d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2") &&
      sym(d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2") &&
      sym(d.cuMemsetD32Async, "cuMemsetD32Async") && sym(d.cuMemsetD8Async, "cuMemsetD8Async") &&
      sym(d.cuStreamCreate, "cuStreamCreate") && sym(d.cuStreamDestroy, "cuStreamDestroy_v2") &&
      sym(d.cuStreamSynchronize, "cuStreamSynchronize") &&
      sym(d.cuLaunchKernel, "cuLaunchKernel") && sym(d.cuGetErrorName, "cuGetErrorName") &&
      sym(d.cuGetErrorString, "cuGetErrorString");
  if (!ok)
    return Status(StatusCode::DeviceError,
                  "the CUDA driver is too old: a required entry point is missing");
  // Profiling entry points, by their current names first.
  if (!sym(d.cuEventElapsedTime, "cuEventElapsedTime_v2"))
    sym(d.cuEventElapsedTime, "cuEventElapsedTime");
  if (!sym(d.cuEventDestroy, "cuEventDestroy_v2"))
    sym(d.cuEventDestroy, "cuEventDestroy");
  if (!sym(d.cuEventCreate, "cuEventCreate") || !sym(d.cuEventRecord, "cuEventRecord") ||
      !d.cuEventElapsedTime || !d.cuEventDestroy)
    d.cuEventCreate = nullptr;
  if (!sym(d.cuMemHostAlloc, "cuMemHostAlloc") || !sym(d.cuMemFreeHost, "cuMemFreeHost") ||
      !sym(d.cuStreamWaitEvent, "cuStreamWaitEvent") || !d.cuEventCreate)
    d.cuMemHostAlloc = nullptr;
  if (!sym(d.cuLaunchHostFunc, "cuLaunchHostFunc") || !d.cuMemHostAlloc)
    d.cuLaunchHostFunc = nullptr;
  if (!sym(d.cuStreamBeginCapture, "cuStreamBeginCapture_v2") ||
      !sym(d.cuStreamEndCapture, "cuStreamEndCapture") ||
      !sym(d.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags") ||
      !sym(d.cuGraphLaunch, "cuGraphLaunch") || !sym(d.cuGraphExecDestroy, "cuGraphExecDestroy") ||
      !sym(d.cuGraphDestroy, "cuGraphDestroy"))
    d.cuStreamBeginCapture = nullptr;
  CUresult r = d.cuInit(0);
  if (r != CUDA_SUCCESS) {
    const char *name = nullptr;
    d.cuGetErrorName(r, &name);
    return Status(StatusCode::DeviceError, std::string("the CUDA driver failed to initialise: ") +
                                               (name ? name : "unknown error") +
                                               " (no GPU visible?)");
  }
  return Status::ok();
}

} // namespace

StatusOr<const Driver *> driver() {
  static Driver d;
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = loadDriver(d); });
  if (!status.isOk())
    return status;
  return &d;
}

StatusOr<CUcontext> primaryContext(CUdevice device) {
  auto drv = driver();
  if (!drv.isOk())
    return drv.status();
  static std::mutex mutex;
  static std::map<CUdevice, CUcontext> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = contexts.find(device);
  if (it != contexts.end())
    return it->second;
  CUcontext ctx = nullptr;
  CHITU_RETURN_IF_ERROR(
      check((*drv)->cuDevicePrimaryCtxRetain(&ctx, device), "cuDevicePrimaryCtxRetain"));
  contexts[device] = ctx;
  return ctx;
}

std::string errorText(CUresult r) {
  auto d = driver();
  const char *name = nullptr, *text = nullptr;
  if (d.isOk()) {
    (*d)->cuGetErrorName(r, &name);
    (*d)->cuGetErrorString(r, &text);
  }
  return std::string(name ? name : "CUDA error " + std::to_string(r)) +
         (text ? std::string(" (") + text + ")" : "");
}

Status check(CUresult r, const char *call) {
  if (r == CUDA_SUCCESS)
    return Status::ok();
  // 2 = CUDA_ERROR_OUT_OF_MEMORY
  return Status(r == 2 ? StatusCode::OutOfMemory : StatusCode::DeviceError,
                std::string(call) + " failed: " + errorText(r));
}

} // namespace chitu::rt::cuda
