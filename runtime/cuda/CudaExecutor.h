// The CUDA executor: loads each kernel's cubin for the GPU's architecture, uploads the
// weights once, and runs an entry as a sequence of kernel launches on one stream over a
// single device arena.
#pragma once

#include "core/Executor.h"
#include "core/Placement.h"

#include <memory>

namespace chitu::rt {

// gpuMemoryBytes: the GPU memory the weights may take (0: no limit while the weights fit in
// the free memory less a margin, else that); below the model's
// weights, slices are streamed from pinned host memory (docs/slicing.md). `cpu`: the steps
// that run on the CPU, in stream order, their weights left in host memory.
StatusOr<std::unique_ptr<Executor>> createCudaExecutor(std::shared_ptr<const Model> model,
                                                       int deviceIndex, uint64_t gpuMemoryBytes,
                                                       CpuPlacement cpu = {});

// Number of visible GPUs (0 with a reason when the driver is missing).
StatusOr<int> cudaDeviceCount();

// The binary of `kernel` that runs on a GPU of compute capability major.minor: the exact
// architecture (sm_90, or its arch-specific sm_90a), else the newest of the same major
// version not above it (sm_80 code runs on sm_86). -1 if none.
int selectBinary(const cbin::Kernel &kernel, int major, int minor);

} // namespace chitu::rt
