//===- OnnxProto.cpp - reading ONNX ModelProto files ----------------------===//
//
// The protobuf wire format: a message is a sequence of (field number, wire type)
// keys, each followed by a varint (type 0), 8 bytes (1), a length-prefixed byte string
// holding a string, a sub-message or a packed array (2), or 4 bytes (5). Unknown
// fields are skipped, as protobuf requires.
//
//===----------------------------------------------------------------------===//
#include "frontend/OnnxProto.h"

#include <cstring>

namespace chitu::onnx {
namespace {

enum WireType { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

/// Decodes one message's fields. The first failure sticks: later reads return zeros
/// and `ok()` stays false, so callers check once at the end.
class Reader {
public:
  Reader(const uint8_t *p, size_t n, std::string what) : p_(p), end_(p + n), what_(what) {}

  bool ok() const { return error_.empty(); }
  const std::string &error() const { return error_; }
  void fail(const std::string &message) {
    if (error_.empty())
      error_ = what_ + ": " + message;
  }
  void failFrom(const Reader &inner) {
    if (error_.empty() && !inner.ok())
      error_ = inner.error();
  }

  /// Reads the next key; false at the end of the message or on an error.
  bool next(uint32_t &field, uint32_t &wire) {
    if (!ok() || p_ >= end_)
      return false;
    uint64_t key = varint();
    field = uint32_t(key >> 3);
    wire = uint32_t(key & 7);
    if (!ok())
      return false;
    if (field == 0) {
      fail("field number 0");
      return false;
    }
    return true;
  }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) {
        fail("truncated varint");
        return 0;
      }
      uint8_t byte = *p_++;
      v |= uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80))
        return v;
    }
    fail("varint longer than 10 bytes");
    return 0;
  }
  uint32_t fixed32() {
    uint32_t v = 0;
    if (!take(4))
      return 0;
    std::memcpy(&v, p_ - 4, 4);
    return v;
  }
  uint64_t fixed64() {
    uint64_t v = 0;
    if (!take(8))
      return 0;
    std::memcpy(&v, p_ - 8, 8);
    return v;
  }
  /// A length-delimited field: its bytes.
  std::pair<const uint8_t *, size_t> bytes() {
    uint64_t n = varint();
    if (!ok())
      return {nullptr, 0};
    if (n > uint64_t(end_ - p_)) {
      fail("length " + std::to_string(n) + " runs past the end of the message");
      return {nullptr, 0};
    }
    const uint8_t *start = p_;
    p_ += n;
    return {start, size_t(n)};
  }
  std::string string() {
    auto [data, n] = bytes();
    return data ? std::string(reinterpret_cast<const char *>(data), n) : std::string();
  }
  Reader message(const std::string &what) {
    auto [data, n] = bytes();
    return Reader(data ? data : p_, data ? n : 0, what_ + "." + what);
  }

  void skip(uint32_t wire) {
    switch (wire) {
    case kVarint:
      varint();
      break;
    case kFixed64:
      take(8);
      break;
    case kBytes:
      bytes();
      break;
    case kFixed32:
      take(4);
      break;
    default:
      fail("unsupported wire type " + std::to_string(wire));
    }
  }

  /// A repeated integer field, packed (wire type 2) or one element (wire type 0).
  template <typename T> void varints(uint32_t wire, std::vector<T> &out) {
    if (wire == kVarint) {
      out.push_back(T(varint()));
      return;
    }
    if (wire != kBytes)
      return fail("bad wire type for a repeated integer field");
    auto [data, n] = bytes();
    Reader packed(data, data ? n : 0, what_);
    while (packed.ok() && packed.p_ < packed.end_)
      out.push_back(T(packed.varint()));
    failFrom(packed);
  }
  /// A repeated fixed-size field (float, double), packed or one element.
  template <typename T> void fixeds(uint32_t wire, std::vector<T> &out) {
    constexpr uint32_t kWire = sizeof(T) == 4 ? kFixed32 : kFixed64;
    if (wire == kWire) {
      T v;
      if (take(sizeof(T))) {
        std::memcpy(&v, p_ - sizeof(T), sizeof(T));
        out.push_back(v);
      }
      return;
    }
    if (wire != kBytes)
      return fail("bad wire type for a repeated float field");
    auto [data, n] = bytes();
    if (n % sizeof(T))
      return fail("packed array length is not a multiple of the element size");
    size_t old = out.size();
    out.resize(old + n / sizeof(T));
    if (n)
      std::memcpy(out.data() + old, data, n);
  }

  bool expect(uint32_t wire, uint32_t want) {
    if (wire == want)
      return true;
    fail("unexpected wire type " + std::to_string(wire));
    return false;
  }

