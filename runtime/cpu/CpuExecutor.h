// The CPU reference executor: runs each kernel's portable op list (the same artifact the GPU
// runs), keeping kernel-local values in f32/i32/i64 and rounding when they are stored, as
// the CUDA kernels do.
#pragma once

#include "core/Executor.h"

#include <memory>

namespace chitu::rt {

std::unique_ptr<Executor> createCpuExecutor(std::shared_ptr<const Model> model);

} // namespace chitu::rt
