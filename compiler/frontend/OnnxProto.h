//===- OnnxProto.h - reading ONNX ModelProto files --------------*- C++ -*-===//
//
// A reader for the parts of the ONNX protobuf schema (onnx.proto, IR version 3 and
// later) that a compiler needs: the graph, its nodes and attributes, initializers
// (inline or external data) and the types of inputs and outputs. It decodes the
// protobuf wire format directly, so the compiler depends on no protobuf library and
// every malformed byte turns into an error message instead of an abort. Field numbers
// are those of onnx.proto, which ONNX keeps stable across releases.
//
//===----------------------------------------------------------------------===//
#ifndef CHITU_COMPILER_FRONTEND_ONNXPROTO_H
#define CHITU_COMPILER_FRONTEND_ONNXPROTO_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace chitu::onnx {

/// TensorProto.DataType values.
enum ElemType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBfloat16 = 16,
};

/// "float", "int64", ... (or "type <n>") for messages.
std::string elemTypeName(int32_t type);
/// Bytes per element, 0 for types without a fixed size (string) or unknown ones.
size_t elemTypeSize(int32_t type);

struct Tensor {
  std::string name;
  int32_t dataType = kUndefined;
  std::vector<int64_t> dims;
  /// The elements, little-endian, packed as elemTypeSize(dataType) bytes each (typed
  /// fields such as float_data are converted into this form).
  std::vector<uint8_t> data;
  /// External data (data_location = EXTERNAL): the file relative to the model's
  /// directory, and the byte range (length -1: to the end of the file).
  bool external = false;
  std::string location;
  int64_t offset = 0, length = -1;

  int64_t numElements() const;
};

struct Attribute {
  enum Kind : int32_t {
    kUndefinedAttr = 0,
    kFloatAttr = 1,
    kIntAttr = 2,
    kStringAttr = 3,
    kTensorAttr = 4,
    kGraphAttr = 5,
    kFloatsAttr = 6,
    kIntsAttr = 7,
    kStringsAttr = 8,
    kTensorsAttr = 9,
    kGraphsAttr = 10,
  };
  std::string name;
  int32_t kind = kUndefinedAttr;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  /// Set for attributes that reference a function's attribute (unsupported).
  std::string refAttrName;
};

struct Node {
  std::string name, opType, domain;
  /// Input names; "" marks an omitted optional input.
  std::vector<std::string> inputs, outputs;
  std::vector<Attribute> attributes;

  const Attribute *attribute(const std::string &name) const;
};

/// One dimension of a value's shape: a size, a symbolic name, or unknown.
struct Dim {
  int64_t value = -1; // >= 0 when known
  std::string param;  // the symbolic name, if any
};

struct ValueInfo {
  std::string name;
  /// 0 when the value has no tensor type (sequence, map, optional...).
  int32_t elemType = kUndefined;
  bool hasShape = false;
  std::vector<Dim> dims;
  /// Set for non-tensor types: "sequence", "map", "optional", "sparse tensor".
  std::string otherKind;
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;
  std::vector<Tensor> initializers;
  std::vector<ValueInfo> inputs, outputs, valueInfo;
  int64_t sparseInitializers = 0;
};

struct Model {
  int64_t irVersion = 0;
  std::string producerName, producerVersion;
  /// opset_import: domain ("" for the default ai.onnx) -> version.
  std::map<std::string, int64_t> opsets;
  Graph graph;
  int64_t functions = 0; // model-local functions (not supported)
};

/// Parses a serialized ModelProto. Returns false and sets `error` (naming the message
/// and field where the bytes went wrong) on malformed input.
bool parseModel(const uint8_t *data, size_t size, Model &model, std::string &error);
/// Parses a serialized TensorProto (the inputs and outputs of ONNX test data sets).
bool parseTensor(const uint8_t *data, size_t size, Tensor &tensor, std::string &error);

} // namespace chitu::onnx

#endif // CHITU_COMPILER_FRONTEND_ONNXPROTO_H
