#include "TestArtifact.h"

#include "chitu/cbin/cbin_generated.h"
#include "support/Expr.h"

#include <cstring>

namespace chitu::test {

namespace cb = chitu::cbin;
using flatbuffers::Offset;

namespace {

std::vector<int64_t> constant(int64_t v) { return {int64_t(ExprOpcode::PushConst), v}; }
std::vector<int64_t> symbol(int64_t s) { return {int64_t(ExprOpcode::PushSym), s}; }
// c * s0
std::vector<int64_t> scaled(int64_t c, int64_t s) {
  return {int64_t(ExprOpcode::PushConst), c, int64_t(ExprOpcode::PushSym), s,
          int64_t(ExprOpcode::Mul)};
}

} // namespace

std::vector<uint8_t> buildTestArtifact(const ArtifactKnobs &k) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  auto expr = [&](const std::vector<int64_t> &code) { return cb::CreateExprDirect(fbb, &code); };

  // Tensors: 0 = x (arena @0), 1 = w (weight 0), 2 = x + w (arena @ 256*s0... generous),
  // 3 = y (output alias of 2).
  std::vector<Offset<cb::Expr>> xDims = {expr(symbol(k.symbolInExpr)), expr(constant(4))};
  std::vector<Offset<cb::Expr>> wDims = {expr(constant(4))};
  std::vector<Offset<cb::Expr>> rDims = {expr(symbol(0)), expr(constant(4))};
  std::vector<Offset<cb::Expr>> yDims = {expr(symbol(0)), expr(constant(4))};
  auto x = cb::CreateTensorDirect(fbb, "x", cb::DType(k.tensorDType), &xDims,
                                  cb::StorageKind::ARENA, expr(constant(0)), 0);
  auto w = cb::CreateTensorDirect(fbb, "w", cb::DType::F32, &wDims, cb::StorageKind::WEIGHT, 0, 0);
  auto r = cb::CreateTensorDirect(fbb, "k0_add", cb::DType::F32, &rDims, cb::StorageKind::ARENA,
                                  expr(scaled(16, 0)), 0);
  auto y = cb::CreateTensorDirect(fbb, "y", cb::DType::F32, &yDims, cb::StorageKind::ARENA,
                                  expr(scaled(16, 0)), 0);
  std::vector<Offset<cb::Tensor>> tensors = {x, w, r, y};

  std::vector<int64_t> wShape = {4};
  std::vector<Offset<cb::Weight>> weights = {cb::CreateWeightDirect(
      fbb, "w", cb::DType::F32, &wShape, k.weightByteSize, true, k.weightOffset, 0, nullptr)};

  std::vector<uint32_t> operands = {0, k.addOperand};
  std::vector<Offset<cb::Expr>> opDims = {expr(symbol(0)), expr(constant(4))};
  std::vector<Offset<cb::Op>> ops = {
      cb::CreateOpDirect(fbb, cb::OpKind::ADD, &operands, cb::DType::F32, &opDims)};
  std::vector<uint32_t> results = {2};
  std::vector<Offset<cb::Expr>> grid = {expr(constant(1)), expr(constant(1)), expr(constant(1))};
  std::vector<uint32_t> block = {k.blockThreads, 1, 1};
  std::vector<Offset<cb::Expr>> scalars = {expr(symbol(0))};
  Offset<cb::Expr> scratch = k.scratchSymbol >= 0 ? expr(scaled(64, k.scratchSymbol)) : 0;
  auto launch = cb::CreateLaunchDirect(fbb, &grid, &block, 0, &scalars, false, 0, scratch);
  Offset<cb::LibraryGemm> library = 0;
  if (k.libraryWeightInput >= 0) {
    std::vector<Offset<cb::LibraryProduct>> products = {cb::CreateLibraryProduct(
        fbb, uint32_t(k.libraryWeightInput), expr(constant(4)), k.libraryOutput)};
    library = cb::CreateLibraryGemmDirect(fbb, expr(constant(1)), expr(symbol(0)),
                                          expr(constant(4)), cb::DType(k.libraryDType), 0,
                                          nullptr, nullptr, &products, nullptr);
  }
  std::vector<Offset<cb::Kernel>> kernels = {
      cb::CreateKernelDirect(fbb, "k0_add", 0, 2, &ops, &results, launch, nullptr, nullptr,
                             nullptr, 0, library)};

  std::vector<Offset<cb::Symbol>> symbols = {cb::CreateSymbolDirect(fbb, "s0", k.symbolInput, 0)};
  std::vector<uint32_t> inputs = {0}, outputs = {3};
  std::vector<uint32_t> stepIn = {0, k.stepInputTensor}, stepOut = {2};
  std::vector<Offset<cb::Step>> steps = {
      cb::CreateStepDirect(fbb, k.stepKernel, &stepIn, &stepOut)};
  auto arena = k.missingArena ? Offset<cb::Expr>() : expr(scaled(32, 0));
  std::vector<Offset<cb::Entry>> entries = {
      cb::CreateEntryDirect(fbb, "main", &symbols, nullptr, &inputs, &outputs, &steps, arena)};
  std::vector<Offset<flatbuffers::String>> targets;
  std::vector<Offset<cb::WeightFile>> files;
  auto root = cb::CreateArtifactDirect(fbb, k.schemaVersion, "test", &targets, &tensors, &files,
                                       &weights, &kernels, &entries, 0, 64);
  fbb.FinishSizePrefixed(root, cb::ArtifactIdentifier());

  size_t fbSize = fbb.GetSize();
  size_t segment = (fbSize + 63) / 64 * 64;
  std::vector<uint8_t> file(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbSize);
  cb::GetMutableSizePrefixedArtifact(file.data())
      ->mutate_segment_offset(uint64_t(int64_t(segment) + k.segmentOffsetDelta));
  file.resize(segment + 64, 0);
  const float wValues[4] = {1, 2, 3, 4};
  std::memcpy(file.data() + segment, wValues, sizeof wValues);
  if (k.wrongIdentifier)
    std::memcpy(file.data() + 8, "XBIN", 4);
  return file;
}

} // namespace chitu::test
