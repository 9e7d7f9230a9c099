//===- EmbeddedKernels.h - kernels/ sources inside the compiler -*- C++ -*-===//
#ifndef CHITU_COMPILER_NVRTC_EMBEDDEDKERNELS_H
#define CHITU_COMPILER_NVRTC_EMBEDDEDKERNELS_H

#include <string>
#include <vector>

namespace chitu::compiler {

struct EmbeddedFile {
  std::string name; // e.g. "common.cuh", as generated code includes it
  std::string source;
};

/// The CUDA sources of kernels/, embedded at build time (cmake/EmbedFiles.cmake).
const std::vector<EmbeddedFile> &embeddedKernelSources();

} // namespace chitu::compiler

#endif // CHITU_COMPILER_NVRTC_EMBEDDEDKERNELS_H
