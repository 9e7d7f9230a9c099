// A small .cbin built directly with the FlatBuffers API (no compiler needed), with knobs
// that make it invalid in one specific way each: the loader tests and the fuzzer's seed.
//
// The valid artifact has one entry `main(x: f32[s0, 4]) -> y = x + w`, where w is an
// embedded f32[4] weight {1, 2, 3, 4}, computed by one kernel with a CPU op list and no
// GPU binaries.
#pragma once

#include <cstdint>
#include <vector>

namespace chitu::test {

struct ArtifactKnobs {
  uint32_t schemaVersion = 1;
  bool wrongIdentifier = false;
  uint64_t weightOffset = 0; // embedded offset of w in the segment
  uint64_t weightByteSize = 16;
  int64_t segmentOffsetDelta = 0; // added to the true segment offset
  uint32_t stepInputTensor = 1;   // the weight tensor
  uint32_t stepKernel = 0;
  int64_t symbolInExpr = 0; // symbol index used by x's dynamic dim
  uint32_t addOperand = 1;  // second operand of the ADD op
  int8_t tensorDType = 0;   // dtype of x
  uint32_t symbolInput = 0; // input that symbol 0 is read from
  uint32_t blockThreads = 1;
  bool missingArena = false;
  // A library route on the kernel (cbin LibraryGemm): its product's B input (-1: no route),
  // output, and the products' dtype.
  int32_t libraryWeightInput = -1;
  int32_t libraryOutput = 0;
  int8_t libraryDType = 2; // BF16
  // The launch's kernel scratch (cbin Launch.scratch_bytes): 64 bytes times this symbol
  // (-1: no scratch).
  int64_t scratchSymbol = -1;
};

std::vector<uint8_t> buildTestArtifact(const ArtifactKnobs &knobs = {});

} // namespace chitu::test
