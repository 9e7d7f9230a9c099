#include "Safetensors.h"

#include "Hash.h"
#include "Json.h"

#include <cstring>
#include <fstream>

namespace chitu {
namespace {

// Byte sizes of the safetensors dtypes we know, supported or not.
int64_t safetensorsElementSize(const std::string &d) {
  if (d == "F64" || d == "I64" || d == "U64")
    return 8;
  if (d == "F32" || d == "I32" || d == "U32")
    return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16")
    return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2")
    return 1;
  return -1;
}

constexpr uint64_t kMaxHeaderSize = 100u << 20; // the format's own limit

} // namespace

const char *safetensorsDTypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "F32";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  case DType::I32:
    return "I32";
  case DType::I64:
    return "I64";
  case DType::BOOL:
    return "BOOL";
  case DType::I8:
    return "I8";
  case DType::F8E4M3:
    return "F8_E4M3";
  }
  return "?";
}

const SafetensorsTensor *SafetensorsFile::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

StatusOr<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string &path) {
  auto mapped = MappedFile::open(path);
  if (!mapped.isOk())
    return mapped.status();
  return parse(*mapped, path, nullptr);
}

StatusOr<std::shared_ptr<SafetensorsFile>>
SafetensorsFile::fromBytes(std::shared_ptr<const std::vector<uint8_t>> bytes,
                           const std::string &label) {
  return parse(MappedFile::wrap(bytes->data(), bytes->size()), label, bytes);
}

StatusOr<std::shared_ptr<SafetensorsFile>>
SafetensorsFile::parse(std::shared_ptr<MappedFile> mapped, const std::string &path,
                       std::shared_ptr<const void> owner) {
  auto st = std::make_shared<SafetensorsFile>();
  st->file_ = std::move(mapped);
  st->owner_ = std::move(owner);
  st->label_ = path;
  const uint8_t *base = st->file_->data();
  uint64_t size = st->file_->size();
  auto bad = [&](const std::string &why) {
    return Status(StatusCode::InvalidArgument, path + " is not a valid safetensors file: " + why);
  };
  if (size < 8)
    return bad("shorter than its 8-byte header length");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | base[i];
  if (headerSize > kMaxHeaderSize || headerSize > size - 8)
    return bad("header length " + std::to_string(headerSize) + " exceeds the file");
  std::string_view header(reinterpret_cast<const char *>(base + 8), headerSize);
  st->headerChecksum_ = fnv1a64(header);
  st->dataStart_ = 8 + headerSize;
  uint64_t dataSize = size - st->dataStart_;

  auto json = parseJson(header);
  if (!json.isOk())
    return bad(json.status().message());
  if (!json->isObject())
    return bad("header is not a JSON object");
  for (const auto &[name, info] : json->members()) {
    if (name == "__metadata__")
      continue;
    const JsonValue *dtype = info.find("dtype");
    const JsonValue *shape = info.find("shape");
    const JsonValue *offsets = info.find("data_offsets");
    if (!dtype || !dtype->isString() || !shape || !shape->isArray() || !offsets ||
        !offsets->isArray() || offsets->items().size() != 2)
      return bad("entry '" + name + "' lacks dtype, shape or data_offsets");
    SafetensorsTensor t;
    t.name = name;
    t.dtypeName = dtype->asString();
    for (int i = 0; i < kNumDTypes; ++i)
      if (t.dtypeName == safetensorsDTypeName(DType(i)))
        t.dtype = DType(i);
    int64_t elemSize = safetensorsElementSize(t.dtypeName);
    if (elemSize < 0)
      return bad("entry '" + name + "' has unknown dtype " + t.dtypeName);
    uint64_t numel = 1;
    for (const JsonValue &d : shape->items()) {
      if (!d.isInteger() || d.asInt() < 0)
        return bad("entry '" + name + "' has a bad shape");
      if (__builtin_mul_overflow(numel, uint64_t(d.asInt()), &numel))
        return bad("entry '" + name + "' has an overflowing shape");
      t.shape.push_back(d.asInt());
    }
    const JsonValue &b = offsets->items()[0], &e = offsets->items()[1];
    if (!b.isInteger() || !e.isInteger() || b.asInt() < 0 || e.asInt() < b.asInt())
      return bad("entry '" + name + "' has bad data_offsets");
    t.begin = uint64_t(b.asInt());
    t.end = uint64_t(e.asInt());
    if (t.end > dataSize)
      return bad("entry '" + name + "' extends past the end of the file");
    uint64_t bytes;
    if (__builtin_mul_overflow(numel, uint64_t(elemSize), &bytes) || bytes != t.end - t.begin)
      return bad("entry '" + name + "' has " + std::to_string(t.end - t.begin) +
                 " bytes but its dtype and shape need " + std::to_string(bytes));
    st->tensors_.emplace(name, std::move(t));
  }
  return st;
}

StatusOr<uint64_t> safetensorsHeaderChecksum(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return ioError("cannot open " + path + ": " + std::strerror(errno));
  uint8_t lenBytes[8];
  if (!in.read(reinterpret_cast<char *>(lenBytes), 8))
    return invalidArgument(path + " is not a valid safetensors file");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | lenBytes[i];
  if (headerSize > kMaxHeaderSize)
    return invalidArgument(path + " is not a valid safetensors file");
  std::string header(headerSize, '\0');
  if (!in.read(header.data(), std::streamsize(headerSize)))
    return invalidArgument(path + " is not a valid safetensors file");
  return fnv1a64(header);
}

} // namespace chitu
