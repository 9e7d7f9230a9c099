#include "CudaExecutor.h"

#include "CublasLt.h"
#include "CudaDriver.h"
#include "cpu/CpuExecutor.h"
#include "support/Format.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>

namespace chitu::rt {
namespace {

using namespace cuda;

std::string kernelErrorText(uint32_t code);

// sm_XY[a] -> (X, Y, arch-specific)
bool parseArch(const std::string &arch, int &major, int &minor, bool &specific) {
  if (arch.size() < 5 || arch.compare(0, 3, "sm_") != 0)
    return false;
  std::string digits = arch.substr(3);
  specific = !digits.empty() && digits.back() == 'a';
  if (specific)
    digits.pop_back();
  if (digits.size() < 2 || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  major = std::stoi(digits.substr(0, digits.size() - 1));
  minor = digits.back() - '0';
  return true;
}

class CudaExecutor : public Executor {
public:
  CudaExecutor(std::shared_ptr<const Model> model, uint64_t gpuMemoryBytes, CpuPlacement cpu)
      : model_(std::move(model)), gpuMemoryBytes_(gpuMemoryBytes), cpu_(std::move(cpu)) {}

  ~CudaExecutor() override {
    if (!d_)
      return;
    if (ctx_)
      d_->cuCtxSetCurrent(ctx_);
    if (stream_)
      d_->cuStreamSynchronize(stream_);
    for (auto &[entry, eg] : graphs_)
      for (Graph &g : eg.graphs)
        d_->cuGraphExecDestroy(g.exec);
    for (CUdeviceptr p : weights_)
      if (p)
        d_->cuMemFree(p);
    for (CUdeviceptr p : slots_)
      if (p)
        d_->cuMemFree(p);
    for (StreamedSlice &s : streamed_)
      if (s.host)
        d_->cuMemFreeHost(s.host);
    for (CUevent ev : {runStart_, slotFree_[0], slotFree_[1], copied_[0], copied_[1]})
      if (ev)
        d_->cuEventDestroy(ev);
    if (copyStream_)
      d_->cuStreamDestroy(copyStream_);
    if (arena_)
      d_->cuMemFree(arena_);
    if (hostArena_)
      d_->cuMemFreeHost(hostArena_);
    if (libraryWorkspace_)
      d_->cuMemFree(libraryWorkspace_);
    if (kernelScratch_)
      d_->cuMemFree(kernelScratch_);
    gemm_.reset();
    if (status_)
      d_->cuMemFree(status_);
    for (CUmodule m : modules_)
      if (m)
        d_->cuModuleUnload(m);
    for (CUevent ev : events_)
      d_->cuEventDestroy(ev);
    for (CUevent ev : copyEvents_)
      d_->cuEventDestroy(ev);
    if (stream_)
      d_->cuStreamDestroy(stream_);
  }

  Status init(int deviceIndex) {
    auto drv = driver();
    if (!drv.isOk())
      return drv.status();
    d_ = *drv;
    int count = 0;
    CHITU_CU(d_->cuDeviceGetCount(&count));
    if (deviceIndex < 0 || deviceIndex >= count)
      return Status(StatusCode::DeviceError, "CUDA device " + std::to_string(deviceIndex) +
                                                 " does not exist (" + std::to_string(count) +
                                                 " visible)");
    CHITU_CU(d_->cuDeviceGet(&device_, deviceIndex));
    char name[256] = {0};
    CHITU_CU(d_->cuDeviceGetName(name, sizeof name - 1, device_));
    CHITU_CU(
        d_->cuDeviceGetAttribute(&major_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device_));
    CHITU_CU(
        d_->cuDeviceGetAttribute(&minor_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device_));
    arch_ = "sm_" + std::to_string(major_) + std::to_string(minor_);
    name_ = std::string(name) + " (" + arch_ + ")";
    auto ctx = primaryContext(device_);
    if (!ctx.isOk())
      return ctx.status();
    ctx_ = *ctx;
    CHITU_CU(d_->cuCtxSetCurrent(ctx_));
    CHITU_CU(d_->cuStreamCreate(&stream_, 0));
    CHITU_RETURN_IF_ERROR(loadKernels());
    CHITU_RETURN_IF_ERROR(groupCpuSteps());
    CHITU_RETURN_IF_ERROR(placeWeights());
    // CHITU_CUDA_GRAPHS=0 launches every kernel directly (to compare, or to debug).
    const char *graphs = std::getenv("CHITU_CUDA_GRAPHS");
    graphsEnabled_ = d_->cuStreamBeginCapture && !(graphs && std::string(graphs) == "0");
    // Many-row products on cuBLASLt where the model offers the route (cbin LibraryGemm) and
    // the library loads; CHITU_LIBRARY_GEMM=0 keeps the kernels' own tiles (to compare).
    const char *library = std::getenv("CHITU_LIBRARY_GEMM");
    bool wanted = !(library && std::string(library) == "0");
    bool offered = false;
    if (const auto *kernels = model_->artifact().kernels())
      for (const cbin::Kernel *k : *kernels)
        offered |= k->library() != nullptr;
    libraryOffered_ = offered;
    if (wanted && offered) {
      auto g = cuda::GemmLibrary::create();
      if (g.isOk())
        gemm_ = std::move(*g);
      else
        libraryNote_ = g.status().message();
    }
    return Status::ok();
  }

  std::string deviceName() const override { return name_; }
  std::string placement() const override { return placement_; }
  std::vector<double> copyTimes() const override { return copyTimes_; }
  std::vector<uint64_t> copyBytes() const override {
    std::vector<uint64_t> bytes;
    for (const StreamedSlice &s : streamed_)
      bytes.push_back(s.bytes);
    return bytes;
  }
  std::string gemmLibrary() const override {
    if (gemm_)
      return gemm_->version() + (libraryNote_.empty() ? "" : " (" + libraryNote_ + ")");
    return libraryNote_.empty() ? libraryOffered_ ? "none: CHITU_LIBRARY_GEMM=0" : ""
                                : "none: " + libraryNote_;
  }

  StatusOr<void *> allocateState(uint64_t bytes) override {
    CHITU_CU(d_->cuCtxSetCurrent(ctx_));
    CUdeviceptr p = 0;
    Status st = check(d_->cuMemAlloc(&p, std::max<uint64_t>(bytes, 4)), "cuMemAlloc");
    if (!st.isOk())
      return st.withContext("allocating a state of " + std::to_string(bytes) + " bytes");
    CHITU_RETURN_IF_ERROR(zeroState(reinterpret_cast<void *>(p), bytes));
    return reinterpret_cast<void *>(p);
  }
  void freeState(void *state) override {
    d_->cuCtxSetCurrent(ctx_);
    d_->cuMemFree(reinterpret_cast<CUdeviceptr>(state));
  }
  Status zeroState(void *state, uint64_t bytes) override {
    CHITU_CU(d_->cuCtxSetCurrent(ctx_));
    CHITU_CU(d_->cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(state), 0, bytes, stream_));
    CHITU_CU(d_->cuStreamSynchronize(stream_));
    return Status::ok();
  }
  Status readState(const void *state, void *host, uint64_t bytes) override {
    CHITU_CU(d_->cuCtxSetCurrent(ctx_));
    if (bytes)
      CHITU_CU(d_->cuMemcpyDtoHAsync(host, reinterpret_cast<CUdeviceptr>(state), bytes, stream_));
    CHITU_CU(d_->cuStreamSynchronize(stream_));
    return Status::ok();
  }

  Status writeState(void *state, const void *host, uint64_t bytes) override {
    CHITU_CU(d_->cuCtxSetCurrent(ctx_));
    if (bytes)
      CHITU_CU(d_->cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(state), host, bytes, stream_));
    CHITU_CU(d_->cuStreamSynchronize(stream_));
    return Status::ok();
  }

