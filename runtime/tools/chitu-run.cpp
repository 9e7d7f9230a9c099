// chitu-run: run an entry function of a compiled model on .npy inputs.
#include "LlmRun.h"
#include "Npy.h"
#include "ToolArgs.h"
#include "chitu/chitu.hpp"

#include <chrono>
#include <cstring>
#include <map>

using namespace chitu;

static const char *kUsage = R"(usage: chitu-run MODEL.cbin --prompt TEXT [generation options]
       chitu-run MODEL.cbin --input NAME=FILE.npy ... [options]

Generates text with a compiled LLM (streamed to stdout; speed on stderr), or runs an entry
function of any compiled model on inputs read from .npy files.

generation (models compiled from a Hugging Face checkpoint):
  --prompt TEXT           the prompt (the model's tokenizer adds BOS unless --no-special)
  --prompt-file FILE      the prompt, read from a UTF-8 file
  --tokens IDS            the prompt as comma-separated token ids
  --max-tokens N          generate at most N tokens (default: 128)
  --temperature T         0: greedy; default: generation_config.json's when it samples
  --top-k K, --top-p P, --min-p P, --repetition-penalty R, --seed S
                          sampling controls (defaults from generation_config.json)
  --stop TEXT             stop when TEXT is generated (repeatable; TEXT is not printed)
  --stop-id ID            stop at this token id (repeatable), besides the model's EOS ids
  --ignore-eos            do not stop at the model's EOS ids
  --no-special            do not add BOS (or other template tokens) to --prompt
  --tokenizer FILE        use this tokenizer.json instead of the model's
  --max-context N         limit the context (and the KV cache) to N tokens
  --prefill-chunk N       process prompts in chunks of at most N tokens
  --greedy N              print the N greedy next ids on one line (ignores EOS)
  --dump-logits FILE.npy  write float32 logits of every prompt position, shape [T, vocab]

options:
  --device cpu|cuda       where to run (default: cpu)
  --device-index N        which GPU with --device cuda (default: 0)
  --gpu-memory SIZE       GPU memory the weights may take (e.g. 6GiB; default: the free
                          memory less a margin when the weights do not fit in it);
                          below the model's weights, slices are streamed from host memory
  --place PATTERN=cpu     run the steps reading weights whose name matches PATTERN (a
                          regular expression, e.g. 'mlp') on the CPU, their weights left
                          in host memory; repeatable
  --entry NAME            entry function to run (default: the first)
  --input NAME=FILE.npy   bind an input (repeat for each input)
  --output NAME=FILE.npy  write an output to a .npy file (repeat as needed)
  --weights DIR           directory holding the model's external weight files
  --quiet                 print nothing but results and errors
  --help                  show this help

bf16 tensors: inputs accept float32 (rounded to nearest even) or ml_dtypes.bfloat16 .npy
files; bf16 outputs are written as float32 (exactly).
Without --output, each output's shape and first values are printed.
)";

namespace {

std::pair<std::string, std::string> splitBinding(tools::Args &args, const std::string &s,
                                                 const char *flag) {
  size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
    args.usageError(std::string(flag) + " takes NAME=FILE.npy, got '" + s + "'");
  return {s.substr(0, eq), s.substr(eq + 1)};
}

const char *dtypeStr(chitu_dtype t) { return dtypeName(DType(int(t))); }

std::string shapeStr(const std::vector<int64_t> &dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + (dims[i] < 0 ? std::string("?") : std::to_string(dims[i]));
  return s + "]";
}

std::string preview(const Tensor &t, size_t count = 8) {
  size_t n = 1;
  for (int64_t d : t.dims)
    n *= size_t(d);
  DType dtype = DType(int(t.dtype));
  // Enough digits to show each dtype's precision.
  const char *format = dtype == DType::BF16 ? "%.4g" : dtype == DType::F16 ? "%.5g" : "%.6g";
  std::string s = "[";
  for (size_t i = 0; i < n && i < count; ++i) {
    char buf[32];
    double v = elementAsDouble(dtype, t.data.data(), i);
    if (isFloat(dtype))
      std::snprintf(buf, sizeof buf, format, v);
    else
      std::snprintf(buf, sizeof buf, "%lld", (long long)v);
    s += (i ? ", " : "") + std::string(buf);
  }
  if (n > count)
    s += ", ...";
  return s + "]";
}

} // namespace

