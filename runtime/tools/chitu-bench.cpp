// chitu-bench: prefill and decode speed of a compiled LLM, with an optional per-kernel profile.
#include "ToolArgs.h"
#include "core/Session.h"
#include "llm/Generator.h"
#include "support/Format.h"
#include "support/Json.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

using namespace chitu;
using namespace chitu::rt;

static const char *kUsage = R"(usage: chitu-bench MODEL.cbin [options]

Measures a compiled LLM: prefill of one prompt, then decode of 1..N sequences at a given
context, reporting medians after warm-up. Random token ids; greedy sampling on the device.

options:
  --device cpu|cuda     where to run (default: cuda)
  --device-index N      which GPU (default: 0)
  --gpu-memory SIZE     GPU memory the weights may take (e.g. 6GiB; default: the free
                        memory less a margin when the weights do not fit in it);
                        below the weights, slices are streamed from host memory
  --place PATTERN=cpu   run the steps reading weights whose name matches PATTERN (a
                        regular expression, e.g. 'mlp') on the CPU; repeatable
  --batch 1,16,64       decode batch sizes (default: 1)
  --context N           tokens already in each sequence's KV cache when decode starts
                        (default: 512)
  --prompt-len N        prefill prompt length (default: 2048; 0: no prefill)
  --steps N             timed decode steps per batch size (default: 128)
  --warmup N            untimed steps first (default: 8)
  --repeat N            prefill repetitions (default: 3)
  --profile             per-kernel times of a decode step at each batch size (and of the
                        prefill): time, share, bytes moved and achieved GB/s, FLOP/s; with
                        streamed weights, per slice its kernels' and its copy's time
  --json                print one JSON object
  --weights DIR         directory holding the model's external weight files
  --help                show this help

Speed: decode reads every weight once per step, so weight bytes / step time is the
achieved bandwidth (the floor is weight bytes / HBM bandwidth).

Environment: CHITU_CUDA_GRAPHS=0 launches every kernel directly instead of replaying CUDA
graphs; CHITU_LIBRARY_GEMM=0 keeps products of 64+ rows (prefill) on chitu's own tiles
instead of cuBLASLt (CHITU_CUBLASLT=PATH names the library to load).
)";

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::vector<int64_t> parseList(tools::Args &args, const std::string &flag, const std::string &v) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = v.find(',', pos);
    std::string item = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char *end = nullptr;
    long long x = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || x < 1 || x > 4096)
      args.usageError(flag + " takes positive integers separated by commas, got '" + v + "'");
    out.push_back(x);
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return out;
}

int64_t parseCount(tools::Args &args, const std::string &flag, const std::string &v, int64_t lo) {
  char *end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || x < lo || x > (int64_t(1) << 24))
    args.usageError(flag + " takes an integer of at least " + std::to_string(lo) + ", got '" + v +
                    "'");
  return x;
}

// Per-kernel profile of one run: the entry's steps with their times.
struct KernelRow {
  std::string name;
  double ms = 0;
  uint64_t bytes = 0;
  double flops = 0;
};

std::vector<KernelRow> profileOf(const Model &model, int entry, const EntryShapes &shapes,
                                 const std::vector<double> &times) {
  const cbin::Artifact &a = model.artifact();
  const cbin::Entry &e = *a.entries()->Get(uint32_t(entry));
  std::vector<KernelRow> rows;
  for (uint32_t s = 0; s < e.steps()->size() && s < times.size(); ++s) {
    const cbin::Step &step = *e.steps()->Get(s);
    const cbin::Kernel &k = *a.kernels()->Get(step.kernel());
    KernelRow r;
    r.name = k.name()->str();
    r.ms = times[s];
    for (uint32_t t : *step.inputs())
      r.bytes += shapes.bytes[t];
    for (uint32_t t : *step.outputs()) {
      const cbin::Tensor &tensor = *a.tensors()->Get(t);
      // A KV-cache append writes its new rows, not the whole cache.
      if (tensor.storage() != cbin::StorageKind::STATE)
        r.bytes += shapes.bytes[t];
    }
    // Products: 2 * M * N * K, from the op's result dims and its left operand's last dim.
    std::vector<std::vector<int64_t>> values; // kernel-local value dims
    for (uint32_t t : *step.inputs())
      values.push_back(shapes.dims[t]);
    for (const cbin::Op *op : *k.ops()) {
      auto dims = shapes.evalDims(*op->dims());
      values.push_back(dims.isOk() ? *dims : std::vector<int64_t>{});
      if (op->kind() == cbin::OpKind::MATMUL && dims.isOk() && dims->size() >= 2 &&
          op->operands()->size() == 2) {
        const auto &lhs = values[op->operands()->Get(0)];
        bool transposed = op->ints() && op->ints()->size() > 0 && op->ints()->Get(0);
        if (lhs.size() >= 2) {
          double outer = 1;
          for (int64_t d : *dims)
            outer *= double(d);
          r.flops += 2 * outer * double(transposed ? lhs[lhs.size() - 2] : lhs.back());
        }
      }
    }
    rows.push_back(r);
  }
  return rows;
}

