//===- chitu-compile.cpp - compile a model into a .cbin -------------------===//
//
//   chitu-compile model.mlir -o model.cbin [--target sm_80,sm_90] [--emit=mlir|cuda|cbin]
//
// Parses the model, runs the pass pipeline (canonicalize, shape checks, kernel formation,
// memory planning), generates one CUDA kernel per kernel region, compiles each with NVRTC
// for every target, and writes the artifact the runtime loads.
//
//===----------------------------------------------------------------------===//

#include "artifact/ArtifactWriter.h"
#include "chitu/Analysis/ShapeAnalysis.h"
#include "chitu/Passes/Passes.h"
#include "codegen/CudaCodegen.h"
#include "frontend/HuggingFace.h"
#include "frontend/MlirFrontend.h"
#include "frontend/Onnx.h"
#include "nvrtc/NvrtcCompiler.h"
#include "support/Format.h"
#include "support/Json.h"
#include "support/Quantize.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

using namespace mlir;
using namespace mlir::chitu;
namespace cl = llvm::cl;

namespace {

cl::OptionCategory category("chitu-compile options");

cl::opt<std::string> inputPath(cl::Positional,
                               cl::desc("<model.mlir | model.onnx | checkpoint directory>"),
                               cl::cat(category));
cl::opt<std::string> outputPath("o",
                                cl::desc("Output .cbin (default: <input name>.cbin), or the "
                                         "text of --emit=mlir|cuda (default: standard output)"),
                                cl::value_desc("file"), cl::cat(category));
cl::list<std::string> targets("target", cl::CommaSeparated,
                              cl::desc("GPU architectures to compile for, e.g. "
                                       "sm_80,sm_90 (default: sm_90)"),
                              cl::value_desc("sm_XY,..."), cl::cat(category));
enum class Emit { Mlir, Cuda, Cbin };
cl::opt<Emit> emit("emit", cl::desc("What to produce"), cl::init(Emit::Cbin),
                   cl::values(clEnumValN(Emit::Mlir, "mlir", "the IR after the pass pipeline"),
                              clEnumValN(Emit::Cuda, "cuda", "the generated CUDA C++ kernels"),
                              clEnumValN(Emit::Cbin, "cbin", "the .cbin artifact (default)")),
                   cl::cat(category));
cl::opt<bool> printIRAfterAll("print-ir-after-all",
                              cl::desc("Print the IR after every pass (to stderr)"),
                              cl::cat(category));
cl::list<std::string> weightFiles("weights",
                                  cl::desc("Safetensors file holding weights the IR names "
                                           "(repeatable; default: <input>.safetensors next "
                                           "to the input)"),
                                  cl::value_desc("file"), cl::cat(category));
cl::opt<bool> embedWeights("embed-weights",
                           cl::desc("Pack the weights into the .cbin instead of referencing "
                                    "the safetensors files"),
                           cl::cat(category));
enum class StatsFormat { None, Text, Json };
/// --stats is created in main, after LLVM's own -stats (pass statistics) is unregistered.
cl::opt<StatsFormat> &statsOption() {
  static cl::opt<StatsFormat> option(
      "stats",
      cl::desc("Print per entry the kernel launches before and after fusion, per decoder "
               "layer, and the planned arena (stdout)"),
      cl::ValueOptional, cl::init(StatsFormat::None),
      cl::values(clEnumValN(StatsFormat::Text, "", "as text (--stats)"),
                 clEnumValN(StatsFormat::Text, "text", "as text"),
                 clEnumValN(StatsFormat::Json, "json", "one JSON object")),
      cl::cat(category));
  return option;
}
cl::opt<bool> noFusion("no-fusion",
                       cl::desc("Leave out chitu-fuse: one kernel per op (debugging, comparisons)"),
                       cl::cat(category));
cl::list<std::string> disabledPasses("disable-pass", cl::CommaSeparated,
                                     cl::desc("Leave a pass out of the pipeline (debugging)"),
                                     cl::value_desc("name"), cl::cat(category));
cl::opt<std::string> sliceBudget(
    "slice-budget",
    cl::desc("Bytes of weights plus activations per slice, e.g. 512MiB or 2GB (default: one "
             "decoder layer per slice; docs/slicing.md)"),
    cl::value_desc("size"), cl::cat(category));
cl::opt<std::string> weightDtype(
    "weight-dtype",
    cl::desc("Storage of the linear layers' weights: int8 or fp8 (e4m3; both with per-row "
             "scales), int4 or int4_asym (groups of --group-size with a scale, and a zero point "
             "for int4_asym); dequantized to the activation type in the product kernels "
             "(default: as --precision; docs/precision.md)"),
    cl::value_desc("type"), cl::cat(category));
cl::opt<int64_t> groupSize("group-size",
                           cl::desc("int4 weights: elements of a row per scale, 32, 64 or 128 "
                                    "(default 128)"),
                           cl::value_desc("n"), cl::init(128), cl::cat(category));
cl::opt<std::string>
    keepWeights("keep-weights",
                cl::desc("With --weight-dtype: regular expression of weight names left as they are "
                         "(default: lm_head)"),
                cl::value_desc("regex"), cl::init("lm_head"), cl::cat(category));
cl::opt<std::string> precisionRules(
    "precision-rules",
    cl::desc(
        "Precision rule file (JSON or YAML): per pattern on weight names and op kinds, "
        "the linear layers' weight type (int8, fp8, int4, int4_asym or keep); first match wins, "
        "the rest follow "
        "--weight-dtype (docs/precision.md)"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> cacheDir("cache-dir",
                              cl::desc("NVRTC cache directory (default: $CHITU_CACHE_DIR or "
                                       "~/.cache/chitu/nvrtc)"),
                              cl::value_desc("dir"), cl::cat(category));
cl::opt<bool> noCache("no-cache", cl::desc("Do not read or write the NVRTC cache"),
                      cl::cat(category));
cl::opt<unsigned> jobs("j", cl::desc("Parallel NVRTC compilations (default: all cores)"),
                       cl::init(0), cl::cat(category));
cl::opt<bool> quiet("quiet", cl::desc("Print only errors"), cl::cat(category));
cl::opt<bool> listOnnxOps("onnx-ops",
                          cl::desc("List the ONNX operators the importer supports and exit"),
                          cl::cat(category));
cl::opt<std::string> precision("precision",
                               cl::desc("Float type of weights and activations, fp32|fp16|bf16: "
                                        "Hugging Face models (default: the checkpoint's) and "
                                        "ONNX models (their float32 tensors; default fp32)"),
                               cl::value_desc("type"), cl::cat(category));
cl::opt<unsigned> kvBlockSize("kv-block-size",
                              cl::desc("Hugging Face models: tokens per KV cache block "
                                       "(default 16)"),
                              cl::init(16), cl::cat(category));

const char *kTool = "chitu-compile";

[[noreturn]] void fatal(const std::string &message) {
  llvm::errs() << kTool << ": error: " << message << "\n";
  std::exit(1);
}

void progress(const std::string &message) {
  if (!quiet)
    llvm::errs() << kTool << ": " << message << "\n";
}

/// --stats: per entry, kernel launches before fusion (one per op) and after, the same for
/// the first decoder layer (ops tagged chitu.layer = 0), and the planned arena.
void printStats(ModuleOp module, const ArtifactStats &stats, bool json) {
  ::chitu::JsonWriter j(/*pretty=*/false);
  j.beginObject().key("entries").beginArray();
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isDeclaration())
      continue;
    int64_t after = 0, afterLayer = 0;
    for (auto kernel : func.getOps<KernelOp>()) {
      ++after;
      if (auto l = kernel->getAttrOfType<IntegerAttr>("chitu.layer"); l && l.getInt() == 0)
        ++afterLayer;
    }
    auto attr = [&](const char *name, int64_t fallback) {
      auto a = func->getAttrOfType<IntegerAttr>(name);
      return a ? a.getInt() : fallback;
    };
    int64_t before = attr("chitu.unfused_kernels", after);
    int64_t beforeLayer = attr("chitu.unfused_kernels_per_layer", afterLayer);
    std::string arena;
    for (const auto &[name, expr] : stats.arenas)
      if (name == func.getSymName())
        arena = expr;
    if (json) {
      j.beginObject();
      j.key("name").value(func.getSymName().str());
      j.key("kernels_before").value(before);
      j.key("kernels_after").value(after);
      j.key("kernels_per_layer");
      if (afterLayer)
        j.value(afterLayer);
      else
        j.null();
      j.key("kernels_per_layer_before");
      if (beforeLayer)
        j.value(beforeLayer);
      else
        j.null();
      j.key("arena_bytes").value(arena);
      j.endObject();
      continue;
    }
    llvm::outs() << "entry '" << func.getSymName() << "': " << after << " kernel launches ("
                 << before << " unfused)";
    if (afterLayer)
      llvm::outs() << ", " << afterLayer << " per decoder layer (" << beforeLayer << " unfused)";
    llvm::outs() << ", arena " << arena << " bytes\n";
  }
  j.endArray().endObject();
  if (json)
    llvm::outs() << j.str() << "\n";
}

/// Compiles every distinct kernel source for every target on a pool of threads.
void compileKernels(llvm::DenseMap<Operation *, CompiledKernel> &kernels,
                    const std::vector<std::string> &archs) {
  // Identical sources (the same op on the same shapes) are compiled once.
  std::map<std::string, std::vector<CompiledKernel *>> bySource;
  for (auto &[op, k] : kernels)
    bySource[k.source.source].push_back(&k);
  struct Job {
    const std::string *source;
    std::string name, arch;
    std::vector<uint8_t> cubin;
    std::string error;
  };
  std::vector<Job> work;
  for (auto &[source, users] : bySource)
    for (const std::string &arch : archs)
      work.push_back({&source, users.front()->source.name, arch, {}, {}});

  ::chitu::compiler::NvrtcCompiler nvrtc(
      noCache ? ""
              : (cacheDir.empty() ? ::chitu::compiler::NvrtcCompiler::defaultCacheDir()
                                  : cacheDir.getValue()));
  std::atomic<size_t> nextJob{0}, cachedCount{0};
  unsigned threads = jobs ? jobs.getValue() : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min<unsigned>(threads, unsigned(std::max<size_t>(work.size(), 1)));
  auto start = std::chrono::steady_clock::now();
  progress("compiling " + std::to_string(bySource.size()) + " kernels for " +
           std::to_string(archs.size()) + " target(s) with NVRTC " +
           ::chitu::compiler::NvrtcCompiler::version() + " (" + std::to_string(threads) +
           " threads)");
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t j; (j = nextJob++) < work.size();) {
        Job &job = work[j];
        bool cached = false;
        auto cubin = nvrtc.compile(job.name, *job.source, job.arch, cached);
        if (cubin.isOk())
          job.cubin = std::move(*cubin);
        else
          job.error = cubin.status().message();
        if (cached)
          ++cachedCount;
      }
    });
  for (auto &t : pool)
    t.join();
  for (Job &job : work) {
    if (!job.error.empty())
      fatal(job.error);
    for (CompiledKernel *k : bySource[*job.source])
      k->binaries.emplace_back(job.arch, job.cubin);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  progress("compiled " + std::to_string(work.size()) + " cubins in " + buf + " (" +
           std::to_string(cachedCount.load()) + " from the cache)");
}

} // namespace