  Status run(int entry, const EntryShapes &shapes, const std::vector<const HostTensor *> &inputs,
             const std::vector<void *> &states) override {
    CHITU_CU(d_->cuCtxSetCurrent(ctx_));
    states_ = &states;
    runEntry_ = entry;
    const cbin::Artifact &a = model_->artifact();
    const cbin::Entry &e = *a.entries()->Get(entry);
    if (shapes.arenaSize > arenaBytes_) {
      if (arena_)
        CHITU_CU(d_->cuMemFree(arena_));
      arena_ = 0;
      arenaBytes_ = 0;
      CHITU_CU(d_->cuMemAlloc(&arena_, shapes.arenaSize));
      arenaBytes_ = shapes.arenaSize;
    }
    const bool cpuSteps = !cpuGroups_.empty() && !cpuGroups_[size_t(entry)].empty();
    if (cpuSteps && shapes.arenaSize > hostArenaBytes_) {
      if (hostArena_)
        CHITU_CU(d_->cuMemFreeHost(hostArena_));
      hostArena_ = nullptr;
      hostArenaBytes_ = 0;
      void *host = nullptr;
      CHITU_CU(d_->cuMemHostAlloc(&host, std::max<uint64_t>(shapes.arenaSize, 1), 0));
      hostArena_ = static_cast<uint8_t *>(host);
      hostArenaBytes_ = shapes.arenaSize;
    }
    hostError_.clear();
    size_t numSteps = e.steps()->size();
    if (numSteps > statusWords_) {
      if (status_)
        CHITU_CU(d_->cuMemFree(status_));
      status_ = 0;
      statusWords_ = 0;
      CHITU_CU(d_->cuMemAlloc(&status_, numSteps * 4));
      statusWords_ = numSteps;
    }
    if (numSteps)
      CHITU_CU(d_->cuMemsetD32Async(status_, 0, numSteps, stream_));
    for (uint32_t i = 0; i < e.inputs()->size(); ++i) {
      uint32_t t = e.inputs()->Get(i);
      if (inputs[i] && shapes.bytes[t])
        CHITU_CU(d_->cuMemcpyHtoDAsync(arena_ + shapes.offsets[t], inputs[i]->data.data(),
                                       shapes.bytes[t], stream_));
    }
    bool timed = profiling_ && d_->cuEventCreate;
    if (timed)
      while (events_.size() < numSteps + 1) {
        CUevent ev = nullptr;
        CHITU_CU(d_->cuEventCreate(&ev, 0));
        events_.push_back(ev);
      }
    // Reused from run to run: a decode step replayed from a graph allocates nothing here.
    // A step is one launch, or several on the library route (stepBegin_ says where each
    // step's start). A library workspace or kernel scratch too small for this run is
    // replaced, and the steps prepared again with its address.
    for (int attempt = 0; attempt < 2; ++attempt) {
      launches_.clear();
      stepBegin_.assign(1, 0);
      libraryNeeded_ = 0;
      scratchNeeded_ = 0;
      const bool streaming = entry == placementEntry_ && !streamed_.empty();
      // The CPU steps' shapes, kept alive by their launches (and graphs of them); copied only
      // when the sizes change (the symbols fix every shape), not on every decode step.
      std::shared_ptr<const EntryShapes> cpuShapes;
      if (cpuSteps) {
        std::shared_ptr<const EntryShapes> &last = cpuShapes_[size_t(entry)];
        if (!last || last->symbols != shapes.symbols)
          last = std::make_shared<EntryShapes>(shapes);
        cpuShapes = last;
      }
      for (uint32_t s = 0; s < numSteps; ++s) {
        if (streaming)
          prepareCopiesBefore(s);
        if (cpuSteps && cpuGroupOf_[size_t(entry)][s] >= 0) {
          prepareCpuStep(entry, s, cpuShapes);
        } else {
          Status st = prepare(*e.steps()->Get(s), s, shapes);
          if (!st.isOk())
            return st.withContext("kernel " +
                                  a.kernels()->Get(e.steps()->Get(s)->kernel())->name()->str());
        }
        if (streaming)
          prepareCopiesAfter(s);
        stepBegin_.push_back(launches_.size());
      }
      if (libraryNeeded_ <= libraryWorkspaceBytes_ && scratchNeeded_ <= kernelScratchBytes_)
        break;
      CHITU_CU(d_->cuStreamSynchronize(stream_));
      // Replaces a buffer smaller than `needed` (rounded up to whole words).
      auto grow = [&](CUdeviceptr &buffer, uint64_t &bytes, uint64_t needed) -> Status {
        if (needed <= bytes)
          return Status::ok();
        if (buffer)
          CHITU_CU(d_->cuMemFree(buffer));
        buffer = 0;
        bytes = 0;
        CHITU_CU(d_->cuMemAlloc(&buffer, (needed + 3) / 4 * 4));
        bytes = (needed + 3) / 4 * 4;
        return Status::ok();
      };
      CHITU_RETURN_IF_ERROR(grow(libraryWorkspace_, libraryWorkspaceBytes_, libraryNeeded_));
      const uint64_t oldScratchBytes = kernelScratchBytes_;
      CHITU_RETURN_IF_ERROR(grow(kernelScratch_, kernelScratchBytes_, scratchNeeded_));
      if (kernelScratchBytes_ != oldScratchBytes) // a new buffer: the counters start at zero
        CHITU_CU(d_->cuMemsetD32Async(kernelScratch_, 0, kernelScratchBytes_ / 4, stream_));
    }
    timingCopies_ = timed && entry == placementEntry_ && !streamed_.empty();
    if (timingCopies_)
      while (copyEvents_.size() < 2 * streamed_.size()) {
        CUevent ev = nullptr;
        CHITU_CU(d_->cuEventCreate(&ev, 0));
        copyEvents_.push_back(ev);
      }
    if (timed) {
      for (uint32_t s = 0; s < numSteps; ++s) {
        CHITU_CU(d_->cuEventRecord(events_[s], stream_));
        for (size_t i = stepBegin_[s]; i < stepBegin_[s + 1]; ++i)
          CHITU_RETURN_IF_ERROR(issue(launches_[i]));
      }
      CHITU_CU(d_->cuEventRecord(events_[numSteps], stream_));
    } else {
      CHITU_RETURN_IF_ERROR(replayOrIssue(entry, launches_));
    }
    std::vector<uint32_t> status(numSteps, 0);
    if (numSteps)
      CHITU_CU(d_->cuMemcpyDtoHAsync(status.data(), status_, numSteps * 4, stream_));
    CHITU_CU(d_->cuStreamSynchronize(stream_));
    stepTimes_.clear();
    for (uint32_t s = 0; timed && s < numSteps; ++s) {
      float ms = 0;
      CHITU_CU(d_->cuEventElapsedTime(&ms, events_[s], events_[s + 1]));
      stepTimes_.push_back(ms);
    }
    copyTimes_.clear();
    for (size_t i = 0; timingCopies_ && i < streamed_.size(); ++i) {
      float ms = 0;
      CHITU_CU(d_->cuEventElapsedTime(&ms, copyEvents_[2 * i], copyEvents_[2 * i + 1]));
      copyTimes_.push_back(ms);
    }
    timingCopies_ = false;
    if (!hostError_.empty())
      return runtimeError(hostError_ + "; the outputs are not valid");
    for (uint32_t s = 0; s < numSteps; ++s)
      if (status[s] != 0) {
        const cbin::Kernel &k = *a.kernels()->Get(e.steps()->Get(s)->kernel());
        return runtimeError("kernel " + k.name()->str() + ": " + kernelErrorText(status[s]) +
                            "; the outputs are not valid");
      }
    return Status::ok();
  }