int main(int argc, char **argv) {
  tools::Args args(argc, argv);
  std::string modelPath, device = "cpu", deviceIndex = "0", entryName, weightsDir, gpuMemory;
  std::vector<std::pair<std::string, std::string>> inputs, outputs;
  std::vector<std::string> cpuPatterns;
  bool quiet = false;
  tools::LlmRunOptions llmOptions;
  while (!args.done()) {
    std::string v;
    if (args.flag("--help") || args.flag("-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (tools::parseLlmOption(args, llmOptions)) {
    } else if (args.option("--device", device) || args.option("--device-index", deviceIndex) ||
               args.option("--entry", entryName) || args.option("--weights", weightsDir) ||
               args.option("--gpu-memory", gpuMemory)) {
    } else if (args.option("--place", v)) {
      cpuPatterns.push_back(tools::parsePlacementRule(args, v));
    } else if (args.option("--input", v)) {
      inputs.push_back(splitBinding(args, v, "--input"));
    } else if (args.option("--output", v)) {
      outputs.push_back(splitBinding(args, v, "--output"));
    } else if (args.flag("--quiet")) {
      quiet = true;
    } else {
      args.positional(modelPath);
    }
  }
  if (modelPath.empty())
    args.usageError("no model given");
  const tools::Args::Device where = args.device(device, deviceIndex);

  try {
    Model model = Model::load(modelPath, weightsDir);
    int entry = entryName.empty() ? 0 : model.findEntry(entryName);
    auto inputInfos = model.inputs(entry);
    auto outputInfos = model.outputs(entry);
    Session session(model, where.cuda ? CHITU_DEVICE_CUDA : CHITU_DEVICE_CPU, where.index,
                    tools::parseSizeOption(args, "--gpu-memory", gpuMemory), cpuPatterns);
    if (where.cuda && !quiet)
      std::fprintf(stderr, "weights: %s\n", session.placement().c_str());
    if (tools::llmModeRequested(llmOptions)) {
      if (!inputs.empty() || !outputs.empty())
        args.usageError("--input/--output do not combine with generation options");
      llmOptions.quiet = quiet;
      return tools::runLlm(args.tool(), model, session, llmOptions);
    }
    if (model.isLlm() && inputs.empty())
      tools::fatal(args.tool(), "this is an LLM: give --prompt TEXT (or --tokens IDS) to generate");

    std::map<std::string, bool> bound;
    for (const auto &[name, file] : inputs) {
      const TensorInfo *info = nullptr;
      for (const auto &i : inputInfos)
        if (i.name == name)
          info = &i;
      if (!info) {
        std::string names;
        for (const auto &i : inputInfos)
          names += (names.empty() ? "" : ", ") + i.name;
        tools::fatal(args.tool(), "entry '" + model.entryName(entry) + "' has no input '" + name +
                                      "' (inputs: " + names + ")");
      }
      if (bound[name])
        tools::fatal(args.tool(), "input '" + name + "' is given twice");
      bound[name] = true;
      auto npy = readNpy(file);
      if (!npy.isOk())
        tools::fatal(args.tool(), npy.status().message());
      std::vector<uint8_t> data;
      Status st = convertNpyForInput(*npy, DType(int(info->dtype)), name, data);
      if (!st.isOk())
        tools::fatal(args.tool(), st.message());
      session.setInput(entry, name, info->dtype, npy->shape, data.data(), data.size());
    }
    std::string missing;
    for (const auto &i : inputInfos)
      if (!bound[i.name])
        missing +=
            "\n  --input " + i.name + "=FILE.npy  (" + dtypeStr(i.dtype) + shapeStr(i.dims) + ")";
    if (!missing.empty())
      tools::fatal(args.tool(),
                   "missing inputs of entry '" + model.entryName(entry) + "':" + missing);
    for (const auto &[name, file] : outputs) {
      bool known = false;
      for (const auto &o : outputInfos)
        known |= o.name == name;
      if (!known)
        tools::fatal(args.tool(),
                     "entry '" + model.entryName(entry) + "' has no output '" + name + "'");
    }

    auto start = std::chrono::steady_clock::now();
    session.run(entry);
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!quiet)
      std::printf("ran '%s' on %s in %.3f ms\n", model.entryName(entry).c_str(),
                  session.deviceName().c_str(), ms);
    for (const auto &o : outputInfos) {
      Tensor t = session.output(entry, o.name);
      std::string file;
      for (const auto &[name, f] : outputs)
        if (name == o.name)
          file = f;
      if (!file.empty()) {
        Status st = writeTensorNpy(file, DType(int(t.dtype)), t.dims, t.data);
        if (!st.isOk())
          tools::fatal(args.tool(), st.message());
      }
      if (!quiet)
        std::printf("%s: %s%s = %s%s\n", o.name.c_str(), dtypeStr(t.dtype),
                    shapeStr(t.dims).c_str(), preview(t).c_str(),
                    file.empty() ? "" : (" -> " + file).c_str());
    }
  } catch (const Error &e) {
    tools::fatal(args.tool(), e.what());
  } catch (const std::exception &e) {
    tools::fatal(args.tool(), e.what());
  }
  return 0;
}