int main(int argc, char **argv) {
  if (auto it = cl::getRegisteredOptions().find("stats"); it != cl::getRegisteredOptions().end())
    it->second->removeArgument();
  StatsFormat statsFormat = StatsFormat::None;
  (void)statsOption();
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "chitu-compile 0.1.0\n"; });
  cl::ParseCommandLineOptions(
      argc, argv,
      "chitu-compile: compiles a model into a .cbin for the chitu runtime\n\n"
      "  chitu-compile model.mlir -o model.cbin [--target sm_80,sm_90]\n"
      "  chitu-compile model.onnx -o model.cbin\n"
      "  chitu-compile HF_CHECKPOINT_DIR -o model.cbin [--precision bf16]\n\n"
      "The input is chitu dialect IR (.mlir), whose chitu.weight ops are read from\n"
      "<input>.safetensors next to it or from --weights files; an ONNX model (opsets 13\n"
      "to 28, initializers packed into the .cbin; docs/onnx.md lists the operators); or\n"
      "a Hugging Face checkpoint directory of a Llama, Qwen2 or Mistral causal LM.\n");
  statsFormat = statsOption().getValue();
  if (listOnnxOps) {
    for (const std::string &op : supportedOnnxOps())
      llvm::outs() << op << "\n";
    return 0;
  }

  if (inputPath.empty())
    fatal("no input given (run 'chitu-compile --help' for usage)");
  bool huggingFace = llvm::sys::fs::is_directory(inputPath);
  if (huggingFace && !isHuggingFaceDirectory(inputPath))
    fatal(inputPath + " is a directory without a config.json: give a Hugging Face checkpoint "
                      "directory or a chitu dialect .mlir file");
  if (!llvm::sys::fs::exists(inputPath))
    fatal("cannot open " + inputPath + ": no such file");
  llvm::StringRef ext = llvm::sys::path::extension(inputPath);
  if (ext == ".cbin")
    fatal(inputPath + " is already a compiled artifact (inspect it with chitu-inspect)");

  std::vector<std::string> archs(targets.begin(), targets.end());
  if (archs.empty())
    archs.push_back("sm_90");
  for (const std::string &arch : archs) {
    auto st = ::chitu::compiler::NvrtcCompiler::checkTarget(arch);
    if (!st.isOk())
      fatal(st.message());
  }
  std::string output = outputPath;
  if (output.empty()) {
    std::string in = inputPath;
    while (in.size() > 1 && in.back() == '/')
      in.pop_back();
    output = llvm::sys::path::stem(in).str() + ".cbin";
  }
  // --emit=mlir|cuda print text: to -o when given, else to standard output.
  std::unique_ptr<llvm::raw_fd_ostream> textFile;
  llvm::raw_ostream *text = &llvm::outs();
  if (emit != Emit::Cbin && !outputPath.empty()) {
    std::error_code ec;
    textFile = std::make_unique<llvm::raw_fd_ostream>(outputPath, ec);
    if (ec)
      fatal("cannot write '" + outputPath + "': " + ec.message());
    text = textFile.get();
  }

  DialectRegistry registry;
  registry.insert<ChituDialect, arith::ArithDialect, func::FuncDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.disableMultithreading();    // NVRTC gets the cores
  context.printOpOnDiagnostic(false); // errors point at the user's source line instead
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  FailureOr<ParsedModule> parsed = ParsedModule();
  std::optional<HfModel> hf;
  std::shared_ptr<::chitu::SafetensorsFile> onnxWeights;
  std::optional<::chitu::DType> floatPrecision;
  if (!precision.empty()) {
    static const std::map<std::string, ::chitu::DType> kPrecisions = {
        {"fp32", ::chitu::DType::F32},
        {"fp16", ::chitu::DType::F16},
        {"bf16", ::chitu::DType::BF16}};
    auto it = kPrecisions.find(precision);
    if (it == kPrecisions.end())
      fatal("--precision must be fp32, fp16 or bf16, got '" + precision + "'");
    floatPrecision = it->second;
  }
  if (huggingFace) {
    HfImportOptions hfOptions;
    hfOptions.precision = floatPrecision;
    if (kvBlockSize < 1 || kvBlockSize > 4096)
      fatal("--kv-block-size must be between 1 and 4096");
    hfOptions.kvBlockSize = kvBlockSize;
    std::string error;
    auto imported = importHuggingFace(context, inputPath, hfOptions, error);
    if (failed(imported))
      fatal(error);
    hf = std::move(*imported);
    progress(
        "imported " + hf->meta.architecture + " from " + inputPath + ": " +
        std::to_string(hf->meta.numLayers) + " layers, vocabulary " +
        std::to_string(hf->meta.vocabSize) +
        (hf->weightFiles.empty() ? " (no weight files: they are looked up at load time)" : ""));
    parsed->module = std::move(hf->module);
  } else if (isOnnxFile(inputPath)) {
    if (!weightFiles.empty())
      fatal("--weights applies to .mlir inputs; an ONNX model holds its initializers");
    OnnxImportOptions onnxOptions;
    onnxOptions.precision = floatPrecision;
    std::string error;
    auto imported = importOnnx(context, inputPath, onnxOptions, error);
    if (failed(imported))
      fatal(error);
    progress("imported " + inputPath + ": " + std::to_string(imported->nodes) + " nodes, opset " +
             std::to_string(imported->opset));
    onnxWeights = imported->weights;
    parsed->module = std::move(imported->module);
  } else {
    if (!precision.empty())
      fatal("--precision applies to Hugging Face checkpoints and ONNX models; a .mlir declares "
            "its types");
    parsed = parseMlirFile(context, sourceMgr, inputPath);
    if (failed(parsed))
      return 1;
  }
  ModuleOp module = *parsed->module;

  PassManager pm(&context);
  if (printIRAfterAll) {
    pm.enableIRPrinting([](Pass *, Operation *) { return false; },
                        [](Pass *, Operation *) { return true; },
                        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false);
  }
  PipelineOptions pipelineOptions;
  pipelineOptions.disabledPasses.assign(disabledPasses.begin(), disabledPasses.end());
  if (noFusion)
    pipelineOptions.disabledPasses.push_back("chitu-fuse");
  if (!sliceBudget.empty()) {
    std::optional<uint64_t> bytes = ::chitu::parseBytes(sliceBudget);
    if (!bytes || *bytes == 0 || *bytes > uint64_t(INT64_MAX))
      fatal("--slice-budget: '" + sliceBudget +
            "' is not a positive size (bytes, or with a unit: KiB MiB GiB, KB MB GB)");
    pipelineOptions.sliceBudget = int64_t(*bytes);
  }
  if (!weightDtype.empty() && weightDtype != "int8" && weightDtype != "fp8" &&
      weightDtype != "int4" && weightDtype != "int4_asym")
    fatal("--weight-dtype: '" + weightDtype +
          "' is not supported (int8, fp8, int4, int4_asym; bf16/fp16/fp32 weights follow "
          "--precision)");
  if (!::chitu::isInt4GroupSize(groupSize))
    fatal("--group-size: " + std::to_string(groupSize) + " is not supported (32, 64 or 128)");
  if (groupSize.getNumOccurrences() && weightDtype.find("int4") == std::string::npos &&
      precisionRules.empty())
    fatal("--group-size applies to int4 weights: add --weight-dtype int4 (or int4_asym)");
  pipelineOptions.weightDtype = weightDtype;
  pipelineOptions.groupSize = groupSize;
  pipelineOptions.keepWeights = keepWeights;
  pipelineOptions.precisionRules = precisionRules;
  std::string error;
  if (failed(buildCompilePipeline(pm, pipelineOptions, error)))
    fatal(error);
  if (failed(pm.run(module)))
    return 1;
  if (emit == Emit::Mlir) {
    module.print(*text);
    *text << "\n";
    return 0;
  }

  llvm::DenseMap<Operation *, ShapeAnalysis> analyses;
  llvm::DenseMap<Operation *, CompiledKernel> kernels;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isDeclaration())
      continue;
    auto shapes = ShapeAnalysis::analyze(func);
    if (failed(shapes))
      return 1;
    for (auto kernel : func.getOps<KernelOp>()) {
      auto source = generateCudaKernel(kernel, *shapes);
      if (failed(source))
        return 1;
      kernels[kernel.getOperation()].source = std::move(*source);
    }
    analyses.try_emplace(func.getOperation(), std::move(*shapes));
  }
  if (emit == Emit::Cuda) {
    for (auto func : module.getOps<func::FuncOp>())
      for (auto kernel : func.getOps<KernelOp>()) {
        const KernelSource &k = kernels[kernel.getOperation()].source;
        *text << "// ---- " << func.getSymName() << " / " << kernel.getName();
        // Size parameters are named by position so that layers share code; say which
        // symbol each one is bound to at launch.
        for (auto [i, s] : llvm::enumerate(k.launch.scalarSymbols))
          *text << (i ? ", " : " (") << "sym" << i << " = " << ShapeAnalysis::symbolName(s)
                << (i + 1 == k.launch.scalarSymbols.size() ? ")" : "");
        *text << "\n" << k.source << "\n";
      }
    return 0;
  }

  // Weight files: --weights, else <input>.safetensors when it exists.
  std::vector<std::string> weightPaths(weightFiles.begin(), weightFiles.end());
  if (hf) {
    if (!weightPaths.empty())
      fatal("--weights applies to .mlir inputs; a Hugging Face directory holds its weights");
    weightPaths = hf->weightFiles;
  } else if (isOnnxFile(inputPath)) {
    weightPaths.clear();
  } else if (weightPaths.empty()) {
    llvm::SmallString<256> beside(inputPath);
    llvm::sys::path::replace_extension(beside, ".safetensors");
    if (llvm::sys::fs::exists(beside))
      weightPaths.push_back(beside.str().str());
  }
  ArtifactInput input;
  for (const std::string &path : weightPaths) {
    auto file = ::chitu::SafetensorsFile::open(path);
    if (!file.isOk())
      fatal(file.status().message());
    input.weightFiles.push_back(*file);
  }

  if (onnxWeights) {
    // The initializers exist only in memory: they are packed into the artifact.
    input.weightFiles.push_back(onnxWeights);
    input.embedWeights = true;
  }
  if (hf) {
    input.allowPrecisionChange = true;
    input.llm = &hf->meta;
    if (input.weightFiles.empty()) {
      if (embedWeights)
        fatal("--embed-weights needs the checkpoint's weight files");
      input.unresolvedWeightDType = hf->checkpointDType;
    }
  }
  if (!input.unresolvedWeightDType &&
      failed(checkWeights(module, input.weightFiles, input.allowPrecisionChange)))
    return 1;
  compileKernels(kernels, archs);

  input.module = module;
  input.parsed = &*parsed;
  input.analyses = &analyses;
  input.kernels = &kernels;
  input.targets = archs;
  input.embedWeights = embedWeights || onnxWeights;
  input.producer =
      "chitu-compile 0.1.0 (NVRTC " + ::chitu::compiler::NvrtcCompiler::version() + ")";
  ArtifactStats stats;
  if (failed(writeArtifact(input, output, stats)))
    return 1;
  progress("wrote " + output + ": " + ::chitu::humanBytes(stats.fileBytes) + ", " +
           std::to_string(stats.kernels) + " kernels, " + std::to_string(stats.weights) +
           " weights (" + ::chitu::humanBytes(stats.embeddedBytes) + " embedded, " +
           ::chitu::humanBytes(stats.externalBytes) + " external)");
  if (statsFormat != StatsFormat::None)
    printStats(module, stats, statsFormat == StatsFormat::Json);
  return 0;
}
