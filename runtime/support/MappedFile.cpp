#include "MappedFile.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace chitu {

StatusOr<std::shared_ptr<MappedFile>> MappedFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ioError("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ioError("cannot stat " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return ioError(path + " is not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = size_t(st.st_size);
  if (file->size_ > 0) {
    void *p = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return ioError("cannot map " + path + ": " + std::strerror(err));
    }
    file->data_ = static_cast<const uint8_t *>(p);
    file->mapped_ = true;
  }
  ::close(fd);
  return file;
}

std::shared_ptr<MappedFile> MappedFile::wrap(const void *data, size_t size) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->data_ = static_cast<const uint8_t *>(data);
  file->size_ = size;
  file->path_ = "<memory>";
  return file;
}

MappedFile::~MappedFile() {
  if (mapped_)
    munmap(const_cast<uint8_t *>(data_), size_);
}

StatusOr<std::string> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return ioError("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return ioError("cannot read " + path);
  return ss.str();
}

bool fileExists(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dirName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

std::string baseName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string joinPath(const std::string &dir, const std::string &name) {
  if (dir.empty() || (!name.empty() && name[0] == '/'))
    return name;
  if (dir.back() == '/')
    return dir + name;
  return dir + "/" + name;
}

std::string absolutePath(const std::string &path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf))
    return buf;
  return path;
}

} // namespace chitu
