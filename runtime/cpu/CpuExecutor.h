// The CPU reference executor: runs each kernel's portable op list (the same artifact the GPU
// runs), keeping kernel-local values in f32/i32/i64 and rounding when they are stored, as
// the CUDA kernels do.
#pragma once

#include "core/Executor.h"
#include "cpu/CpuMatmul.h"

#include <functional>
#include <memory>

namespace chitu::rt {

std::unique_ptr<Executor> createCpuExecutor(std::shared_ptr<const Model> model);

// Runs one step (one kernel's op list) on the CPU. `storage(tensor)` is the host address of
// each tensor the step reads or writes. The CUDA executor runs its CPU-placed steps with it,
// their products summed in f32 as the GPU kernels do (the reference sums in double).
Status runStepOnCpu(const Model &model, const cbin::Step &step, const EntryShapes &shapes,
                    const std::function<uint8_t *(uint32_t tensor)> &storage,
                    cpu::Accumulate accumulate = cpu::Accumulate::Double);

} // namespace chitu::rt
