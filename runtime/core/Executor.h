// What a device backend implements: run one entry of a model, hand out state buffers (KV
// caches) that persist across runs, and read tensors of the last run.
#pragma once

#include "Shapes.h"

#include <string>
#include <vector>

namespace chitu::rt {

class Executor {
public:
  virtual ~Executor() = default;
  virtual std::string deviceName() const = 0;
  // What runs the products of many rows where the model offers a library route: e.g.
  // "cuBLASLt 130100", or why not ("none: ..."); empty when the model offers none.
  virtual std::string gemmLibrary() const { return ""; }
  // Where the weights are (docs/slicing.md): e.g. "all weights resident (1.2 GiB)", or which
  // slices are resident and which are streamed from host memory.
  virtual std::string placement() const { return "weights in host memory"; }

  // A zero-filled buffer on the executor's device for a state input.
  virtual StatusOr<void *> allocateState(uint64_t bytes) = 0;
  virtual void freeState(void *state) = 0;
  virtual Status zeroState(void *state, uint64_t bytes) = 0;
  // Copies between a state buffer and host memory.
  virtual Status readState(const void *state, void *host, uint64_t bytes) = 0;
  virtual Status writeState(void *state, const void *host, uint64_t bytes) = 0;

  // Runs `entry` with `shapes` bound. inputs[i] holds the host data of entry input i
  // (nullptr for state inputs); states[i] the buffer of state input i (nullptr otherwise).
  virtual Status run(int entry, const EntryShapes &shapes,
                     const std::vector<const HostTensor *> &inputs,
                     const std::vector<void *> &states) = 0;
  // Profiling: with it on, each run records the time of every step (kernel), in
  // milliseconds, read back with stepTimes() after the run (CUDA events on a GPU, wall time
  // on the CPU). Off by default: it adds a synchronisation per run on the GPU.
  virtual void setProfiling(bool on) { profiling_ = on; }
  virtual std::vector<double> stepTimes() const { return stepTimes_; }
  // With profiling and streamed weights: the milliseconds of each streamed slice's copy in
  // the last run (the entry's last slices, in order); empty otherwise.
  virtual std::vector<double> copyTimes() const { return {}; }
  // The bytes each streamed slice copies per run (the same order).
  virtual std::vector<uint64_t> copyBytes() const { return {}; }

  // Copies tensor `tensor` as the last run left it (valid until the next run).
  virtual Status fetch(const EntryShapes &shapes, uint32_t tensor,
                       const std::vector<void *> &states, HostTensor &out) = 0;

protected:
  bool profiling_ = false;
  std::vector<double> stepTimes_;
};

} // namespace chitu::rt
