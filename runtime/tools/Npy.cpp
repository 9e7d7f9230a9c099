#include "Npy.h"

#include "support/Float16.h"
#include "support/MappedFile.h"

#include <cstring>
#include <fstream>

namespace chitu {

const char *npyDescr(DType t) {
  switch (t) {
  case DType::F32:
    return "<f4";
  case DType::F16:
    return "<f2";
  case DType::BF16:
    return "<V2";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  case DType::BOOL:
    return "|b1";
  case DType::I8:
    return "|i1";
  case DType::F8E4M3:
    return "|u1"; // numpy has no fp8: the bytes
  }
  return "?";
}

namespace {

// Finds `'key': value` in the header dict and returns the raw value text.
bool headerField(const std::string &h, const std::string &key, std::string &value) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos)
    return false;
  size_t colon = h.find(':', k);
  if (colon == std::string::npos)
    return false;
  size_t start = h.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos)
    return false;
  size_t end;
  if (h[start] == '(') {
    end = h.find(')', start);
    if (end == std::string::npos)
      return false;
    ++end;
  } else if (h[start] == '\'') {
    end = h.find('\'', start + 1);
    if (end == std::string::npos)
      return false;
    ++end;
  } else {
    end = h.find_first_of(",}", start);
    if (end == std::string::npos)
      return false;
  }
  value = h.substr(start, end - start);
  return true;
}

} // namespace

StatusOr<NpyArray> readNpy(const std::string &path) {
  auto content = readFile(path);
  if (!content.isOk())
    return content.status();
  const std::string &s = *content;
  auto bad = [&](const std::string &why) {
    return invalidArgument(path + " is not a valid .npy file: " + why);
  };
  if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0)
    return bad("missing the \\x93NUMPY magic");
  int major = static_cast<unsigned char>(s[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = size_t(uint8_t(s[8])) | size_t(uint8_t(s[9])) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (s.size() < 12)
      return bad("truncated header");
    headerLen = size_t(uint8_t(s[8])) | size_t(uint8_t(s[9])) << 8 | size_t(uint8_t(s[10])) << 16 |
                size_t(uint8_t(s[11])) << 24;
    headerStart = 12;
  } else {
    return bad("unknown format version " + std::to_string(major));
  }
  if (headerStart + headerLen > s.size())
    return bad("truncated header");
  std::string header = s.substr(headerStart, headerLen);
  NpyArray a;
  std::string descr, order, shape;
  if (!headerField(header, "descr", descr) || descr.size() < 2 ||
      !headerField(header, "fortran_order", order) || !headerField(header, "shape", shape))
    return bad("header lacks descr, fortran_order or shape");
  a.descr = descr.substr(1, descr.size() - 2);
  if (a.descr.size() >= 2 && a.descr[0] == '|')
    a.descr[0] = '<'; // byte order is irrelevant for these
  if (order.find("True") != std::string::npos)
    return bad("Fortran-ordered arrays are not supported (use np.ascontiguousarray)");
  // shape is "(d0, d1, )"
  std::string dims = shape.substr(1, shape.size() - 2);
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t comma = dims.find(',', pos);
    std::string tok =
        dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t first = tok.find_first_not_of(' ');
    if (first != std::string::npos) {
      tok = tok.substr(first, tok.find_last_not_of(' ') - first + 1);
      if (tok.empty() || tok.find_first_not_of("0123456789") != std::string::npos ||
          tok.size() > 15)
        return bad("bad shape " + shape);
      a.shape.push_back(std::stoll(tok));
    }
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  size_t elemSize;
  if (a.descr == "<f4" || a.descr == "<i4")
    elemSize = 4;
  else if (a.descr == "<f8" || a.descr == "<i8")
    elemSize = 8;
  else if (a.descr == "<f2" || a.descr == "<V2" || a.descr == "<i2")
    elemSize = 2;
  else if (a.descr == "<b1" || a.descr == "<u1" || a.descr == "<i1")
    elemSize = 1;
  else
    return bad("unsupported dtype '" + a.descr + "'");
  uint64_t bytes = elemSize;
  for (int64_t d : a.shape)
    if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes))
      return bad("shape too large");
  size_t dataStart = headerStart + headerLen;
  if (s.size() - dataStart != bytes)
    return bad("holds " + std::to_string(s.size() - dataStart) + " data bytes, shape " + shape +
               " needs " + std::to_string(bytes));
  a.data.assign(s.begin() + long(dataStart), s.end());
  return a;
}

Status writeNpy(const std::string &path, const std::string &descr,
                const std::vector<int64_t> &shape, const void *data, size_t bytes) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    dict += std::to_string(shape[i]) + (shape.size() == 1 ? "," : i + 1 < shape.size() ? ", " : "");
  dict += "), }";
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out)
    return ioError("cannot write " + path + ": " + std::strerror(errno));
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t len = uint16_t(dict.size());
  char lenBytes[2] = {char(len & 0xff), char(len >> 8)};
  out.write(lenBytes, 2);
  out.write(dict.data(), std::streamsize(dict.size()));
  out.write(static_cast<const char *>(data), std::streamsize(bytes));
  if (!out)
    return ioError("cannot write " + path);
  return Status::ok();
}

Status convertNpyForInput(const NpyArray &in, DType want, const std::string &name,
                          std::vector<uint8_t> &out) {
  if (in.descr == npyDescr(want) || (want == DType::BOOL && in.descr == "<b1")) {
    out = in.data; // (the reader writes a '|' byte order as '<')
    return Status::ok();
  }
  if (want == DType::BF16 && in.descr == "<f4") {
    size_t n = in.data.size() / 4;
    out.resize(n * 2);
    for (size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, in.data.data() + 4 * i, 4);
      uint16_t h = floatToBf16(f);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return Status::ok();
  }
  std::string hint = want == DType::BF16 ? " (bf16 inputs take float32 or ml_dtypes.bfloat16)" : "";
  return invalidArgument("input '" + name + "' is " + dtypeName(want) + " (npy '" + npyDescr(want) +
                         "') but the file holds '" + in.descr + "'" + hint);
}

Status writeTensorNpy(const std::string &path, DType dtype, const std::vector<int64_t> &dims,
                      const std::vector<uint8_t> &data) {
  if (dtype != DType::BF16)
    return writeNpy(path, npyDescr(dtype), dims, data.data(), data.size());
  std::vector<float> wide(data.size() / 2);
  for (size_t i = 0; i < wide.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, data.data() + 2 * i, 2);
    wide[i] = bf16ToFloat(h);
  }
  return writeNpy(path, "<f4", dims, wide.data(), wide.size() * 4);
}

} // namespace chitu