// With streamed weights (--gpu-memory): per slice its kernels' time (a streamed slice's first
// kernel includes any wait for its copy) and, for streamed slices, the copy's time and rate.
struct SliceRow {
  double kernelMs = 0, copyMs = -1; // -1: resident
  uint64_t copyBytes = 0;
};

std::vector<SliceRow> sliceProfileOf(const Model &model, int entry,
                                     const std::vector<double> &stepTimes,
                                     const std::vector<double> &copyTimes,
                                     const std::vector<uint64_t> &copyBytes) {
  const cbin::Entry &e = *model.artifact().entries()->Get(uint32_t(entry));
  std::vector<SliceRow> rows;
  if (!e.slices() || copyTimes.empty())
    return rows;
  size_t numSlices = e.slices()->size(), firstStreamed = numSlices - copyTimes.size();
  for (size_t i = 0; i < numSlices; ++i) {
    const cbin::Slice &slice = *e.slices()->Get(uint32_t(i));
    SliceRow r;
    for (uint32_t st = slice.first_step(); st < slice.first_step() + slice.num_steps(); ++st)
      r.kernelMs += st < stepTimes.size() ? stepTimes[st] : 0;
    if (i >= firstStreamed) {
      r.copyMs = copyTimes[i - firstStreamed];
      r.copyBytes = i - firstStreamed < copyBytes.size() ? copyBytes[i - firstStreamed] : 0;
    }
    rows.push_back(r);
  }
  return rows;
}

void printSliceProfile(const std::string &title, const std::vector<SliceRow> &rows) {
  if (rows.empty())
    return;
  double kernels = 0, copies = 0;
  for (const SliceRow &r : rows)
    kernels += r.kernelMs, copies += std::max(r.copyMs, 0.0);
  std::printf("\n%s: kernels %.3f ms (incl. waits for copies), copies %.3f ms on the copy stream\n",
              title.c_str(), kernels, copies);
  std::printf("  %-6s %-9s %12s %10s %12s\n", "slice", "placement", "kernels ms", "copy ms",
              "copy GB/s");
  for (size_t i = 0; i < rows.size(); ++i) {
    const SliceRow &r = rows[i];
    if (r.copyMs < 0)
      std::printf("  %-6zu %-9s %12.4f\n", i, "resident", r.kernelMs);
    else
      std::printf("  %-6zu %-9s %12.4f %10.4f %12.1f\n", i, "streamed", r.kernelMs, r.copyMs,
                  r.copyMs > 0 ? double(r.copyBytes) / r.copyMs / 1e6 : 0.0);
  }
}

