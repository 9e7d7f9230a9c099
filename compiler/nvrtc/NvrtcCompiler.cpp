//===- NvrtcCompiler.cpp - CUDA C++ to cubin with NVRTC -------------------===//

#include "nvrtc/NvrtcCompiler.h"

#include "nvrtc/EmbeddedKernels.h"
#include "support/Hash.h"
#include "support/MappedFile.h"

#include <nvrtc.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sys/stat.h>
#include <unistd.h>

namespace chitu::compiler {
namespace {

std::vector<std::string> compileOptions(const std::string &arch) {
  // -lineinfo keeps source lines for profilers and compute-sanitizer at no run-time cost.
  return {"--gpu-architecture=" + arch, "-std=c++17", "-lineinfo"};
}

Status makeDirs(const std::string &path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!partial.empty() && mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
        return ioError("cannot create " + partial);
    }
    if (i < path.size())
      partial += path[i];
  }
  return Status::ok();
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
  return buf;
}

} // namespace

NvrtcCompiler::NvrtcCompiler(std::string cacheDir) : cacheDir_(std::move(cacheDir)) {
  uint64_t h = fnv1a64(version());
  for (const EmbeddedFile &f : embeddedKernelSources()) {
    h = fnv1a64(f.name, h);
    h = fnv1a64(f.source, h);
  }
  headersHash_ = h;
}

std::string NvrtcCompiler::version() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

std::vector<int> NvrtcCompiler::supportedArchs() {
  int n = 0;
  if (nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0)
    return {};
  std::vector<int> archs(size_t(n), 0);
  nvrtcGetSupportedArchs(archs.data());
  return archs;
}

Status NvrtcCompiler::checkTarget(const std::string &arch) {
  std::smatch m;
  static const std::regex pattern("sm_([0-9]+)(a?)");
  std::vector<int> archs = supportedArchs();
  std::string list;
  for (int a : archs)
    list += (list.empty() ? "" : ", ") + ("sm_" + std::to_string(a));
  if (!std::regex_match(arch, m, pattern))
    return invalidArgument("unknown target '" + arch + "' (targets look like sm_90; NVRTC " +
                           version() + " supports " + list + ")");
  int number = std::stoi(m[1]);
  for (int a : archs)
    if (a == number)
      return Status::ok();
  return invalidArgument("NVRTC " + version() + " cannot compile for " + arch +
                         " (supported: " + list + ")");
}

std::string NvrtcCompiler::defaultCacheDir() {
  if (const char *dir = std::getenv("CHITU_CACHE_DIR"))
    return dir;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"))
    return std::string(xdg) + "/chitu/nvrtc";
  if (const char *home = std::getenv("HOME"))
    return std::string(home) + "/.cache/chitu/nvrtc";
  return "";
}

StatusOr<std::vector<uint8_t>> NvrtcCompiler::compile(const std::string &name,
                                                      const std::string &source,
                                                      const std::string &arch, bool &cached) const {
  cached = false;
  std::vector<std::string> options = compileOptions(arch);
  uint64_t key = fnv1a64(source, headersHash_);
  for (const std::string &o : options)
    key = fnv1a64(o, key);
  std::string cachePath =
      cacheDir_.empty() ? "" : joinPath(cacheDir_, hex64(key) + "-" + arch + ".cubin");
  if (!cachePath.empty() && fileExists(cachePath)) {
    auto data = readFile(cachePath);
    if (data.isOk() && !data->empty()) {
      cached = true;
      return std::vector<uint8_t>(data->begin(), data->end());
    }
  }

  const auto &headers = embeddedKernelSources();
  std::vector<const char *> headerSources, headerNames;
  for (const EmbeddedFile &f : headers) {
    headerSources.push_back(f.source.c_str());
    headerNames.push_back(f.name.c_str());
  }
  nvrtcProgram prog;
  std::string fileName = name + ".cu";
  if (nvrtcCreateProgram(&prog, source.c_str(), fileName.c_str(), int(headers.size()),
                         headerSources.data(), headerNames.data()) != NVRTC_SUCCESS)
    return Status(StatusCode::RuntimeError, "NVRTC could not create a program for " + name);
  std::vector<const char *> opts;
  for (const std::string &o : options)
    opts.push_back(o.c_str());
  nvrtcResult result = nvrtcCompileProgram(prog, int(opts.size()), opts.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(prog, &logSize);
  std::string log(logSize, '\0');
  if (logSize)
    nvrtcGetProgramLog(prog, log.data());
  if (result != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&prog);
    return Status(StatusCode::RuntimeError,
                  "NVRTC failed to compile kernel " + name + " for " + arch + ": " +
                      nvrtcGetErrorString(result) + "\n" + log +
                      "\n(this is a bug in chitu's code generation; see --emit=cuda)");
  }
  size_t size = 0;
  nvrtcGetCUBINSize(prog, &size);
  std::vector<uint8_t> cubin(size);
  nvrtcGetCUBIN(prog, reinterpret_cast<char *>(cubin.data()));
  nvrtcDestroyProgram(&prog);

  if (!cachePath.empty() && makeDirs(cacheDir_).isOk()) {
    // Write then rename, so concurrent compilers never read a partial file.
    std::string tmp = cachePath + ".tmp" + std::to_string(getpid());
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char *>(cubin.data()), std::streamsize(cubin.size()));
    out.close();
    if (out)
      std::rename(tmp.c_str(), cachePath.c_str());
    else
      std::remove(tmp.c_str());
  }
  return cubin;
}

} // namespace chitu::compiler
