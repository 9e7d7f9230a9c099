// Reading the safetensors format: an 8-byte little-endian header length, a JSON header that
// maps tensor names to dtype, shape and byte range, then the tensor bytes.
#pragma once

#include "DType.h"
#include "MappedFile.h"
#include "Status.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chitu {

struct SafetensorsTensor {
  std::string name;
  std::string dtypeName;      // as written in the file: "F32", "BF16", "I8", ...
  std::optional<DType> dtype; // set when chitu supports the file's dtype
  std::vector<int64_t> shape;
  uint64_t begin = 0; // byte range within the data section
  uint64_t end = 0;
};

class SafetensorsFile {
public:
  // Maps the file and parses and validates its header: every byte range lies in the file
  // and matches its dtype and shape.
  static StatusOr<std::shared_ptr<SafetensorsFile>> open(const std::string &path);
  // The same for a safetensors image in memory (weights a frontend extracted from another
  // format); `label` stands for the path in messages.
  static StatusOr<std::shared_ptr<SafetensorsFile>>
  fromBytes(std::shared_ptr<const std::vector<uint8_t>> bytes, const std::string &label);

  const std::string &path() const { return label_; }
  // False for images made by fromBytes: they can only be embedded, not referenced.
  bool onDisk() const { return owner_ == nullptr; }
  uint64_t fileSize() const { return file_->size(); }
  uint64_t headerChecksum() const { return headerChecksum_; }
  const std::map<std::string, SafetensorsTensor> &tensors() const { return tensors_; }
  const SafetensorsTensor *find(const std::string &name) const;
  // Pointer to a tensor's bytes inside the mapping.
  const uint8_t *data(const SafetensorsTensor &t) const {
    return file_->data() + dataStart_ + t.begin;
  }

private:
  static StatusOr<std::shared_ptr<SafetensorsFile>> parse(std::shared_ptr<MappedFile> mapped,
                                                          const std::string &path,
                                                          std::shared_ptr<const void> owner);

  std::shared_ptr<MappedFile> file_;
  std::shared_ptr<const void> owner_; // keeps a fromBytes image alive
  std::string label_;
  uint64_t dataStart_ = 0;
  uint64_t headerChecksum_ = 0;
  std::map<std::string, SafetensorsTensor> tensors_;
};

// The FNV-1a 64 checksum of a safetensors file's JSON header, read without mapping the rest.
StatusOr<uint64_t> safetensorsHeaderChecksum(const std::string &path);

// Safetensors dtype string ("F32", "BF16", ...) for a chitu dtype.
const char *safetensorsDTypeName(DType t);

} // namespace chitu