void printProfile(const std::string &title, const std::vector<KernelRow> &rows) {
  double total = 0;
  for (const KernelRow &r : rows)
    total += r.ms;
  // Kernels of the same name (one per layer) are summed.
  std::map<std::string, KernelRow> byKind;
  std::vector<std::string> order;
  for (const KernelRow &r : rows) {
    std::string kind = r.name.substr(r.name.find('_') + 1);
    auto [it, inserted] = byKind.try_emplace(kind, KernelRow{kind});
    if (inserted)
      order.push_back(kind);
    it->second.ms += r.ms;
    it->second.bytes += r.bytes;
    it->second.flops += r.flops;
  }
  std::stable_sort(order.begin(), order.end(), [&](const std::string &a, const std::string &b) {
    return byKind[a].ms > byKind[b].ms;
  });
  std::printf("\n%s: %.3f ms in %zu kernels\n", title.c_str(), total, rows.size());
  std::printf("  %-44s %10s %6s %12s %9s %9s\n", "kernel (summed over layers)", "ms", "%", "bytes",
              "GB/s", "TFLOP/s");
  for (const std::string &kind : order) {
    const KernelRow &r = byKind[kind];
    std::printf("  %-44s %10.4f %5.1f%% %12s %9.1f %9.2f\n", kind.substr(0, 44).c_str(), r.ms,
                total > 0 ? 100.0 * r.ms / total : 0.0, humanBytes(r.bytes).c_str(),
                r.ms > 0 ? double(r.bytes) / r.ms / 1e6 : 0.0,
                r.ms > 0 ? r.flops / r.ms / 1e9 : 0.0);
  }
}

} // namespace

