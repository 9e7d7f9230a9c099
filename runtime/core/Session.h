// A model prepared on one device: its input bindings, its persistent states (KV caches)
// and the outputs of the last run. What the C API's chitu_session handle wraps.
#pragma once

#include "Executor.h"

#include <map>
#include <memory>
#include <optional>

namespace chitu::rt {

enum class DeviceKind { Cpu, Cuda };

struct SessionOptions {
  // The GPU memory the weights may take (0: no limit while the weights fit in the free memory
  // less a margin, else that); below the model's weights, slices are
  // streamed from pinned host memory (docs/slicing.md). Ignored on the CPU.
  uint64_t gpuMemoryBytes = 0;
  // Regular expressions of weight names (the PATTERN of --place 'PATTERN=cpu'): the steps
  // reading a matching weight run on the CPU (Placement.h). Checked on the CPU too, where
  // every step runs there anyway.
  std::vector<std::string> cpuWeightPatterns;
};

class Session {
public:
  static StatusOr<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                   DeviceKind device, int deviceIndex,
                                                   const SessionOptions &options = {});
  ~Session();

  const Model &model() const { return *model_; }
  std::string deviceName() const { return executor_->deviceName(); }
  std::string gemmLibrary() const { return executor_->gemmLibrary(); }
  std::string placement() const { return executor_->placement(); }
  std::vector<double> copyTimes() const { return executor_->copyTimes(); }
  std::vector<uint64_t> copyBytes() const { return executor_->copyBytes(); }
  // Bytes of weights copied to the device per run of the streamed entry (0: none streamed).
  uint64_t streamedBytesPerRun() const {
    uint64_t bytes = 0;
    for (uint64_t b : copyBytes())
      bytes += b;
    return bytes;
  }

  Status setInput(int entry, const std::string &name, DType dtype, const std::vector<int64_t> &dims,
                  const void *data, size_t bytes);
  // Allocates the state input `name` with these dims (reusing the buffer when it has them)
  // and fills it with `data` (`bytes`), or zeros when `data` is null. Every entry with a
  // state input of that name shares the buffer.
  Status setState(const std::string &name, DType dtype, const std::vector<int64_t> &dims,
                  const void *data, size_t bytes);
  Status readState(const std::string &name, void *data, size_t bytes) const;
  Status run(int entry);
  // Per-step (kernel) timing of the following runs; see Executor::setProfiling.
  void setProfiling(bool on) { executor_->setProfiling(on); }
  std::vector<double> stepTimes() const { return executor_->stepTimes(); }
  // The shapes bound by the last run (null before any).
  const EntryShapes *lastShapes() const { return lastShapes_ ? &*lastShapes_ : nullptr; }
  // An output of the last run of `entry` (copied from the device on first use).
  StatusOr<const HostTensor *> output(int entry, const std::string &name);

private:
  struct State {
    DType dtype;
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    void *buffer = nullptr;
  };
  Status checkEntry(int entry) const;
  bool isState(int entry, int input) const;

  std::shared_ptr<const Model> model_;
  std::unique_ptr<Executor> executor_;
  std::vector<std::vector<std::optional<HostTensor>>> inputs_; // [entry][input]
  std::map<std::string, State> states_;
  int lastEntry_ = -1;
  std::optional<EntryShapes> lastShapes_;
  std::vector<void *> lastStates_;
  std::map<int, HostTensor> fetched_; // output index -> host copy, for the last run
};

} // namespace chitu::rt