  Status fetch(const EntryShapes &shapes, uint32_t t, const std::vector<void *> &states,
               HostTensor &out) override {
    CHITU_CU(d_->cuCtxSetCurrent(ctx_));
    states_ = &states;
    out.dtype = toDType(model_->artifact().tensors()->Get(t)->dtype());
    out.dims = shapes.dims[t];
    out.data.resize(shapes.bytes[t]);
    if (shapes.bytes[t])
      CHITU_CU(
          d_->cuMemcpyDtoHAsync(out.data.data(), pointer(t, shapes), shapes.bytes[t], stream_));
    CHITU_CU(d_->cuStreamSynchronize(stream_));
    return Status::ok();
  }

private:
  Status loadKernels() {
    const cbin::Artifact &a = model_->artifact();
    size_t n = a.kernels() ? a.kernels()->size() : 0;
    functions_.assign(n, nullptr);
    tilesFunctions_.assign(n, nullptr);
    libraryAFunctions_.assign(n, nullptr);
    libraryEpilogueFunctions_.assign(n, nullptr);
    libraryBFunctions_.assign(n, nullptr);
    // Kernels with the same code share one stored cubin: load each cubin once.
    std::map<const uint8_t *, CUmodule> loaded;
    for (uint32_t i = 0; i < n; ++i) {
      const cbin::Kernel &k = *a.kernels()->Get(i);
      int b = selectBinary(k, major_, minor_);
      if (b < 0) {
        std::set<std::string> have;
        if (k.binaries())
          for (const cbin::Binary *bin : *k.binaries())
            have.insert(bin->arch()->str());
        std::string list;
        for (const auto &h : have)
          list += (list.empty() ? "" : ", ") + h;
        return Status(StatusCode::Unsupported,
                      "the model has no code for this GPU (" + arch_ + "): it was compiled for " +
                          (list.empty() ? "no GPU" : list) + "; recompile with --target " + arch_);
      }
      const cbin::Binary &bin = *k.binaries()->Get(uint32_t(b));
      CUmodule &module = loaded[bin.cubin()->data()];
      if (!module) {
        // The driver needs the image in aligned memory that outlives the call.
        std::vector<uint64_t> image((bin.cubin()->size() + 7) / 8);
        std::memcpy(image.data(), bin.cubin()->data(), bin.cubin()->size());
        Status st = check(d_->cuModuleLoadData(&module, image.data()), "cuModuleLoadData");
        if (!st.isOk())
          return st.withContext("kernel " + k.name()->str() + " (" + bin.arch()->str() + ")");
        modules_.push_back(module);
      }
      auto getFunction = [&](const char *symbol, CUfunction &function) -> Status {
        Status st =
            check(d_->cuModuleGetFunction(&function, module, symbol), "cuModuleGetFunction");
        if (!st.isOk())
          return st.withContext("kernel " + k.name()->str() + " (function " + symbol + ")");
        // Dynamic shared memory beyond the default 48 KiB, counting the kernel's static
        // arrays, must be opted into; doing so for any amount is harmless.
        uint32_t smem = k.launch()->shared_bytes();
        if (smem > 0)
          CHITU_CU(d_->cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                          int(smem)));
        return Status::ok();
      };
      CHITU_RETURN_IF_ERROR(
          getFunction(k.symbol() ? k.symbol()->c_str() : k.name()->c_str(), functions_[i]));
      if (k.tiles_symbol())
        CHITU_RETURN_IF_ERROR(getFunction(k.tiles_symbol()->c_str(), tilesFunctions_[i]));
      if (const cbin::LibraryGemm *lib = k.library()) {
        if (lib->a_symbol())
          CHITU_RETURN_IF_ERROR(getFunction(lib->a_symbol()->c_str(), libraryAFunctions_[i]));
        if (lib->epilogue_symbol())
          CHITU_RETURN_IF_ERROR(
              getFunction(lib->epilogue_symbol()->c_str(), libraryEpilogueFunctions_[i]));
        if (lib->b_symbol())
          CHITU_RETURN_IF_ERROR(getFunction(lib->b_symbol()->c_str(), libraryBFunctions_[i]));
      }
    }
    return Status::ok();
  }

  // ---- weight placement (docs/slicing.md) ------------------------------------------------
  //
  // Within gpuMemoryBytes_ (0: no limit) every weight is resident. Below the model's weights,
  // the first k slices of the entry with slices stay resident (with every weight another entry
  // reads), k as large as fits beside the staging slots, and the other slices are streamed:
  // each one's weights that are not resident are packed at load into one pinned host image,
  // copied before the slice runs into one of two device slots on a copy stream. Streamed
  // slice i takes slot i % 2; its copy waits until slice i - 2, the slot's last user, has run
  // (so it overlaps slice i - 1), and the slice's first kernel waits for the copy. Kernels of
  // a streamed slice read its weights in the slot, so every run of the entry (and a CUDA
  // graph of it) repeats the same copies and launches.
  struct StreamedSlice {
    uint32_t firstStep = 0, numSteps = 0;
    void *host = nullptr; // the pinned image
    uint64_t bytes = 0;
    std::map<uint32_t, uint64_t> offsets; // weight index -> offset in the image and the slot
  };
  static constexpr uint64_t kSlotAlign = 256;

  Status uploadWeight(uint32_t i) {
    const cbin::Artifact &a = model_->artifact();
    uint64_t bytes = a.weights()->Get(i)->byte_size();
    if (!bytes)
      return Status::ok();
    Status st = check(d_->cuMemAlloc(&weights_[i], bytes), "cuMemAlloc");
    if (!st.isOk())
      return st.withContext("uploading weight '" + a.weights()->Get(i)->name()->str() + "' (" +
                            std::to_string(bytes) + " bytes)");
    CHITU_CU(d_->cuMemcpyHtoDAsync(weights_[i], model_->weightData(i), bytes, stream_));
    return Status::ok();
  }