private:
  bool take(size_t n) {
    if (size_t(end_ - p_) < n) {
      fail("truncated field");
      return false;
    }
    p_ += n;
    return true;
  }

  const uint8_t *p_, *end_;
  std::string what_;
  std::string error_;
};

template <typename T> void appendBytes(std::vector<uint8_t> &out, T v, size_t size) {
  uint8_t buf[8] = {};
  std::memcpy(buf, &v, sizeof(T));
  out.insert(out.end(), buf, buf + size); // little-endian host: the low `size` bytes
}

bool readTensor(Reader &r, Tensor &t) {
  std::vector<float> floats;
  std::vector<double> doubles;
  std::vector<int64_t> int32s, int64s;
  std::vector<uint64_t> uint64s;
  bool hasRaw = false;
  uint32_t field, wire;
  while (r.next(field, wire)) {
    switch (field) {
    case 1:
      r.varints(wire, t.dims);
      break;
    case 2:
      if (r.expect(wire, kVarint))
        t.dataType = int32_t(r.varint());
      break;
    case 4:
      r.fixeds(wire, floats);
      break;
    case 5:
      r.varints(wire, int32s);
      break;
    case 7:
      r.varints(wire, int64s);
      break;
    case 8:
      if (r.expect(wire, kBytes))
        t.name = r.string();
      break;
    case 9:
      if (r.expect(wire, kBytes)) {
        auto [data, n] = r.bytes();
        t.data.assign(data, data + n);
        hasRaw = true;
      }
      break;
    case 10:
      r.fixeds(wire, doubles);
      break;
    case 11:
      r.varints(wire, uint64s);
      break;
    case 13: // external_data: StringStringEntryProto {key = 1, value = 2}
      if (r.expect(wire, kBytes)) {
        Reader e = r.message("external_data");
        std::string key, value;
        uint32_t f2, w2;
        while (e.next(f2, w2)) {
          if (f2 == 1 && e.expect(w2, kBytes))
            key = e.string();
          else if (f2 == 2 && e.expect(w2, kBytes))
            value = e.string();
          else
            e.skip(w2);
        }
        r.failFrom(e);
        if (key == "location")
          t.location = value;
        else if (key == "offset")
          t.offset = std::atoll(value.c_str());
        else if (key == "length")
          t.length = std::atoll(value.c_str());
      }
      break;
    case 14:
      if (r.expect(wire, kVarint))
        t.external = r.varint() == 1;
      break;
    default:
      r.skip(wire);
    }
  }
  if (!r.ok())
    return false;
  for (int64_t d : t.dims)
    if (d < 0) {
      r.fail("tensor '" + t.name + "' has a negative dimension");
      return false;
    }
  if (hasRaw || t.external)
    return true;
  size_t size = elemTypeSize(t.dataType);
  switch (t.dataType) {
  case kFloat:
    for (float v : floats)
      appendBytes(t.data, v, 4);
    break;
  case kDouble:
    for (double v : doubles)
      appendBytes(t.data, v, 8);
    break;
  case kInt64:
    for (int64_t v : int64s)
      appendBytes(t.data, v, 8);
    break;
  case kUint32:
  case kUint64:
    for (uint64_t v : uint64s)
      appendBytes(t.data, v, size);
    break;
  default: // int32_data holds every narrower type, float16/bfloat16 as their bits
    if (size)
      for (int64_t v : int32s)
        appendBytes(t.data, v, size);
  }
  return true;
}

