// Concrete sizes of one entry for one set of input shapes: symbol values, every tensor's
// dims and bytes, arena offsets and the arena size, all checked against each other.
#pragma once

#include "Model.h"

#include <cstdint>
#include <string>
#include <vector>

namespace chitu::rt {

struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

int64_t numElements(const std::vector<int64_t> &dims);
std::string dimsToString(const std::vector<int64_t> &dims);

struct EntryShapes {
  std::vector<int64_t> symbols;
  // Indexed by artifact tensor index; filled for the tensors the entry uses.
  std::vector<std::vector<int64_t>> dims;
  std::vector<uint64_t> bytes;
  std::vector<uint64_t> offsets; // arena tensors only
  std::vector<int> stateOf;      // STATE tensors: the entry input owning the buffer, else -1
  uint64_t arenaSize = 0;

  // Evaluates an Expr of this entry with the bound symbols.
  StatusOr<int64_t> eval(const cbin::Expr &e) const;
  StatusOr<std::vector<int64_t>>
  evalDims(const flatbuffers::Vector<flatbuffers::Offset<cbin::Expr>> &dims) const;
};

// Arena sizes beyond this are refused as nonsense rather than attempted.
constexpr uint64_t kMaxArenaBytes = uint64_t(1) << 44;

// Binds the dims of the entry's inputs (in entry order) and derives everything else.
StatusOr<EntryShapes> bindEntryShapes(const Model &model, int entry,
                                      const std::vector<std::vector<int64_t>> &inputDims);

} // namespace chitu::rt