  Status placeWeights() {
    const cbin::Artifact &a = model_->artifact();
    size_t n = a.weights() ? a.weights()->size() : 0;
    weights_.assign(n, 0);
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; ++i)
      total += a.weights()->Get(i)->byte_size();
    std::vector<bool> resident(n, true);
    uint64_t onCpu = 0;
    for (uint32_t i = 0; i < n; ++i)
      if (cpu_.weightOnCpu[i]) { // only CPU steps read it: it stays in host memory
        resident[i] = false;
        total -= a.weights()->Get(i)->byte_size();
        onCpu += a.weights()->Get(i)->byte_size();
      }
    const std::string cpuNote = cpu_.empty() ? ""
                                             : "; " + std::to_string(cpu_.stepsOnCpu) +
                                                   " steps on the CPU (" + humanBytes(onCpu) +
                                                   " of weights in host memory)";
    // Without a budget: the free memory less a margin for the KV cache and activations (10%
    // of the GPU's memory, at least 2 GiB), where the weights would not fit in it and the
    // model has slices to stream (else the allocation below reports what is missing).
    bool automatic = false;
    size_t freeBytes = 0, deviceBytes = 0;
    if (gpuMemoryBytes_ == 0 && d_->cuMemGetInfo(&freeBytes, &deviceBytes) == CUDA_SUCCESS) {
      const uint64_t margin = std::max<uint64_t>(uint64_t(2) << 30, deviceBytes / 10);
      if (!slicedEntries().empty() && total + margin > freeBytes) {
        gpuMemoryBytes_ = freeBytes > margin ? freeBytes - margin : 1;
        automatic = true;
      }
    }
    if (gpuMemoryBytes_ != 0 && total > gpuMemoryBytes_) {
      Status st = chooseStreamedSlices(total, resident);
      if (!st.isOk() && automatic)
        return st.withContext(humanBytes(freeBytes) + " of GPU memory free, " +
                              humanBytes(freeBytes - gpuMemoryBytes_) +
                              " kept for the KV cache and activations; give --gpu-memory "
                              "to choose");
      CHITU_RETURN_IF_ERROR(st);
    }
    uint64_t residentBytes = 0;
    for (uint32_t i = 0; i < n; ++i)
      if (resident[i]) {
        CHITU_RETURN_IF_ERROR(uploadWeight(i));
        residentBytes += a.weights()->Get(i)->byte_size();
      }
    CHITU_CU(d_->cuStreamSynchronize(stream_));
    if (streamed_.empty()) {
      placement_ = (cpu_.empty() ? "all weights resident (" : "all GPU weights resident (") +
                   humanBytes(residentBytes) + ")" + cpuNote;
      return Status::ok();
    }
    // The pinned images and the two slots.
    uint64_t slotBytes = 0, pinned = 0;
    for (StreamedSlice &s : streamed_) {
      CHITU_CU(d_->cuMemHostAlloc(&s.host, std::max<uint64_t>(s.bytes, 1), 0));
      for (auto [w, offset] : s.offsets)
        std::memcpy(static_cast<char *>(s.host) + offset, model_->weightData(w),
                    a.weights()->Get(w)->byte_size());
      slotBytes = std::max(slotBytes, s.bytes);
      pinned += s.bytes;
    }
    int numSlots = streamed_.size() > 1 ? 2 : 1;
    for (int i = 0; i < numSlots; ++i) {
      Status st = check(d_->cuMemAlloc(&slots_[i], std::max<uint64_t>(slotBytes, 1)), "cuMemAlloc");
      if (!st.isOk())
        return st.withContext("allocating a staging slot of " + humanBytes(slotBytes));
    }
    CHITU_CU(d_->cuStreamCreate(&copyStream_, 0));
    constexpr unsigned kDisableTiming = 2; // CU_EVENT_DISABLE_TIMING
    for (CUevent *ev : {&runStart_, &slotFree_[0], &slotFree_[1], &copied_[0], &copied_[1]})
      CHITU_CU(d_->cuEventCreate(ev, kDisableTiming));
    const cbin::Entry &e = *a.entries()->Get(uint32_t(placementEntry_));
    uint32_t numSlices = e.slices()->size();
    placement_ = std::string(automatic ? "free GPU memory short of the weights: " : "") +
                 std::to_string(numSlices - streamed_.size()) + " of " + std::to_string(numSlices) +
                 " slices resident (" + humanBytes(residentBytes) + " of weights), " +
                 std::to_string(streamed_.size()) + " streamed from pinned host memory (" +
                 humanBytes(pinned) + ") through " + std::to_string(numSlots) + " slot" +
                 (numSlots > 1 ? "s" : "") + " of " + humanBytes(slotBytes) + cpuNote;
    return Status::ok();
  }

  // Picks the resident slices (the first k) and lays out the streamed ones (streamed_).
  Status chooseStreamedSlices(uint64_t total, std::vector<bool> &resident) {
    const cbin::Artifact &a = model_->artifact();
    std::vector<uint32_t> sliced = slicedEntries();
    const std::string need = "the weights (" + humanBytes(total) +
                             ") exceed the GPU memory given to them (" +
                             humanBytes(gpuMemoryBytes_) + ")";
    if (sliced.size() != 1)
      return invalidArgument(need +
                             ": streaming needs exactly one entry with slices (this model "
                             "has " +
                             std::to_string(sliced.size()) + "; compile it with chitu-slice)");
    if (!d_->cuMemHostAlloc)
      return Status(StatusCode::DeviceError,
                    need + ": the CUDA driver lacks pinned memory or stream events");
    placementEntry_ = int(sliced[0]);
    const cbin::Entry &e = *a.entries()->Get(sliced[0]);
    auto weightOf = [&](uint32_t tensor) { return a.tensors()->Get(tensor)->weight(); };
    auto bytesOf = [&](uint32_t w) { return a.weights()->Get(w)->byte_size(); };
    const uint32_t numSlices = e.slices()->size();
    std::vector<std::set<uint32_t>> sliceWeights(numSlices);
    std::set<uint32_t> inSlices;
    for (uint32_t s = 0; s < numSlices; ++s)
      if (const auto *list = e.slices()->Get(s)->weights())
        for (uint32_t t : *list)
          if (!cpu_.weightOnCpu[weightOf(t)]) {
            sliceWeights[s].insert(weightOf(t));
            inSlices.insert(weightOf(t));
          }
    // Weights other entries read, and weights no slice reads, stay resident.
    std::set<uint32_t> res;
    for (uint32_t other = 0; other < a.entries()->size(); ++other)
      if (other != sliced[0])
        for (const cbin::Step *step : *a.entries()->Get(other)->steps())
          for (uint32_t t : *step->inputs())
            if (a.tensors()->Get(t)->storage() == cbin::StorageKind::WEIGHT &&
                !cpu_.weightOnCpu[weightOf(t)])
              res.insert(weightOf(t));
    for (uint32_t w = 0; w < a.weights()->size(); ++w)
      if (!inSlices.count(w) && !cpu_.weightOnCpu[w])
        res.insert(w);
    // A streamed slice's image: its weights that are not resident, each 256-byte aligned.
    auto imageBytes = [&](uint32_t s, const std::set<uint32_t> &resident) {
      uint64_t bytes = 0;
      for (uint32_t w : sliceWeights[s])
        if (!resident.count(w))
          bytes += (bytesOf(w) + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
      return bytes;
    };
    // The most slices resident (the first k) that fit beside the slots of the others.
    std::optional<uint32_t> chosen;
    std::set<uint32_t> chosenRes;
    uint64_t resBytes = 0;
    for (uint32_t w : res)
      resBytes += bytesOf(w);
    for (uint32_t k = 0; k <= numSlices; ++k) {
      if (k > 0)
        for (uint32_t w : sliceWeights[k - 1])
          if (res.insert(w).second)
            resBytes += bytesOf(w);
      uint64_t slot = 0;
      for (uint32_t s = k; s < numSlices; ++s)
        slot = std::max(slot, imageBytes(s, res));
      if (resBytes + slot * std::min<uint64_t>(numSlices - k, 2) <= gpuMemoryBytes_) {
        chosen = k;
        chosenRes = res;
      }
    }
    if (!chosen) {
      // Even with every slice streamed the two slots do not fit.
      uint64_t largest = 0;
      uint32_t which = 0;
      for (uint32_t s = 0; s < numSlices; ++s) {
        uint64_t bytes = 0; // its weights on the GPU
        for (uint32_t w : sliceWeights[s])
          bytes += bytesOf(w);
        if (bytes > largest)
          largest = bytes, which = s;
      }
      return invalidArgument(need +
                             ", and streaming needs at least two staging slots of the "
                             "largest slice (slice " +
                             std::to_string(which) + ", " + humanBytes(largest) +
                             " of weights) besides the weights other entries read");
    }
    streamedOfStep_.assign(e.steps()->size(), -1);
    for (uint32_t s = *chosen; s < numSlices; ++s) {
      StreamedSlice ss;
      ss.firstStep = e.slices()->Get(s)->first_step();
      ss.numSteps = e.slices()->Get(s)->num_steps();
      for (uint32_t w : sliceWeights[s])
        if (!chosenRes.count(w) && bytesOf(w)) {
          ss.offsets[w] = ss.bytes;
          ss.bytes += (bytesOf(w) + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
          resident[w] = false;
        }
      for (uint32_t st = ss.firstStep; st < ss.firstStep + ss.numSteps; ++st)
        streamedOfStep_[st] = int(streamed_.size());
      streamed_.push_back(std::move(ss));
    }
    return Status::ok();
  }

  // ---- CPU placement (core/Placement.h) --------------------------------------------------
  //
  // Consecutive CPU steps form a group. Before a group its inputs (arena tensors it reads that
  // it does not write) are copied into the host arena, a pinned mirror of the device arena's
  // layout; each step runs in a host function (cuLaunchHostFunc) on the CPU executor's code,
  // weights read where the model holds them; after it, the tensors it writes that later steps
  // or the entry's outputs read are copied back. All in stream order, so CUDA graphs capture
  // it like any launch.
  // One CPU step of a run, the host function's argument (kept alive by the launches).
  struct CpuWork {
    CudaExecutor *self = nullptr;
    int entry = 0;
    uint32_t step = 0;
    std::shared_ptr<const EntryShapes> shapes;
    uint8_t *host = nullptr; // the host arena
    bool operator==(const CpuWork &o) const {
      return self == o.self && entry == o.entry && step == o.step && host == o.host &&
             shapes->symbols == o.shapes->symbols;
    }
  };
  struct CpuGroup {
    uint32_t first = 0, count = 0;
    std::vector<uint32_t> inputs, outputs; // arena tensors copied in and out
  };

  Status groupCpuSteps() {
    if (cpu_.empty())
      return Status::ok();
    if (!d_->cuLaunchHostFunc)
      return Status(StatusCode::DeviceError,
                    "the CUDA driver lacks cuLaunchHostFunc or pinned memory, which steps "
                    "placed on the CPU need");
    const cbin::Artifact &a = model_->artifact();
    auto isArena = [&](uint32_t t) {
      return a.tensors()->Get(t)->storage() == cbin::StorageKind::ARENA;
    };
    cpuGroups_.resize(a.entries()->size());
    cpuGroupOf_.resize(a.entries()->size());
    cpuShapes_.resize(a.entries()->size());
    for (uint32_t en = 0; en < a.entries()->size(); ++en) {
      const cbin::Entry &e = *a.entries()->Get(en);
      const uint32_t n = e.steps()->size();
      cpuGroupOf_[en].assign(n, -1);
      for (uint32_t s = 0; s < n;) {
        if (!cpu_.stepOnCpu[en][s]) {
          ++s;
          continue;
        }
        CpuGroup g;
        g.first = s;
        while (s < n && cpu_.stepOnCpu[en][s])
          cpuGroupOf_[en][s++] = int(cpuGroups_[en].size());
        g.count = s - g.first;
        std::set<uint32_t> written, in;
        for (uint32_t st = g.first; st < s; ++st) {
          for (uint32_t t : *e.steps()->Get(st)->inputs())
            if (isArena(t) && !written.count(t) && in.insert(t).second)
              g.inputs.push_back(t);
          for (uint32_t t : *e.steps()->Get(st)->outputs())
            written.insert(t);
        }
        std::set<uint32_t> readLater(e.outputs()->begin(), e.outputs()->end());
        for (uint32_t st = s; st < n; ++st)
          for (uint32_t t : *e.steps()->Get(st)->inputs())
            readLater.insert(t);
        for (uint32_t t : written)
          if (isArena(t) && readLater.count(t))
            g.outputs.push_back(t);
        cpuGroups_[en].push_back(std::move(g));
      }
    }
    return Status::ok();
  }

  // Step s of `entry` on the CPU: the group's inputs copied to the host first, its outputs
  // back after its last step.
  void prepareCpuStep(int entry, uint32_t s, const std::shared_ptr<const EntryShapes> &shapes) {
    const CpuGroup &g = cpuGroups_[size_t(entry)][size_t(cpuGroupOf_[size_t(entry)][s])];
    auto copies = [&](Sync kind, const std::vector<uint32_t> &tensors) {
      Launch &c = launches_.append();
      c.sync = kind;
      for (uint32_t t : tensors)
        if (shapes->bytes[t]) {
          c.params.push_back(arena_ + shapes->offsets[t]);
          c.params.push_back(reinterpret_cast<uint64_t>(hostArena_ + shapes->offsets[t]));
          c.params.push_back(shapes->bytes[t]);
        }
    };
    if (s == g.first)
      copies(Sync::ToHost, g.inputs);
    auto work = std::make_shared<CpuWork>();
    work->self = this;
    work->entry = entry;
    work->step = s;
    work->shapes = shapes;
    work->host = hostArena_;
    Launch &h = launches_.append();
    h.sync = Sync::CpuStep;
    h.cpuWork = std::move(work);
    if (s == g.first + g.count - 1)
      copies(Sync::ToDevice, g.outputs);
  }

  static void cpuStepCallback(void *data) {
    const CpuWork &w = *static_cast<const CpuWork *>(data);
    w.self->runCpuStep(w);
  }

  // On the driver's thread, in stream order; an error skips the run's remaining CPU steps
  // and is reported by run() after the stream synchronises.
  void runCpuStep(const CpuWork &w) {
    if (!hostError_.empty())
      return;
    const cbin::Artifact &a = model_->artifact();
    const cbin::Step &step = *a.entries()->Get(uint32_t(w.entry))->steps()->Get(w.step);
    Status st = runStepOnCpu(
        *model_, step, *w.shapes,
        [&](uint32_t t) -> uint8_t * {
          const cbin::Tensor &tensor = *a.tensors()->Get(t);
          if (tensor.storage() == cbin::StorageKind::WEIGHT)
            return const_cast<uint8_t *>(model_->weightData(tensor.weight()));
          return w.host + w.shapes->offsets[t]; // states never run on the CPU (Placement)
        },
        cpu::Accumulate::Float);
    if (!st.isOk())
      hostError_ = "kernel " + a.kernels()->Get(step.kernel())->name()->str() +
                   " (on the CPU): " + st.message();
  }

  // The entries that have slices (chitu-slice ran on them).
  std::vector<uint32_t> slicedEntries() const {
    std::vector<uint32_t> out;
    const cbin::Artifact &a = model_->artifact();
    for (uint32_t e = 0; e < a.entries()->size(); ++e)
      if (a.entries()->Get(e)->slices())
        out.push_back(e);
    return out;
  }

  // The device address of a weight read by step `stepIndex` of the run's entry (weights of
  // a streamed slice: their place in its slot).
  CUdeviceptr weightPointer(uint32_t w, int entry, uint32_t stepIndex) const {
    if (weights_[w] || entry != placementEntry_)
      return weights_[w];
    int s = streamedOfStep_[stepIndex];
    if (s < 0)
      return 0;
    auto it = streamed_[size_t(s)].offsets.find(w);
    return it == streamed_[size_t(s)].offsets.end() ? 0 : slots_[s % 2] + it->second;
  }

  // A tensor's device address; a weight's as step `stepIndex` of the running entry reads it
  // (-1: outside a step, where only resident weights have one).
  CUdeviceptr pointer(uint32_t tensor, const EntryShapes &shapes, int64_t stepIndex = -1) const {
    const cbin::Tensor &t = *model_->artifact().tensors()->Get(tensor);
    if (t.storage() == cbin::StorageKind::WEIGHT)
      return stepIndex < 0 ? weights_[t.weight()]
                           : weightPointer(t.weight(), runEntry_, uint32_t(stepIndex));
    if (t.storage() == cbin::StorageKind::STATE)
      return reinterpret_cast<CUdeviceptr>((*states_)[size_t(shapes.stateOf[tensor])]);
    return arena_ + shapes.offsets[tensor];
  }

  // One kernel launch with everything it takes, so that a step's launches can be compared
  // with those a CUDA graph was captured from.
  // A library GEMM instead when `gemm` is set: params are then A, B, D and the workspace.
  // Or, with weight streaming, an ordering or copy item (`sync`): the run's start, a
  // streamed slice's copy into slot `slot`, the wait for it, the slot's release.
  // Or, for steps placed on the CPU: copies of a CPU group's boundary tensors between the
  // arena and its host mirror (params: device address, host address, bytes per tensor),
  // and the host function running one CPU step (cpuWork).
  enum class Sync : unsigned char {
    None,
    RunStart,
    Copy,
    AwaitCopy,
    SlotFree,
    ToHost,
    CpuStep,
    ToDevice
  };
  struct Launch {
    CUfunction function = nullptr; // null: an empty grid, nothing to launch
    const cuda::GemmLibrary::Plan *gemm = nullptr;
    unsigned grid[3] = {0, 0, 0}, block[3] = {0, 0, 0}, sharedBytes = 0;
    std::vector<uint64_t> params; // device pointers, then int64 scalars
    Sync sync = Sync::None;
    int slot = 0;
    bool afterRunStart = false; // Copy: waits for the run's start, not the slot's release
    int streamedIndex = 0;      // Copy: which streamed slice
    const void *host = nullptr; // Copy: the pinned image, `bytes` long
    uint64_t bytes = 0;
    std::shared_ptr<const CpuWork> cpuWork; // CpuStep
    bool operator==(const Launch &o) const {
      return function == o.function && gemm == o.gemm && std::equal(grid, grid + 3, o.grid) &&
             std::equal(block, block + 3, o.block) && sharedBytes == o.sharedBytes &&
             params == o.params && sync == o.sync && slot == o.slot &&
             afterRunStart == o.afterRunStart && streamedIndex == o.streamedIndex &&
             host == o.host && bytes == o.bytes &&
             (cpuWork == o.cpuWork || (cpuWork && o.cpuWork && *cpuWork == *o.cpuWork));
    }
  };

  // A launch grid's three Exprs (Model checked there are three).
  static Status evalGrid(const flatbuffers::Vector<flatbuffers::Offset<cbin::Expr>> &exprs,
                         const EntryShapes &shapes, int64_t grid[3]) {
    for (uint32_t i = 0; i < 3; ++i) {
      auto g = shapes.eval(*exprs.Get(i));
      if (!g.isOk())
        return g.status();
      grid[i] = *g;
    }
    return Status::ok();
  }

  // The launches of a run: elements are reused from run to run (their parameter vectors keep
  // their capacity), so a decode step replayed from a graph allocates nothing.
  class LaunchList {
  public:
    Launch &append() {
      if (size_ == items_.size())
        items_.emplace_back();
      Launch &l = items_[size_++];
      std::vector<uint64_t> params = std::move(l.params);
      l = Launch();
      l.params = std::move(params);
      l.params.clear();
      return l;
    }
    void pop() { --size_; }
    void clear() { size_ = 0; }
    size_t size() const { return size_; }
    const Launch &operator[](size_t i) const { return items_[i]; }
    const Launch *begin() const { return items_.data(); }
    const Launch *end() const { return items_.data() + size_; }
    bool operator==(const std::vector<Launch> &o) const {
      return std::equal(begin(), end(), o.begin(), o.end());
    }
    bool operator!=(const std::vector<Launch> &o) const { return !(*this == o); }
    std::vector<Launch> copy() const { return std::vector<Launch>(begin(), end()); }

  private:
    std::vector<Launch> items_;
    size_t size_ = 0;
  };

  // Appends the launches of one step to launches_.
  Status prepare(const cbin::Step &step, uint32_t stepIndex, const EntryShapes &shapes) {
    Launch &out = launches_.append();
    const cbin::Kernel &k = *model_->artifact().kernels()->Get(step.kernel());
    const cbin::Launch &l = *k.launch();
    int64_t grid[3];
    CHITU_RETURN_IF_ERROR(evalGrid(*l.grid(), shapes, grid));
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0)
      return Status::ok(); // empty tensors: nothing to compute
    if (grid[0] < 0 || grid[0] > INT32_MAX || grid[1] < 0 || grid[1] > 65535 || grid[2] < 0 ||
        grid[2] > 65535)
      return runtimeError("launch grid (" + std::to_string(grid[0]) + ", " +
                          std::to_string(grid[1]) + ", " + std::to_string(grid[2]) +
                          ") exceeds the GPU's limits");
    out.function = functions_[step.kernel()];
    if (k.tiles_when()) { // Model checked that tiles_symbol comes with it
      auto tiles = shapes.eval(*k.tiles_when());
      if (!tiles.isOk())
        return tiles.status();
      if (*tiles != 0)
        out.function = tilesFunctions_[step.kernel()];
    }
    for (uint32_t i = 0; i < 3; ++i) {
      out.grid[i] = unsigned(grid[i]);
      out.block[i] = l.block()->Get(i);
    }
    out.sharedBytes = l.shared_bytes();
    if (l.shared_bytes_expr()) {
      auto bytes = shapes.eval(*l.shared_bytes_expr());
      if (!bytes.isOk())
        return bytes.status();
      if (*bytes < 0 || *bytes > int64_t(l.shared_bytes()))
        return invalidArtifact("a launch asks for " + std::to_string(*bytes) +
                               " bytes of shared memory, more than the kernel's " +
                               std::to_string(l.shared_bytes()));
      out.sharedBytes = unsigned(*bytes);
    }
    if (l.scratch_bytes()) {
      auto bytes = shapes.eval(*l.scratch_bytes());
      if (!bytes.isOk())
        return bytes.status();
      if (*bytes < 0)
        return invalidArtifact("a launch asks for a negative amount of scratch");
      scratchNeeded_ = std::max(scratchNeeded_, uint64_t(*bytes));
    }
    CHITU_RETURN_IF_ERROR(kernelParams(step, stepIndex, shapes, out.params));
    if (gemm_ && k.library()) { // replaces the launch where the route applies
      auto when = shapes.eval(*k.library()->when());
      if (!when.isOk())
        return when.status();
      if (*when != 0)
        return prepareLibrary(step, out.params, shapes, grid);
    }
    return Status::ok();
  }

  // Weight streaming around step s (see placeWeights): at the run's start the first two
  // streamed slices' copies; before a streamed slice, the wait for its copy; after it, the
  // slot's release and the copy of the streamed slice that takes the slot next.
  void appendCopy(size_t streamedIndex, bool afterRunStart) {
    Launch &c = launches_.append();
    c.sync = Sync::Copy;
    c.slot = int(streamedIndex % 2);
    c.afterRunStart = afterRunStart;
    c.streamedIndex = int(streamedIndex);
    c.host = streamed_[streamedIndex].host;
    c.bytes = streamed_[streamedIndex].bytes;
  }
  void prepareCopiesBefore(uint32_t s) {
    if (s == 0) {
      launches_.append().sync = Sync::RunStart;
      for (size_t i = 0; i < std::min<size_t>(2, streamed_.size()); ++i)
        appendCopy(i, true);
    }
    int i = streamedOfStep_[s];
    if (i >= 0 && streamed_[size_t(i)].firstStep == s) {
      Launch &w = launches_.append();
      w.sync = Sync::AwaitCopy;
      w.slot = i % 2;
    }
  }
  void prepareCopiesAfter(uint32_t s) {
    int i = streamedOfStep_[s];
    if (i < 0 || streamed_[size_t(i)].firstStep + streamed_[size_t(i)].numSteps - 1 != s)
      return;
    Launch &f = launches_.append();
    f.sync = Sync::SlotFree;
    f.slot = i % 2;
    if (size_t(i) + 2 < streamed_.size())
      appendCopy(size_t(i) + 2, false);
  }

  // A kernel's parameters: its outputs, its inputs, the status word if it takes one, its
  // scalars, the kernel scratch if it takes it.
  Status kernelParams(const cbin::Step &step, uint32_t stepIndex, const EntryShapes &shapes,
                      std::vector<uint64_t> &params) const {
    const cbin::Launch &l = *model_->artifact().kernels()->Get(step.kernel())->launch();
    params.clear();
    for (uint32_t t : *step.outputs())
      params.push_back(pointer(t, shapes));
    for (uint32_t t : *step.inputs())
      params.push_back(pointer(t, shapes, stepIndex));
    if (l.uses_status())
      params.push_back(status_ + 4 * stepIndex);
    if (l.scalar_args())
      for (const cbin::Expr *e : *l.scalar_args()) {
        auto v = shapes.eval(*e);
        if (!v.isOk())
          return v.status();
        params.push_back(uint64_t(*v));
      }
    if (l.scratch_bytes())
      params.push_back(kernelScratch_);
    return Status::ok();
  }

  // The library route of a product kernel (cbin LibraryGemm), replacing the launch prepare()
  // appended last: dequantized weights into the workspace (the B function, where the kernel
  // dequantizes some), A's rows into the workspace (unless A is an input), one library GEMM
  // per product, then the epilogue function (unless the products are the outputs). Workspace
  // layout, 256-byte aligned parts: A, the products that are not outputs, the dequantized
  // weights, the library's scratch. `params` are the kernel's parameters (kernelParams) and
  // `tileGrid` its grid (its tiles), which the A and epilogue functions take and launch with.
  Status prepareLibrary(const cbin::Step &step, std::vector<uint64_t> params,
                        const EntryShapes &shapes, const int64_t tileGrid[3]) {
    const cbin::Kernel &k = *model_->artifact().kernels()->Get(step.kernel());
    const cbin::LibraryGemm &lib = *k.library();
    auto m = shapes.eval(*lib.m()), kk = shapes.eval(*lib.k());
    if (!m.isOk())
      return m.status();
    if (!kk.isOk())
      return kk.status();
    const size_t numOutputs = step.outputs()->size();
    if (numOutputs + k.num_inputs() > params.size())
      return invalidArtifact("a step's operands do not match its kernel");
    uint64_t used = 0;
    auto take = [&](uint64_t bytes) {
      uint64_t at = used;
      used += (bytes + 255) / 256 * 256;
      return libraryWorkspace_ + at;
    };
    const uint64_t a = lib.a_input() >= 0 ? params[numOutputs + uint32_t(lib.a_input())]
                                          : take(uint64_t(*m) * uint64_t(*kk) * 2);
    std::vector<int64_t> columns;
    std::vector<uint64_t> products;
    for (const cbin::LibraryProduct *p : *lib.products()) {
      auto n = shapes.eval(*p->n());
      if (!n.isOk())
        return n.status();
      columns.push_back(*n);
      products.push_back(p->output() >= 0 ? params[uint32_t(p->output())]
                                          : take(uint64_t(*m) * uint64_t(*n) * 2));
    }
    // B of each product: its weight input, or its dequantized copy in the workspace.
    std::vector<uint64_t> weights, dequantized;
    for (uint32_t j = 0; j < lib.products()->size(); ++j) {
      const cbin::LibraryProduct *p = lib.products()->Get(j);
      const uint64_t b = p->dequantized() ? take(uint64_t(columns[j]) * uint64_t(*kk) * 2) : 0;
      if (lib.b_symbol())
        dequantized.push_back(b);
      weights.push_back(b ? b : params[numOutputs + p->weight_input()]);
    }
    const uint64_t scratch = take(cuda::GemmLibrary::kWorkspaceBytes);
    // A shape the library has no algorithm for keeps the kernel's own tiles (the launch
    // prepare() appended), noted once for gemmLibrary().
    const bool f16 = lib.dtype() == cbin::DType::F16;
    std::vector<const cuda::GemmLibrary::Plan *> plans;
    for (uint32_t j = 0; j < lib.products()->size(); ++j) {
      auto plan = gemm_->plan(*m, columns[j], *kk, f16,
                              cuda::GemmLibrary::alignmentOf({a, weights[j], products[j]}));
      if (!plan.isOk()) {
        if (libraryNote_.empty())
          libraryNote_ = plan.status().message() + "; that kernel keeps its own tiles";
        return Status::ok();
      }
      plans.push_back(*plan);
    }
    launches_.pop();
    libraryNeeded_ = std::max(libraryNeeded_, used);
    const cbin::Launch &l = *k.launch();
    params.push_back(a);
    params.insert(params.end(), products.begin(), products.end());
    params.insert(params.end(), dequantized.begin(), dequantized.end());
    auto kernel = [&](CUfunction function, const int64_t grid[3]) -> Status {
      Launch &out = launches_.append();
      out.function = function;
      for (uint32_t i = 0; i < 3; ++i) {
        if (grid[i] <= 0 || grid[i] > (i == 0 ? INT32_MAX : 65535))
          return runtimeError("library route launch grid exceeds the GPU's limits");
        out.grid[i] = unsigned(grid[i]);
        out.block[i] = l.block()->Get(i);
      }
      out.params = params;
      return Status::ok();
    };
    if (lib.b_symbol()) {
      int64_t grid[3];
      CHITU_RETURN_IF_ERROR(evalGrid(*lib.b_grid(), shapes, grid));
      CHITU_RETURN_IF_ERROR(kernel(libraryBFunctions_[step.kernel()], grid));
    }
    if (lib.a_input() < 0) {
      int64_t grid[3];
      CHITU_RETURN_IF_ERROR(evalGrid(*lib.a_grid(), shapes, grid));
      CHITU_RETURN_IF_ERROR(kernel(libraryAFunctions_[step.kernel()], grid));
    }
    for (uint32_t j = 0; j < lib.products()->size(); ++j) {
      Launch &g = launches_.append();
      g.gemm = plans[j];
      g.params = {a, weights[j], products[j], scratch};
    }
    if (lib.epilogue_symbol())
      CHITU_RETURN_IF_ERROR(kernel(libraryEpilogueFunctions_[step.kernel()], tileGrid));
    return Status::ok();
  }

  Status issue(const Launch &l) {
    switch (l.sync) {
    case Sync::None:
      break;
    case Sync::RunStart:
      CHITU_CU(d_->cuEventRecord(runStart_, stream_));
      return Status::ok();
    case Sync::Copy:
      CHITU_CU(
          d_->cuStreamWaitEvent(copyStream_, l.afterRunStart ? runStart_ : slotFree_[l.slot], 0));
      if (timingCopies_)
        CHITU_CU(d_->cuEventRecord(copyEvents_[2 * size_t(l.streamedIndex)], copyStream_));
      if (l.bytes)
        CHITU_CU(d_->cuMemcpyHtoDAsync(slots_[l.slot], l.host, l.bytes, copyStream_));
      if (timingCopies_)
        CHITU_CU(d_->cuEventRecord(copyEvents_[2 * size_t(l.streamedIndex) + 1], copyStream_));
      CHITU_CU(d_->cuEventRecord(copied_[l.slot], copyStream_));
      return Status::ok();
    case Sync::AwaitCopy:
      CHITU_CU(d_->cuStreamWaitEvent(stream_, copied_[l.slot], 0));
      return Status::ok();
    case Sync::SlotFree:
      CHITU_CU(d_->cuEventRecord(slotFree_[l.slot], stream_));
      return Status::ok();
    case Sync::ToHost:
      for (size_t i = 0; i + 2 < l.params.size(); i += 3)
        CHITU_CU(d_->cuMemcpyDtoHAsync(reinterpret_cast<void *>(l.params[i + 1]), l.params[i],
                                       l.params[i + 2], stream_));
      return Status::ok();
    case Sync::CpuStep:
      CHITU_CU(d_->cuLaunchHostFunc(stream_, &CudaExecutor::cpuStepCallback,
                                    const_cast<CpuWork *>(l.cpuWork.get())));
      return Status::ok();
    case Sync::ToDevice:
      for (size_t i = 0; i + 2 < l.params.size(); i += 3)
        CHITU_CU(d_->cuMemcpyHtoDAsync(l.params[i], reinterpret_cast<const void *>(l.params[i + 1]),
                                       l.params[i + 2], stream_));
      return Status::ok();
    }
    if (l.gemm)
      return gemm_->run(*l.gemm, l.params[0], l.params[1], l.params[2], l.params[3], stream_);
    if (!l.function)
      return Status::ok();
    std::vector<void *> params;
    for (const uint64_t &p : l.params)
      params.push_back(const_cast<uint64_t *>(&p));
    CHITU_CU(d_->cuLaunchKernel(l.function, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1],
                                l.block[2], l.sharedBytes, stream_, params.data(), nullptr));
    return Status::ok();
  }

  // CUDA graphs: a step whose launches (kernels, grids, pointers, sizes) equal those of the
  // entry's previous step is captured once and replayed from then on, so a decode loop pays
  // one graph launch per step instead of one launch per kernel. Prefill, whose sizes change
  // from call to call, launches directly. A few graphs per entry are kept (batch sizes).
  struct Graph {
    std::vector<Launch> launches;
    CUgraphExec exec = nullptr;
  };
  struct EntryGraphs {
    std::vector<Launch> previous; // the last step launched directly
    std::vector<Graph> graphs;    // most recently used last
  };
  static constexpr size_t kGraphsPerEntry = 4;

  Status replayOrIssue(int entry, const LaunchList &launches) {
    if (!graphsEnabled_) {
      for (const Launch &l : launches)
        CHITU_RETURN_IF_ERROR(issue(l));
      return Status::ok();
    }
    EntryGraphs &eg = graphs_[entry];
    for (size_t i = 0; i < eg.graphs.size(); ++i)
      if (launches == eg.graphs[i].launches) {
        std::rotate(eg.graphs.begin() + long(i), eg.graphs.begin() + long(i) + 1, eg.graphs.end());
        CHITU_CU(d_->cuGraphLaunch(eg.graphs.back().exec, stream_));
        return Status::ok();
      }
    if (launches != eg.previous) {
      for (const Launch &l : launches)
        CHITU_RETURN_IF_ERROR(issue(l));
      eg.previous = launches.copy();
      return Status::ok();
    }
    CHITU_CU(d_->cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    Status captured = Status::ok();
    for (const Launch &l : launches)
      if (captured.isOk())
        captured = issue(l);
    CUgraph graph = nullptr;
    CUresult ended = d_->cuStreamEndCapture(stream_, &graph);
    CUgraphExec exec = nullptr;
    if (captured.isOk() && ended == CUDA_SUCCESS)
      captured = check(d_->cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiate");
    else if (captured.isOk())
      captured = check(ended, "cuStreamEndCapture");
    if (graph)
      d_->cuGraphDestroy(graph);
    CHITU_RETURN_IF_ERROR(captured);
    if (eg.graphs.size() == kGraphsPerEntry) {
      d_->cuGraphExecDestroy(eg.graphs.front().exec);
      eg.graphs.erase(eg.graphs.begin());
    }
    eg.graphs.push_back(Graph{launches.copy(), exec});
    eg.previous.clear();
    CHITU_CU(d_->cuGraphLaunch(exec, stream_));
    return Status::ok();
  }

  std::shared_ptr<const Model> model_;
  const Driver *d_ = nullptr;
  CUdevice device_ = 0;
  CUcontext ctx_ = nullptr;
  CUstream stream_ = nullptr;
  int major_ = 0, minor_ = 0;
  std::string arch_, name_;
  std::vector<CUmodule> modules_;
  std::vector<CUfunction> functions_;
  std::vector<CUfunction> tilesFunctions_; // a product kernel's tile routines (Kernel.tiles_*)
  std::vector<CUfunction> libraryAFunctions_, libraryEpilogueFunctions_,
      libraryBFunctions_;                   // Kernel.library
  std::unique_ptr<cuda::GemmLibrary> gemm_; // null: no library route
  std::string libraryNote_;                 // why there is none, when the model offers it
  bool libraryOffered_ = false;
  CUdeviceptr libraryWorkspace_ = 0;
  uint64_t libraryWorkspaceBytes_ = 0, libraryNeeded_ = 0;
  // Kernel scratch (cbin Launch.scratch_bytes): zeroed when allocated; shared by the kernels.
  CUdeviceptr kernelScratch_ = 0;
  uint64_t kernelScratchBytes_ = 0, scratchNeeded_ = 0;
  std::vector<size_t> stepBegin_; // launches_[stepBegin_[s] .. stepBegin_[s + 1]): step s
  std::vector<CUevent> events_;   // profiling: one before each step and one after the last
  LaunchList launches_;           // the current run's, prepared before any is issued
  bool graphsEnabled_ = false;
  std::map<int, EntryGraphs> graphs_;
  std::vector<CUdeviceptr> weights_; // 0 for streamed weights
  uint64_t gpuMemoryBytes_ = 0;
  std::string placement_;
  int placementEntry_ = -1; // the entry whose slices are streamed
  std::vector<StreamedSlice> streamed_;
  std::vector<int> streamedOfStep_; // per step of placementEntry_: its streamed slice, or -1
  CUdeviceptr slots_[2] = {0, 0};
  CUstream copyStream_ = nullptr;
  CUevent runStart_ = nullptr, slotFree_[2] = {nullptr, nullptr}, copied_[2] = {nullptr, nullptr};
  int runEntry_ = -1;
  bool timingCopies_ = false;       // this run records copyEvents_ (profiling)
  std::vector<CUevent> copyEvents_; // per streamed slice: before and after its copy
  std::vector<double> copyTimes_;
  CUdeviceptr arena_ = 0;
  uint64_t arenaBytes_ = 0;
  CpuPlacement cpu_;
  std::vector<std::vector<CpuGroup>> cpuGroups_; // per entry (empty: no CPU steps at all)
  std::vector<std::vector<int>> cpuGroupOf_;     // [entry][step]: its CPU group, or -1
  std::vector<std::shared_ptr<const EntryShapes>> cpuShapes_; // per entry: its last CPU shapes
  uint8_t *hostArena_ = nullptr;                              // pinned; the arena's layout
  uint64_t hostArenaBytes_ = 0;
  std::string hostError_; // the first CPU step error of the run (set on the driver's thread)
  CUdeviceptr status_ = 0;
  size_t statusWords_ = 0;
  const std::vector<void *> *states_ = nullptr;
};

// What a kernel's status word means (kernels/common.cuh).
std::string kernelErrorText(uint32_t code) {
  switch (code) {
  case 1:
    return "an index was out of range (a gather index, KV slot or block outside its table)";
  case 2:
    return "sampling from invalid probabilities (NaN, or no positive mass)";
  default:
    return "error code " + std::to_string(code);
  }
}

} // namespace

