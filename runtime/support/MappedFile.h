// A read-only memory mapping of a whole file. Large weight files are mapped, not read, so
// that loading costs no copy until the bytes are used.
#pragma once

#include "Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace chitu {

class MappedFile {
public:
  static StatusOr<std::shared_ptr<MappedFile>> open(const std::string &path);
  // Wraps caller-owned memory (tests, fuzzing, in-memory artifacts); no copy is made.
  static std::shared_ptr<MappedFile> wrap(const void *data, size_t size);
  ~MappedFile();
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }
  const std::string &path() const { return path_; }

private:
  MappedFile() = default;
  const uint8_t *data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::string path_;
};

// Reads a whole file into a string (small files: headers, JSON).
StatusOr<std::string> readFile(const std::string &path);

bool fileExists(const std::string &path);
std::string dirName(const std::string &path);
std::string baseName(const std::string &path);
std::string joinPath(const std::string &dir, const std::string &name);
std::string absolutePath(const std::string &path);

} // namespace chitu
