//===- NvrtcCompiler.h - CUDA C++ to cubin with NVRTC -----------*- C++ -*-===//
//
// Compiles generated kernels to cubins for each target architecture at compile time (no
// GPU needed). Results are cached on disk by a hash of everything that affects them
// (source, headers, architecture, options, NVRTC version), so recompiling a model only
// compiles kernels that changed.
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_COMPILER_NVRTC_NVRTCCOMPILER_H
#define CHITU_COMPILER_NVRTC_NVRTCCOMPILER_H

#include "support/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace chitu::compiler {

class NvrtcCompiler {
public:
  /// `cacheDir` empty: no cache.
  explicit NvrtcCompiler(std::string cacheDir);

  /// "13.0"
  static std::string version();
  /// Architectures NVRTC can target, e.g. {75, 80, 86, 89, 90, 100, 120}.
  static std::vector<int> supportedArchs();
  /// Checks an architecture name such as "sm_90" or "sm_90a"; returns why it is not usable.
  static Status checkTarget(const std::string &arch);
  /// The default cache directory: $CHITU_CACHE_DIR, else $XDG_CACHE_HOME/chitu/nvrtc, else
  /// ~/.cache/chitu/nvrtc.
  static std::string defaultCacheDir();

  /// Compiles `source` (which may include the embedded kernels/ headers) to a cubin.
  /// `cached` tells whether the result came from the cache.
  StatusOr<std::vector<uint8_t>> compile(const std::string &name, const std::string &source,
                                         const std::string &arch, bool &cached) const;

private:
  std::string cacheDir_;
  uint64_t headersHash_;
};

} // namespace chitu::compiler

#endif // CHITU_COMPILER_NVRTC_NVRTCCOMPILER_H