bool readValueInfo(Reader &r, ValueInfo &v) {
  uint32_t field, wire;
  while (r.next(field, wire)) {
    if (field == 1 && r.expect(wire, kBytes)) {
      v.name = r.string();
    } else if (field == 2 && r.expect(wire, kBytes)) {
      Reader type = r.message("type");
      uint32_t f2, w2;
      while (type.next(f2, w2)) {
        if (f2 == 1 && type.expect(w2, kBytes)) { // tensor_type
          Reader tt = type.message("tensor_type");
          uint32_t f3, w3;
          while (tt.next(f3, w3)) {
            if (f3 == 1 && tt.expect(w3, kVarint)) {
              v.elemType = int32_t(tt.varint());
            } else if (f3 == 2 && tt.expect(w3, kBytes)) {
              v.hasShape = true;
              Reader shape = tt.message("shape");
              uint32_t f4, w4;
              while (shape.next(f4, w4)) {
                if (f4 != 1) {
                  shape.skip(w4);
                  continue;
                }
                Reader dim = shape.message("dim");
                Dim d;
                uint32_t f5, w5;
                while (dim.next(f5, w5)) {
                  if (f5 == 1 && dim.expect(w5, kVarint))
                    d.value = int64_t(dim.varint());
                  else if (f5 == 2 && dim.expect(w5, kBytes))
                    d.param = dim.string();
                  else
                    dim.skip(w5);
                }
                shape.failFrom(dim);
                v.dims.push_back(d);
              }
              tt.failFrom(shape);
            } else {
              tt.skip(w3);
            }
          }
          type.failFrom(tt);
        } else if (f2 == 4 || f2 == 5 || f2 == 8 || f2 == 9) {
          v.otherKind = f2 == 4   ? "sequence"
                        : f2 == 5 ? "map"
                        : f2 == 8 ? "sparse tensor"
                                  : "optional";
          type.skip(w2);
        } else {
          type.skip(w2);
        }
      }
      r.failFrom(type);
    } else {
      r.skip(wire);
    }
  }
  return r.ok();
}

bool readGraph(Reader &r, Graph &g);

bool readAttribute(Reader &r, Attribute &a) {
  bool hasType = false;
  uint32_t field, wire;
  while (r.next(field, wire)) {
    switch (field) {
    case 1:
      if (r.expect(wire, kBytes))
        a.name = r.string();
      break;
    case 20:
      if (r.expect(wire, kVarint))
        a.kind = int32_t(r.varint()), hasType = true;
      break;
    case 21:
      if (r.expect(wire, kBytes))
        a.refAttrName = r.string();
      break;
    case 2:
      if (r.expect(wire, kFixed32)) {
        uint32_t bits = r.fixed32();
        std::memcpy(&a.f, &bits, 4);
        if (!hasType)
          a.kind = Attribute::kFloatAttr;
      }
      break;
    case 3:
      if (r.expect(wire, kVarint)) {
        a.i = int64_t(r.varint());
        if (!hasType)
          a.kind = Attribute::kIntAttr;
      }
      break;
    case 4:
      if (r.expect(wire, kBytes)) {
        a.s = r.string();
        if (!hasType)
          a.kind = Attribute::kStringAttr;
      }
      break;
    case 5:
      if (r.expect(wire, kBytes)) {
        Reader t = r.message("t");
        readTensor(t, a.t);
        r.failFrom(t);
        if (!hasType)
          a.kind = Attribute::kTensorAttr;
      }
      break;
    case 6:
      r.skip(wire); // graph bodies (If, Loop, Scan): no supported op takes one
      if (!hasType)
        a.kind = Attribute::kGraphAttr;
      break;
    case 7:
      r.fixeds(wire, a.floats);
      if (!hasType)
        a.kind = Attribute::kFloatsAttr;
      break;
    case 8:
      r.varints(wire, a.ints);
      if (!hasType)
        a.kind = Attribute::kIntsAttr;
      break;
    case 9:
      if (r.expect(wire, kBytes))
        a.strings.push_back(r.string());
      if (!hasType)
        a.kind = Attribute::kStringsAttr;
      break;
    default:
      r.skip(wire);
    }
  }
  return r.ok();
}

bool readNode(Reader &r, Node &n) {
  uint32_t field, wire;
  while (r.next(field, wire)) {
    switch (field) {
    case 1:
      if (r.expect(wire, kBytes))
        n.inputs.push_back(r.string());
      break;
    case 2:
      if (r.expect(wire, kBytes))
        n.outputs.push_back(r.string());
      break;
    case 3:
      if (r.expect(wire, kBytes))
        n.name = r.string();
      break;
    case 4:
      if (r.expect(wire, kBytes))
        n.opType = r.string();
      break;
    case 7:
      if (r.expect(wire, kBytes))
        n.domain = r.string();
      break;
    case 5:
      if (r.expect(wire, kBytes)) {
        Reader a = r.message("attribute");
        n.attributes.emplace_back();
        readAttribute(a, n.attributes.back());
        r.failFrom(a);
      }
      break;
    default:
      r.skip(wire);
    }
  }
  return r.ok();
}