int selectBinary(const cbin::Kernel &kernel, int major, int minor) {
  if (!kernel.binaries())
    return -1;
  int best = -1, bestMinor = -1;
  for (uint32_t i = 0; i < kernel.binaries()->size(); ++i) {
    int M, m;
    bool specific;
    if (!parseArch(kernel.binaries()->Get(i)->arch()->str(), M, m, specific))
      continue;
    if (M != major || m > minor || (specific && m != minor))
      continue;
    // Prefer the exact minor, and the arch-specific build of it.
    int score = m * 2 + (specific ? 1 : 0);
    if (score > bestMinor) {
      bestMinor = score;
      best = int(i);
    }
  }
  return best;
}

StatusOr<std::unique_ptr<Executor>> createCudaExecutor(std::shared_ptr<const Model> model,
                                                       int deviceIndex, uint64_t gpuMemoryBytes,
                                                       CpuPlacement cpu) {
  auto exec = std::make_unique<CudaExecutor>(std::move(model), gpuMemoryBytes, std::move(cpu));
  CHITU_RETURN_IF_ERROR(exec->init(deviceIndex));
  return std::unique_ptr<Executor>(std::move(exec));
}

StatusOr<int> cudaDeviceCount() {
  auto drv = driver();
  if (!drv.isOk())
    return drv.status();
  int count = 0;
  CHITU_CU((*drv)->cuDeviceGetCount(&count));
  return count;
}

} // namespace chitu::rt