int main(int argc, char **argv) {
  tools::Args args(argc, argv);
  std::string path, device = "cuda", deviceIndex = "0", weightsDir, gpuMemory;
  std::vector<int64_t> batches{1};
  std::vector<std::string> cpuPatterns;
  int64_t context = 512, promptLen = 2048, steps = 128, warmup = 8, repeat = 3;
  bool json = false, profile = false;
  while (!args.done()) {
    std::string v;
    if (args.flag("--help") || args.flag("-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (args.option("--device", device) || args.option("--device-index", deviceIndex) ||
               args.option("--weights", weightsDir) || args.option("--gpu-memory", gpuMemory)) {
    } else if (args.option("--place", v)) {
      cpuPatterns.push_back(tools::parsePlacementRule(args, v));
    } else if (args.option("--batch", v)) {
      batches = parseList(args, "--batch", v);
    } else if (args.option("--context", v)) {
      context = parseCount(args, "--context", v, 1);
    } else if (args.option("--prompt-len", v)) {
      promptLen = parseCount(args, "--prompt-len", v, 0);
    } else if (args.option("--steps", v)) {
      steps = parseCount(args, "--steps", v, 1);
    } else if (args.option("--warmup", v)) {
      warmup = parseCount(args, "--warmup", v, 0);
    } else if (args.option("--repeat", v)) {
      repeat = parseCount(args, "--repeat", v, 1);
    } else if (args.flag("--json")) {
      json = true;
    } else if (args.flag("--profile")) {
      profile = true;
    } else {
      args.positional(path);
    }
  }
  if (path.empty())
    args.usageError("no model given");
  const tools::Args::Device where = args.device(device, deviceIndex);

  LoadOptions load;
  load.weightsDir = weightsDir;
  auto model = Model::load(path, load);
  if (!model.isOk())
    tools::fatal(args.tool(), model.status().message());
  const cbin::Llm *llm = (*model)->artifact().llm();
  if (!llm)
    tools::fatal(args.tool(),
                 "the model is not a compiled LLM (compile a Hugging Face checkpoint)");
  SessionOptions sessionOptions;
  sessionOptions.gpuMemoryBytes = tools::parseSizeOption(args, "--gpu-memory", gpuMemory);
  sessionOptions.cpuWeightPatterns = cpuPatterns;
  auto session = Session::create(*model, where.cuda ? DeviceKind::Cuda : DeviceKind::Cpu,
                                 where.index, sessionOptions);
  if (!session.isOk())
    tools::fatal(args.tool(), session.status().message());
  Session &s = **session;
  int entry = (*model)->findEntry("forward");

  uint64_t weightBytes = 0;
  for (const cbin::Weight *w : *(*model)->artifact().weights()) {
    uint64_t n = dtypeSize(toDType(w->dtype()));
    for (int64_t d : *w->dims())
      n *= uint64_t(d);
    weightBytes += n;
  }
  const cbin::Entry &forward = *(*model)->artifact().entries()->Get(uint32_t(entry));
  const size_t launches = forward.steps()->size();
  int64_t maxBatch = *std::max_element(batches.begin(), batches.end());
  GeneratorOptions options;
  options.maxSequences = int32_t(std::max<int64_t>(maxBatch, 1));
  options.maxContext = std::min<int64_t>(std::max(promptLen, context + warmup + steps + 4),
                                         int64_t(llm->max_context()));
  if (context + warmup + steps + 4 > options.maxContext)
    tools::fatal(args.tool(), "--context + --warmup + --steps exceeds the model's context of " +
                                  std::to_string(llm->max_context()));
  options.prefillChunk = 2048; // bounds the arena when many sequences prefill together
  auto generator = Generator::create(s, options);
  if (!generator.isOk())
    tools::fatal(args.tool(), generator.status().message());
  Generator &g = **generator;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, int32_t(llm->vocab_size()) - 1);
  auto randomTokens = [&](int64_t n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int32_t &x : t)
      x = token(rng);
    return t;
  };
  auto fail = [&](const Status &st) { tools::fatal(args.tool(), st.message()); };
  SamplingParams greedy;
  if (!json) {
    std::printf("%s on %s: %s of weights, %zu kernel launches per step\n", path.c_str(),
                s.deviceName().c_str(), humanBytes(weightBytes).c_str(), launches);
    if (!s.gemmLibrary().empty())
      std::printf("many-row products (prefill): %s\n", s.gemmLibrary().c_str());
    std::printf("weights: %s\n", s.placement().c_str());
  }

  // Prefill: one prompt in one step, until its first token.
  double prefillMs = 0;
  std::vector<KernelRow> prefillProfile;
  if (promptLen > 0) {
    std::vector<double> times;
    for (int64_t r = 0; r < repeat + 1; ++r) {
      auto id = g.addSequence(randomTokens(promptLen), greedy, 1, {});
      if (!id.isOk())
        fail(id.status());
      s.setProfiling(profile && r == repeat);
      auto start = Clock::now();
      while (g.activeSequences() > 0) {
        auto events = g.step();
        if (!events.isOk())
          fail(events.status());
      }
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (r > 0 && !(profile && r == repeat))
        times.push_back(ms); // the first is warm-up; a profiled run is slower
      if (profile && r == repeat && s.lastShapes())
        prefillProfile = profileOf(**model, entry, *s.lastShapes(), s.stepTimes());
      s.setProfiling(false);
      (void)g.removeSequence(*id);
    }
    prefillMs = median(times.empty() ? std::vector<double>{0} : times);
    if (!json)
      std::printf("prefill: %lld tokens in %.2f ms, %.0f tok/s\n", (long long)promptLen, prefillMs,
                  prefillMs > 0 ? 1000.0 * double(promptLen) / prefillMs : 0.0);
  }

  struct DecodeRow {
    int64_t batch;
    double ms;
    uint64_t kvBytes;
  };
  std::vector<DecodeRow> decode;
  std::vector<std::pair<int64_t, std::vector<KernelRow>>> decodeProfiles;
  std::vector<std::pair<int64_t, std::vector<SliceRow>>> decodeSlices;
  const uint64_t kvRow = uint64_t(llm->num_layers()) * 2 * llm->num_kv_heads() * llm->head_dim() *
                         dtypeSize(toDType(llm->cache_dtype()));
  for (int64_t b : batches) {
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < b; ++i) {
      auto id = g.addSequence(randomTokens(context), greedy, warmup + steps + 4, {});
      if (!id.isOk())
        fail(id.status());
      ids.push_back(*id);
    }
    // Prefill the contexts (untimed), then warm up and time single-token steps.
    std::vector<double> times;
    int64_t generated = 0;
    while (g.activeSequences() > 0 && times.size() < size_t(steps)) {
      bool timed = generated > warmup;
      auto start = Clock::now();
      auto events = g.step();
      if (!events.isOk())
        fail(events.status());
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (timed)
        times.push_back(ms);
      if (!events->empty())
        ++generated;
    }
    if (profile) {
      s.setProfiling(true);
      auto events = g.step();
      if (!events.isOk())
        fail(events.status());
      if (s.lastShapes())
        decodeProfiles.push_back({b, profileOf(**model, entry, *s.lastShapes(), s.stepTimes())});
      decodeSlices.push_back(
          {b, sliceProfileOf(**model, entry, s.stepTimes(), s.copyTimes(), s.copyBytes())});
      s.setProfiling(false);
    }
    for (int32_t id : ids)
      (void)g.removeSequence(id);
    double ms = median(times);
    decode.push_back({b, ms, uint64_t(b) * uint64_t(context + warmup + steps / 2) * kvRow});
    if (!json)
      std::printf("decode batch %3lld, context %lld: %.3f ms/step, %.1f tok/s, weights %.1f GB/s, "
                  "KV %s per step\n",
                  (long long)b, (long long)context, ms, ms > 0 ? 1000.0 * double(b) / ms : 0.0,
                  ms > 0 ? double(weightBytes) / ms / 1e6 : 0.0,
                  humanBytes(decode.back().kvBytes).c_str());
  }

  if (json) {
    JsonWriter j;
    j.beginObject();
    j.key("device").value(s.deviceName());
    if (!s.gemmLibrary().empty())
      j.key("gemm_library").value(s.gemmLibrary());
    j.key("placement").value(s.placement());
    j.key("streamed_bytes_per_step").value(s.streamedBytesPerRun());
    j.key("model").value(path);
    j.key("weight_bytes").value(weightBytes);
    j.key("launches_per_step").value(uint64_t(launches));
    j.key("prefill").beginObject();
    j.key("tokens").value(promptLen);
    j.key("ms").value(prefillMs);
    j.key("tok_s").value(prefillMs > 0 ? 1000.0 * double(promptLen) / prefillMs : 0.0);
    j.endObject();
    j.key("decode").beginArray();
    for (const DecodeRow &r : decode) {
      j.beginObject();
      j.key("batch").value(r.batch);
      j.key("context").value(context);
      j.key("ms_per_step").value(r.ms);
      j.key("tok_s").value(r.ms > 0 ? 1000.0 * double(r.batch) / r.ms : 0.0);
      j.key("weight_GBps").value(r.ms > 0 ? double(weightBytes) / r.ms / 1e6 : 0.0);
      j.key("kv_bytes").value(r.kvBytes);
      j.key("launches_per_step").value(uint64_t(launches));
      j.endObject();
    }
    j.endArray();
    if (profile) {
      j.key("profile").beginArray();
      auto rows = [&](const std::string &what, const std::vector<KernelRow> &table) {
        for (const KernelRow &r : table) {
          j.beginObject();
          j.key("run").value(what);
          j.key("kernel").value(r.name);
          j.key("ms").value(r.ms);
          j.key("bytes").value(r.bytes);
          j.key("flops").value(r.flops);
          j.endObject();
        }
      };
      rows("prefill", prefillProfile);
      for (const auto &[b, table] : decodeProfiles)
        rows("decode batch " + std::to_string(b), table);
      j.endArray();
      j.key("slice_profile").beginArray();
      for (const auto &[b, table] : decodeSlices)
        for (size_t i = 0; i < table.size(); ++i) {
          j.beginObject();
          j.key("run").value("decode batch " + std::to_string(b));
          j.key("slice").value(uint64_t(i));
          j.key("kernel_ms").value(table[i].kernelMs);
          if (table[i].copyMs >= 0) {
            j.key("copy_ms").value(table[i].copyMs);
            j.key("copy_bytes").value(table[i].copyBytes);
          }
          j.endObject();
        }
      j.endArray();
    }
    j.endObject();
    std::printf("%s\n", j.str().c_str());
  } else if (profile) {
    if (!prefillProfile.empty())
      printProfile("prefill profile", prefillProfile);
    for (const auto &[b, table] : decodeProfiles)
      printProfile("decode step profile, batch " + std::to_string(b), table);
    for (const auto &[b, table] : decodeSlices)
      printSliceProfile("slices of a decode step, batch " + std::to_string(b), table);
  }
  return 0;
}