bool readGraph(Reader &r, Graph &g) {
  uint32_t field, wire;
  while (r.next(field, wire)) {
    if (wire != kBytes) {
      r.skip(wire);
      continue;
    }
    switch (field) {
    case 1: {
      Reader n = r.message("node[" + std::to_string(g.nodes.size()) + "]");
      g.nodes.emplace_back();
      readNode(n, g.nodes.back());
      r.failFrom(n);
      break;
    }
    case 2:
      g.name = r.string();
      break;
    case 5: {
      Reader t = r.message("initializer[" + std::to_string(g.initializers.size()) + "]");
      g.initializers.emplace_back();
      readTensor(t, g.initializers.back());
      r.failFrom(t);
      break;
    }
    case 11:
    case 12:
    case 13: {
      auto &list = field == 11 ? g.inputs : field == 12 ? g.outputs : g.valueInfo;
      Reader v = r.message(field == 11 ? "input" : field == 12 ? "output" : "value_info");
      list.emplace_back();
      readValueInfo(v, list.back());
      r.failFrom(v);
      break;
    }
    case 15:
      ++g.sparseInitializers;
      r.bytes();
      break;
    default:
      r.bytes();
    }
  }
  return r.ok();
}

} // namespace

std::string elemTypeName(int32_t type) {
  switch (type) {
  case kFloat:
    return "float";
  case kUint8:
    return "uint8";
  case kInt8:
    return "int8";
  case kUint16:
    return "uint16";
  case kInt16:
    return "int16";
  case kInt32:
    return "int32";
  case kInt64:
    return "int64";
  case kString:
    return "string";
  case kBool:
    return "bool";
  case kFloat16:
    return "float16";
  case kDouble:
    return "double";
  case kUint32:
    return "uint32";
  case kUint64:
    return "uint64";
  case kBfloat16:
    return "bfloat16";
  case 17:
  case 18:
  case 19:
  case 20:
    return "float8 (type " + std::to_string(type) + ")";
  case 21:
    return "uint4";
  case 22:
    return "int4";
  default:
    return "type " + std::to_string(type);
  }
}

size_t elemTypeSize(int32_t type) {
  switch (type) {
  case kUint8:
  case kInt8:
  case kBool:
  case 17:
  case 18:
  case 19:
  case 20:
    return 1;
  case kUint16:
  case kInt16:
  case kFloat16:
  case kBfloat16:
    return 2;
  case kFloat:
  case kInt32:
  case kUint32:
    return 4;
  case kInt64:
  case kDouble:
  case kUint64:
    return 8;
  default:
    return 0;
  }
}

int64_t Tensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

const Attribute *Node::attribute(const std::string &name) const {
  for (const Attribute &a : attributes)
    if (a.name == name)
      return &a;
  return nullptr;
}

bool parseModel(const uint8_t *data, size_t size, Model &model, std::string &error) {
  Reader r(data, size, "ModelProto");
  bool hasGraph = false;
  uint32_t field, wire;
  while (r.next(field, wire)) {
    switch (field) {
    case 1:
      if (r.expect(wire, kVarint))
        model.irVersion = int64_t(r.varint());
      break;
    case 2:
      if (r.expect(wire, kBytes))
        model.producerName = r.string();
      break;
    case 3:
      if (r.expect(wire, kBytes))
        model.producerVersion = r.string();
      break;
    case 7:
      if (r.expect(wire, kBytes)) {
        Reader g = r.message("graph");
        readGraph(g, model.graph);
        r.failFrom(g);
        hasGraph = true;
      }
      break;
    case 8:
      if (r.expect(wire, kBytes)) {
        Reader o = r.message("opset_import");
        std::string domain;
        int64_t version = 0;
        uint32_t f2, w2;
        while (o.next(f2, w2)) {
          if (f2 == 1 && o.expect(w2, kBytes))
            domain = o.string();
          else if (f2 == 2 && o.expect(w2, kVarint))
            version = int64_t(o.varint());
          else
            o.skip(w2);
        }
        r.failFrom(o);
        model.opsets[domain == "ai.onnx" ? "" : domain] = version;
      }
      break;
    case 25:
      ++model.functions;
      r.skip(wire);
      break;
    default:
      r.skip(wire);
    }
  }
  if (!r.ok()) {
    error = "malformed ONNX model (" + r.error() + ")";
    return false;
  }
  if (!hasGraph) {
    error = "not an ONNX model: the ModelProto has no graph";
    return false;
  }
  return true;
}

bool parseTensor(const uint8_t *data, size_t size, Tensor &tensor, std::string &error) {
  Reader r(data, size, "TensorProto");
  if (!readTensor(r, tensor)) {
    error = "malformed ONNX tensor (" + r.error() + ")";
    return false;
  }
  return true;
}

} // namespace chitu::onnx
