//===- Onnx.cpp - ONNX models as a compiler input -------------------------===//
//
// Walks the graph's nodes in order (ONNX requires topological order) and emits chitu
// ops. Values known at compile time (initializers, Constant, shapes of static tensors
// and everything computed only from those) are kept as `Known` tensors and folded;
// they become IR only where a computed op consumes them: inline `chitu.constant`s when
// small, `chitu.weight`s (packed into the artifact) otherwise. Integer `Known` tensors
// may hold run-time sizes (an `index` value per element), which is how shape
// subgraphs over dynamic dimensions end in `chitu.reshape` / `chitu.slice` sizes.
//
//===----------------------------------------------------------------------===//
#include "frontend/Onnx.h"

#include "chitu/Dialect/ChituOps.h"
#include "frontend/OnnxProto.h"
#include "support/DType.h"
#include "support/Json.h"
#include "support/MappedFile.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <set>

using namespace mlir;
using namespace mlir::chitu;
namespace ox = ::chitu::onnx;
using ::chitu::DType;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;
/// Larger constants become weights; chitu.constant is for small values.
constexpr int64_t kMaxInlineElements = 4096;
/// Opsets the importer accepts; each operator also has its first supported version
/// (opVersions below).
constexpr int64_t kMinOpset = 7, kMaxOpset = 28;

struct ImportError {
  std::string message;
};

std::string shapeText(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + (ShapedType::isDynamic(shape[i]) ? "?" : std::to_string(shape[i]));
  return s + "]";
}

bool isFloatType(int32_t t) {
  return t == ox::kFloat || t == ox::kFloat16 || t == ox::kBfloat16 || t == ox::kDouble;
}

/// A tensor known at compile time. Float elements live in `f`, integer and bool ones in
/// `i`; `sym[k]`, where set, is the run-time `index` value of integer element k.
/// Large initializers keep only their bytes (`raw`) until something needs the elements.
struct Known {
  int32_t type = ox::kUndefined;
  SmallVector<int64_t> shape;
  std::vector<double> f;
  std::vector<int64_t> i;
  std::vector<Value> sym;
  std::shared_ptr<const ox::Tensor> raw;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  bool isFloat() const { return isFloatType(type); }
  bool symbolic() const {
    return llvm::any_of(sym, [](Value v) { return bool(v); });
  }
  bool symbolicAt(int64_t k) const { return k < int64_t(sym.size()) && sym[k]; }
  /// Decodes `raw` into f / i.
  void decode() {
    if (!raw)
      return;
    int64_t n = numel();
    const uint8_t *p = raw->data.data();
    DType t = DType::F32;
    bool isF = true;
    switch (type) {
    case ox::kFloat:
      t = DType::F32;
      break;
    case ox::kFloat16:
      t = DType::F16;
      break;
    case ox::kBfloat16:
      t = DType::BF16;
      break;
    default:
      isF = false;
    }
    if (isF) {
      f.resize(n);
      for (int64_t k = 0; k < n; ++k)
        f[k] = ::chitu::elementAsDouble(t, p, size_t(k));
    } else if (type == ox::kDouble) {
      f.resize(n);
      std::memcpy(f.data(), p, size_t(n) * 8);
    } else {
      i.resize(n);
      size_t size = ox::elemTypeSize(type);
      auto read = [&](auto tag, const uint8_t *e) {
        decltype(tag) v;
        std::memcpy(&v, e, sizeof v);
        return int64_t(v);
      };
      for (int64_t k = 0; k < n; ++k) {
        const uint8_t *e = p + k * size;
        switch (type) {
        case ox::kInt8:
          i[k] = read(int8_t(), e);
          break;
        case ox::kUint8:
        case ox::kBool:
          i[k] = read(uint8_t(), e);
          break;
        case ox::kInt16:
          i[k] = read(int16_t(), e);
          break;
        case ox::kUint16:
          i[k] = read(uint16_t(), e);
          break;
        case ox::kInt32:
          i[k] = read(int32_t(), e);
          break;
        case ox::kUint32:
          i[k] = read(uint32_t(), e);
          break;
        default:
          i[k] = read(int64_t(), e);
        }
      }
    }
    raw.reset();
  }
  double asDouble(int64_t k) const { return isFloat() ? f[k] : double(i[k]); }
  int64_t asInt(int64_t k) const { return isFloat() ? int64_t(f[k]) : i[k]; }
};
using KnownPtr = std::shared_ptr<Known>;

struct Entry {
  Value value;
  KnownPtr known;
};

/// NumPy broadcasting of static shapes; nullopt if they do not broadcast.
std::optional<SmallVector<int64_t>> broadcastStatic(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t k = 0; k < rank; ++k) {
    int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da == db || db == 1)
      out[k] = da;
    else if (da == 1)
      out[k] = db;
    else if (ShapedType::isDynamic(da) || ShapedType::isDynamic(db))
      out[k] = ShapedType::isDynamic(da) ? db : da;
    else
      return std::nullopt;
  }
  return out;
}

/// Index into a tensor of `shape` for element `flat` of a broadcast result `out`.
int64_t broadcastSource(ArrayRef<int64_t> out, ArrayRef<int64_t> shape, int64_t flat) {
  int64_t src = 0, stride = 1;
  for (int64_t d = int64_t(out.size()) - 1, s = int64_t(shape.size()) - 1; d >= 0; --d, --s) {
    int64_t idx = flat % out[d];
    flat /= out[d];
    if (s >= 0) {
      if (shape[s] != 1)
        src += idx * stride;
      stride *= shape[s];
    }
  }
  return src;
}

class Importer {
public:
  Importer(MLIRContext &ctx, const ox::Model &model, std::string modelDir,
           const OnnxImportOptions &options)
      : ctx_(ctx), model_(model), modelDir_(std::move(modelDir)), b_(&ctx),
        loc_(UnknownLoc::get(&ctx)), floatDType_(options.precision.value_or(DType::F32)) {}

  OnnxModel run();

private:
  // ---- errors
  [[noreturn]] void fail(const std::string &message) { throw ImportError{message}; }
  std::string where() const {
    return "node '" + (node_->name.empty() ? "#" + std::to_string(nodeIndex_) : node_->name) +
           "' (" + node_->opType + ")";
  }
  [[noreturn]] void nodeFail(const std::string &message) { fail(where() + ": " + message); }

  // ---- types
  Type mlirType(int32_t t) {
    switch (t) {
    case ox::kFloat: // float32 tensors take the chosen precision
      return floatDType_ == DType::BF16  ? Type(b_.getBF16Type())
             : floatDType_ == DType::F16 ? Type(b_.getF16Type())
                                         : Type(b_.getF32Type());
    case ox::kFloat16:
      return b_.getF16Type();
    case ox::kBfloat16:
      return b_.getBF16Type();
    case ox::kInt32:
      return b_.getI32Type();
    case ox::kInt64:
      return b_.getI64Type();
    case ox::kBool:
      return b_.getI1Type();
    default:
      return {};
    }
  }
  static int32_t onnxType(Type t) {
    if (t.isF32())
      return ox::kFloat;
    if (t.isF16())
      return ox::kFloat16;
    if (t.isBF16())
      return ox::kBfloat16;
    if (t.isInteger(32))
      return ox::kInt32;
    if (t.isInteger(1))
      return ox::kBool;
    return ox::kInt64;
  }
  DType chituDType(int32_t t) const {
    switch (t) {
    case ox::kFloat:
      return floatDType_;
    case ox::kFloat16:
      return DType::F16;
    case ox::kBfloat16:
      return DType::BF16;
    case ox::kInt32:
      return DType::I32;
    case ox::kInt64:
      return DType::I64;
    case ox::kBool:
      return DType::BOOL;
    default:
      return DType::F32;
    }
  }
  Type checkedType(int32_t t, const std::string &what) {
    Type type = mlirType(t);
    if (!type)
      fail(what + " has element type " + ox::elemTypeName(t) +
           "; supported: float, float16, bfloat16, int32, int64, bool");
    return type;
  }
  static RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }
  static ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }
  static Type elemOf(Value v) { return tensorType(v).getElementType(); }
  RankedTensorType tensor(ArrayRef<int64_t> shape, Type et) {
    return RankedTensorType::get(shape, et);
  }

  // ---- values
  bool has(size_t k) const { return k < node_->inputs.size() && !node_->inputs[k].empty(); }
  Entry &entry(const std::string &name) {
    auto it = values_.find(name);
    if (it == values_.end())
      nodeFail("input '" + name + "' is not produced by any earlier node, input or initializer");
    return it->second;
  }
  /// Input k as a compile-time tensor, or null.
  Known *known(size_t k) {
    if (!has(k))
      return nullptr;
    Entry &e = entry(node_->inputs[k]);
    if (!e.known)
      return nullptr;
    e.known->decode();
    return e.known.get();
  }
  /// Input k as a compile-time tensor, or a failure naming what must be constant.
  Known &requireKnown(size_t k, const std::string &what) {
    if (!has(k))
      nodeFail("the " + what + " input is missing");
    Known *c = known(k);
    if (!c)
      nodeFail("the " + what +
               " input must be a compile-time constant (an initializer, a "
               "Constant or a shape computation)");
    return *c;
  }
  std::vector<int64_t> requireInts(size_t k, const std::string &what) {
    Known &c = requireKnown(k, what);
    if (c.symbolic())
      nodeFail("the " + what + " input must be static");
    std::vector<int64_t> out;
    for (int64_t e = 0; e < c.numel(); ++e)
      out.push_back(c.asInt(e));
    return out;
  }
  /// Input k as IR (materializing a compile-time tensor).
  Value value(size_t k) {
    if (!has(k))
      nodeFail("input " + std::to_string(k) + " is missing");
    Entry &e = entry(node_->inputs[k]);
    if (!e.value)
      e.value = materialize(*e.known, node_->inputs[k]);
    return e.value;
  }
  Value materialize(Known &c, const std::string &name);
  Value indexTensor(Known &c);

  void define(size_t outIndex, Value v) {
    if (outIndex < node_->outputs.size() && !node_->outputs[outIndex].empty())
      values_[node_->outputs[outIndex]] = Entry{v, nullptr};
  }
  void defineKnown(size_t outIndex, Known c) {
    if (outIndex < node_->outputs.size() && !node_->outputs[outIndex].empty())
      values_[node_->outputs[outIndex]] = Entry{Value(), std::make_shared<Known>(std::move(c))};
  }
  bool outputUsed(size_t outIndex) const {
    return outIndex < node_->outputs.size() && !node_->outputs[outIndex].empty() &&
           used_.count(node_->outputs[outIndex]);
  }

  // ---- attributes
  const ox::Attribute *attr(const std::string &name) const { return node_->attribute(name); }
  int64_t intAttr(const std::string &name, int64_t fallback) const {
    const ox::Attribute *a = attr(name);
    return a ? a->i : fallback;
  }
  float floatAttr(const std::string &name, float fallback) const {
    const ox::Attribute *a = attr(name);
    return a ? a->f : fallback;
  }
  std::string stringAttr(const std::string &name, const std::string &fallback) const {
    const ox::Attribute *a = attr(name);
    return a ? a->s : fallback;
  }
  std::optional<std::vector<int64_t>> intsAttr(const std::string &name) const {
    const ox::Attribute *a = attr(name);
    if (!a)
      return std::nullopt;
    return a->ints;
  }
  /// Rejects attributes the importer does not handle (never ignore one silently).
  void allowAttributes(std::initializer_list<const char *> names) {
    for (const ox::Attribute &a : node_->attributes) {
      if (!a.refAttrName.empty())
        nodeFail("attribute '" + a.name + "' references a function attribute (unsupported)");
      if (llvm::none_of(names, [&](const char *n) { return a.name == n; })) {
        std::string list;
        for (const char *n : names)
          list += (list.empty() ? "" : ", ") + std::string(n);
        nodeFail(
            "attribute '" + a.name + "' is not supported" +
            (list.empty() ? std::string(" (the op takes none)") : " (supported: " + list + ")"));
      }
    }
  }
  int64_t normAxis(int64_t axis, int64_t rank, const std::string &what = "axis") {
    if (axis < -rank || axis >= rank)
      nodeFail(what + " " + std::to_string(axis) + " is out of range for rank " +
               std::to_string(rank));
    return axis < 0 ? axis + rank : axis;
  }

  // ---- IR helpers
  Value constantScalar(Type et, double v, int64_t rank);
  Value castTo(Value v, Type et) {
    if (elemOf(v) == et)
      return v;
    return CastOp::create(b_, loc_, tensor(shapeOf(v), et), v);
  }
  template <typename OpTy> Value binary(Value a, Value c) {
    if (elemOf(a) != elemOf(c))
      nodeFail("operand element types differ");
    auto shape = broadcastStatic(shapeOf(a), shapeOf(c));
    if (!shape)
      nodeFail("operand shapes " + shapeText(shapeOf(a)) + " and " + shapeText(shapeOf(c)) +
               " do not broadcast");
    return OpTy::create(b_, loc_, tensor(*shape, elemOf(a)), a, c);
  }
  /// The run-time size of dimension `d` of `v`, traced back through the ops that carry it
  /// to a dimension of an input where possible (one chitu.dim per input dimension), so
  /// that equal sizes are the same value: reshape's -1 then cancels them at compile time.
  Value dimValue(Value v, int64_t d);
  Value indexConstant(int64_t v) { return arith::ConstantIndexOp::create(b_, loc_, v); }
  Value reshape(Value v, const Known &shape);
  Value reshapeStatic(Value v, ArrayRef<int64_t> shape) {
    Known k;
    k.type = ox::kInt64;
    k.shape = {int64_t(shape.size())};
    k.i.assign(shape.begin(), shape.end());
    return reshape(v, k);
  }
  Value reduce(StringRef kind, Value x, ArrayRef<int64_t> axes, bool keep);

  // ---- folding
  /// The outcome of comparing two sizes (a run-time value, or `v` when `s` is null),
  /// where it is decidable at compile time: sizes from chitu.dim are never negative.
  std::optional<bool> compareSizes(const std::string &op, Value a, int64_t va, Value c, int64_t vc);
  static bool nonNegative(Value v);
  Known shapeKnown(Value v, int64_t start, int64_t end);
  std::optional<Known> foldElementwise(const std::string &op);
  std::optional<Known> foldNode();

  // ---- ops
  void convertNode();
  void convertGemm();
  void convertMatMul();
  void convertSlice();
  void convertSplit();
  void convertLayerNorm();
  void convertPow();
  void convertReduce(StringRef kind);
  void convertCompare();
  void convertLogical();
  void convertRange();
  void convertTrilu();
  void convertEinsum();
  /// Static sizes (kDyn where run-time) and the run-time ones, from a shape tensor.
  std::pair<SmallVector<int64_t>, SmallVector<Value>> sizesOf(const Known &shape);
  /// `x` stretched to `shape` (Expand: NumPy broadcasting of both; ConstantOfShape: the
  /// shape itself).
  Value broadcastTo(Value x, const Known &shape, bool numpyRules);

  void addInputs();
  void addInitializers();
  std::shared_ptr<::chitu::SafetensorsFile> packWeights();

  MLIRContext &ctx_;
  const ox::Model &model_;
  std::string modelDir_;
  OpBuilder b_;
  Location loc_;
  std::map<std::string, Entry> values_;
  std::set<std::string> used_; // names some node or the graph output reads
  const ox::Node *node_ = nullptr;
  size_t nodeIndex_ = 0;
  int64_t opset_ = 0;

  struct PendingWeight {
    std::string name;
    DType dtype;
    SmallVector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<PendingWeight> weights_;
  std::map<std::pair<void *, int64_t>, Value> argDims_; // (argument, dim) -> chitu.dim
  DType floatDType_;                                    // what float32 tensors become
  std::set<std::string> weightNames_;
};

// ---------------------------------------------------------------------------
// Materializing compile-time tensors

Value Importer::materialize(Known &c, const std::string &name) {
  if (c.symbolic())
    return indexTensor(c);
  Type et = checkedType(c.type, "the constant '" + name + "'");
  auto type = tensor(c.shape, et);
  DType dtype = chituDType(c.type);
  size_t size = ::chitu::dtypeSize(dtype);
  std::vector<uint8_t> bytes;
  if (c.raw && c.type == ox::kFloat && dtype != DType::F32) {
    bytes.resize(size_t(c.numel()) * size);
    ::chitu::convertFloats(c.raw->data.data(), DType::F32, bytes.data(), dtype, size_t(c.numel()));
  } else if (c.raw) {
    bytes = c.raw->data;
  } else {
    int64_t n = c.numel();
    bytes.resize(size_t(n) * size);
    for (int64_t k = 0; k < n; ++k) {
      if (c.type == ox::kFloat || c.type == ox::kFloat16 || c.type == ox::kBfloat16) {
        float f = float(c.f[k]);
        ::chitu::convertFloats(&f, DType::F32, bytes.data() + k * size, dtype, 1);
      } else if (c.type == ox::kInt32) {
        int32_t v = int32_t(c.i[k]);
        std::memcpy(bytes.data() + k * size, &v, 4);
      } else if (c.type == ox::kBool) {
        bytes[k] = c.i[k] != 0;
      } else {
        std::memcpy(bytes.data() + k * size, &c.i[k], 8);
      }
    }
  }
  if (c.numel() <= kMaxInlineElements) {
    DenseElementsAttr attr;
    if (c.type == ox::kBool) { // MLIR packs i1 elements as bits
      SmallVector<bool> bits(bytes.begin(), bytes.end());
      attr = DenseElementsAttr::get(type, ArrayRef<bool>(bits));
    } else {
      attr = DenseElementsAttr::getFromRawBuffer(
          type, ArrayRef<char>(reinterpret_cast<const char *>(bytes.data()), bytes.size()));
    }
    return ConstantOp::create(b_, loc_, type, attr);
  }
  // A weight named after the ONNX tensor (made unique: names need not be).
  std::string wname = name.empty() ? "constant" : name;
  for (int n = 1; weightNames_.count(wname); ++n)
    wname = name + "." + std::to_string(n);
  weightNames_.insert(wname);
  weights_.push_back({wname, dtype, c.shape, std::move(bytes)});
  return WeightOp::create(b_, loc_, type, wname);
}

/// An integer tensor with run-time elements, built from its index values.
Value Importer::indexTensor(Known &c) {
  Type et = checkedType(c.type, "a shape tensor");
  if (!isa<IntegerType>(et) || et.isInteger(1) || c.shape.size() > 1)
    nodeFail("a run-time size is used as " + ox::elemTypeName(c.type) + " tensor data of rank " +
             std::to_string(c.shape.size()) + "; unsupported");
  SmallVector<int64_t> sizes;
  SmallVector<Value> dynamic;
  for (int64_t k = 0; k < c.numel(); ++k) {
    sizes.push_back(c.symbolicAt(k) ? kDyn : c.asInt(k));
    if (c.symbolicAt(k))
      dynamic.push_back(c.sym[k]);
  }
  return FromSizesOp::create(b_, loc_, tensor(c.shape, et), dynamic,
                             b_.getDenseI64ArrayAttr(sizes));
}

/// The size operand of entry `d` of a mixed static/dynamic size list (null if static).
Value mixedSize(ArrayRef<int64_t> statics, ValueRange dynamic, int64_t d) {
  if (!ShapedType::isDynamic(statics[d]))
    return {};
  return dynamic[llvm::count_if(statics.take_front(d), ShapedType::isDynamic)];
}

Value Importer::dimValue(Value v, int64_t d) {
  auto shape = [](Value x) { return cast<RankedTensorType>(x.getType()).getShape(); };
  // An operand that carries dimension d of a broadcast result (aligned on the right).
  auto fromBroadcast = [&](ValueRange operands) -> Value {
    int64_t rank = int64_t(shape(v).size());
    for (Value o : operands) {
      int64_t k = d - (rank - int64_t(shape(o).size()));
      if (k >= 0 && ShapedType::isDynamic(shape(o)[k]))
        return dimValue(o, k);
    }
    return {};
  };
  Operation *def = v.getDefiningOp();
  Value traced;
  if (!def) {
    auto key = std::make_pair(v.getAsOpaquePointer(), d);
    auto it = argDims_.find(key);
    if (it != argDims_.end())
      return it->second;
    OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToStart(cast<BlockArgument>(v).getOwner());
    Value dim = DimOp::create(b_, UnknownLoc::get(&ctx_), v, b_.getI64IntegerAttr(d));
    return argDims_[key] = dim;
  }
  if (def->hasTrait<OpTrait::SameOperandsAndResultType>() || isa<CastOp>(def)) {
    traced = dimValue(def->getOperand(0), d);
  } else if (isa<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, PowOp, CompareOp, SelectOp>(def)) {
    traced = fromBroadcast(def->getOperands());
  } else if (isa<RmsNormOp, LayerNormOp, CumsumOp>(def)) {
    traced = dimValue(def->getOperand(0), d);
  } else if (auto t = dyn_cast<TransposeOp>(def)) {
    traced = dimValue(t.getInput(), t.getPerm()[d]);
  } else if (auto m = dyn_cast<MatmulOp>(def)) {
    int64_t rank = int64_t(shape(v).size());
    if (d == rank - 2)
      traced =
          dimValue(m.getLhs(), int64_t(shape(m.getLhs()).size()) - (m.getTransposeLhs() ? 1 : 2));
    else if (d == rank - 1)
      traced =
          dimValue(m.getRhs(), int64_t(shape(m.getRhs()).size()) - (m.getTransposeRhs() ? 2 : 1));
    else
      traced = fromBroadcast(ValueRange{m.getLhs(), m.getRhs()});
  } else if (auto r = dyn_cast<ReshapeOp>(def)) {
    traced = mixedSize(r.getStaticShape(), r.getShape(), d);
  } else if (auto b = dyn_cast<BroadcastToOp>(def)) {
    traced = mixedSize(b.getStaticShape(), b.getShape(), d);
  } else if (auto s = dyn_cast<SliceOp>(def)) {
    traced = mixedSize(s.getStaticSizes(), s.getSizes(), d);
  } else if (auto g = dyn_cast<GatherOp>(def)) {
    int64_t axis = g.getAxis(), ni = int64_t(shape(g.getIndices()).size());
    traced = d < axis        ? dimValue(g.getTable(), d)
             : d < axis + ni ? dimValue(g.getIndices(), d - axis)
                             : dimValue(g.getTable(), d - ni + 1);
  } else if (auto g = dyn_cast<GatherElementsOp>(def)) {
    traced = dimValue(g.getIndices(), d);
  } else if (auto i = dyn_cast<IotaOp>(def)) {
    traced = i.getSize();
  } else if (auto c = dyn_cast<ConcatOp>(def); c && d != int64_t(c.getAxis())) {
    traced = dimValue(c.getInputs().front(), d);
  }
  if (traced)
    return traced;
  return DimOp::create(b_, loc_, v, b_.getI64IntegerAttr(d));
}

Value Importer::constantScalar(Type et, double v, int64_t rank) {
  SmallVector<int64_t> shape(static_cast<size_t>(rank), 1);
  auto type = tensor(shape, et);
  Attribute value;
  if (isa<FloatType>(et)) {
    APFloat f(v);
    bool lost;
    f.convert(cast<FloatType>(et).getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
    value = DenseElementsAttr::get(type, f);
  } else {
    unsigned width = et.getIntOrFloatBitWidth();
    value = DenseElementsAttr::get(type, width == 1 ? APInt(1, v != 0 ? 1 : 0)
                                                    : APInt(width, int64_t(v), true));
  }
  return ConstantOp::create(b_, loc_, type, cast<ElementsAttr>(value));
}

Value Importer::reshape(Value v, const Known &shapeIn) {
  Known shape = shapeIn;
  ArrayRef<int64_t> in = shapeOf(v);
  int64_t rank = shape.numel();
  SmallVector<int64_t> out(static_cast<size_t>(rank));
  SmallVector<Value> dyn;
  SmallVector<Value> dynAt(static_cast<size_t>(rank));
  int64_t inferAt = -1;
  bool allowZero = intAttr("allowzero", 0) != 0;
  for (int64_t k = 0; k < rank; ++k) {
    if (shape.symbolicAt(k)) {
      out[k] = kDyn;
      dynAt[k] = shape.sym[k];
      continue;
    }
    int64_t d = shape.asInt(k);
    if (d == 0 && !allowZero) {
      if (k >= int64_t(in.size()))
        nodeFail("shape entry 0 at position " + std::to_string(k) + " has no input dimension");
      out[k] = in[k];
      if (ShapedType::isDynamic(in[k]))
        dynAt[k] = dimValue(v, k);
    } else if (d == -1) {
      if (inferAt >= 0)
        nodeFail("the shape has more than one -1");
      inferAt = k;
    } else if (d < 0) {
      nodeFail("shape entry " + std::to_string(d) + " is invalid");
    } else {
      out[k] = d;
    }
  }
  bool inStatic = llvm::none_of(in, ShapedType::isDynamic);
  int64_t inCount = 1;
  for (int64_t d : in)
    inCount *= ShapedType::isDynamic(d) ? 1 : d;
  if (inferAt >= 0) {
    int64_t known = 1;
    bool outStatic = true;
    for (int64_t k = 0; k < rank; ++k)
      if (k != inferAt) {
        if (ShapedType::isDynamic(out[k]))
          outStatic = false;
        else
          known *= out[k];
      }
    // Run-time sizes that appear on both sides cancel (the same input dimension).
    SmallVector<Value> inDyn, outDyn;
    for (size_t d = 0; d < in.size(); ++d)
      if (ShapedType::isDynamic(in[d]))
        inDyn.push_back(dimValue(v, int64_t(d)));
    for (int64_t k = 0; k < rank; ++k)
      if (k != inferAt && ShapedType::isDynamic(out[k]))
        outDyn.push_back(dynAt[k]);
    for (auto it = outDyn.begin(); it != outDyn.end();) {
      auto match = llvm::find(inDyn, *it);
      if (match == inDyn.end()) {
        ++it;
        continue;
      }
      inDyn.erase(match);
      it = outDyn.erase(it);
    }
    bool cancelled = inDyn.empty() && outDyn.empty();
    if ((inStatic && outStatic) || cancelled) {
      if (known == 0 || inCount % known)
        nodeFail("cannot reshape " + shapeText(in) + " to " + shapeText(out) + " (element count)");
      out[inferAt] = inCount / known;
    } else {
      // -1 with run-time sizes: the element count divided by the other sizes, at run time.
      Value count = indexConstant(1);
      for (size_t d = 0; d < in.size(); ++d)
        count = arith::MulIOp::create(
            b_, loc_, count, ShapedType::isDynamic(in[d]) ? dimValue(v, d) : indexConstant(in[d]));
      Value others = indexConstant(1);
      for (int64_t k = 0; k < rank; ++k)
        if (k != inferAt)
          others =
              arith::MulIOp::create(b_, loc_, others, dynAt[k] ? dynAt[k] : indexConstant(out[k]));
      out[inferAt] = kDyn;
      dynAt[inferAt] = arith::FloorDivSIOp::create(b_, loc_, count, others);
    }
  } else if (inStatic && llvm::none_of(out, ShapedType::isDynamic)) {
    int64_t outCount = 1;
    for (int64_t d : out)
      outCount *= d;
    if (outCount != inCount)
      nodeFail("cannot reshape " + shapeText(in) + " (" + std::to_string(inCount) +
               " elements) to " + shapeText(out));
  }
  if (in == ArrayRef<int64_t>(out) && llvm::none_of(out, ShapedType::isDynamic))
    return v;
  for (int64_t k = 0; k < rank; ++k)
    if (dynAt[k])
      dyn.push_back(dynAt[k]);
  return ReshapeOp::create(b_, loc_, tensor(out, elemOf(v)), v, dyn, b_.getDenseI64ArrayAttr(out));
}

Value Importer::reduce(StringRef kind, Value x, ArrayRef<int64_t> axes, bool keep) {
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < int64_t(shapeOf(x).size()); ++d) {
    if (llvm::is_contained(axes, d)) {
      if (keep)
        shape.push_back(1);
    } else {
      shape.push_back(shapeOf(x)[d]);
    }
  }
  auto type = tensor(shape, elemOf(x));
  auto axesAttr = b_.getDenseI64ArrayAttr(axes);
  UnitAttr keepAttr = keep ? b_.getUnitAttr() : nullptr;
  if (kind == "sum")
    return ReduceSumOp::create(b_, loc_, type, x, axesAttr, keepAttr);
  if (kind == "max")
    return ReduceMaxOp::create(b_, loc_, type, x, axesAttr, keepAttr);
  return ReduceMeanOp::create(b_, loc_, type, x, axesAttr, keepAttr);
}

// ---------------------------------------------------------------------------
// Folding

bool Importer::nonNegative(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return false;
  if (isa<DimOp>(def))
    return true;
  if (auto c = dyn_cast<arith::ConstantIndexOp>(def))
    return c.value() >= 0;
  if (isa<arith::AddIOp, arith::MulIOp, arith::FloorDivSIOp, arith::CeilDivSIOp, arith::MinSIOp,
          arith::MaxSIOp>(def))
    return llvm::all_of(def->getOperands(), nonNegative);
  return false;
}

std::optional<bool> Importer::compareSizes(const std::string &op, Value a, int64_t va, Value c,
                                           int64_t vc) {
  auto decide = [&](int64_t x, int64_t y) -> bool {
    return op == "Equal"         ? x == y
           : op == "Less"        ? x < y
           : op == "Greater"     ? x > y
           : op == "LessOrEqual" ? x <= y
                                 : x >= y;
  };
  if (!a && !c)
    return decide(va, vc);
  if (a && c) // the same run-time size: compares like equal numbers
    return a == c ? std::optional<bool>(decide(0, 0)) : std::nullopt;
  // One run-time size s >= 0 against a constant k < 0 (or k <= 0 for strict orders).
  bool sizeLeft = bool(a);
  int64_t k = sizeLeft ? vc : va;
  if (!nonNegative(sizeLeft ? a : c) || k > 0)
    return std::nullopt;
  std::string o = op;
  if (!sizeLeft) // k OP s  ==  s OP' k
    o = op == "Less"             ? "Greater"
        : op == "Greater"        ? "Less"
        : op == "LessOrEqual"    ? "GreaterOrEqual"
        : op == "GreaterOrEqual" ? "LessOrEqual"
                                 : op;
  if (k < 0)
    return o == "Greater" || o == "GreaterOrEqual";
  // k == 0: s > 0 and s == 0 depend on s; s >= 0 and s < 0 do not.
  if (o == "GreaterOrEqual")
    return true;
  if (o == "Less")
    return false;
  return std::nullopt;
}

Known Importer::shapeKnown(Value v, int64_t start, int64_t end) {
  ArrayRef<int64_t> shape = shapeOf(v);
  int64_t rank = int64_t(shape.size());
  auto clampAxis = [&](int64_t a) {
    if (a < 0)
      a += rank;
    return std::clamp<int64_t>(a, 0, rank);
  };
  start = clampAxis(start);
  end = clampAxis(end);
  Known k;
  k.type = ox::kInt64;
  for (int64_t d = start; d < end; ++d) {
    k.i.push_back(ShapedType::isDynamic(shape[d]) ? 0 : shape[d]);
    k.sym.push_back(ShapedType::isDynamic(shape[d]) ? dimValue(v, d) : Value());
  }
  k.shape = {int64_t(k.i.size())};
  return k;
}

/// Elementwise ops over compile-time inputs (float or integer, with broadcasting);
/// integer elements that are run-time sizes go through arith index ops.
std::optional<Known> Importer::foldElementwise(const std::string &op) {
  size_t arity = llvm::StringSwitch<size_t>(op)
                     .Cases({"Neg", "Not", "Cast", "Identity", "Sqrt", "Abs"}, 1)
                     .Case("Where", 3)
                     .Default(2);
  std::vector<Known *> in;
  for (size_t k = 0; k < arity; ++k) {
    Known *c = known(k);
    if (!c || c->numel() > kMaxInlineElements)
      return std::nullopt;
    in.push_back(c);
  }
  SmallVector<int64_t> shape = in[0]->shape;
  for (size_t k = 1; k < arity; ++k) {
    auto s = broadcastStatic(shape, in[k]->shape);
    if (!s)
      nodeFail("input shapes do not broadcast");
    shape = *s;
  }
  Known out;
  out.shape = shape;
  int32_t t = in[0]->type;
  bool compare = op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
                 op == "GreaterOrEqual";
  if (op == "Where")
    t = in[1]->type;
  if (op == "Cast")
    t = int32_t(intAttr("to", ox::kFloat));
  out.type = compare || op == "Not" || op == "And" || op == "Or" ? int32_t(ox::kBool) : t;
  bool floatOut = isFloatType(out.type);
  int64_t n = out.numel();
  bool anySym = llvm::any_of(in, [](Known *c) { return c->symbolic(); });
  if (anySym && floatOut)
    return std::nullopt; // run-time sizes stay integers
  for (int64_t e = 0; e < n; ++e) {
    std::vector<int64_t> src;
    for (Known *c : in)
      src.push_back(broadcastSource(shape, c->shape, e));
    auto d = [&](size_t k) { return in[k]->asDouble(src[k]); };
    auto iv = [&](size_t k) { return in[k]->asInt(src[k]); };
    if (anySym) {
      auto isSym = [&](size_t k) { return in[k]->symbolicAt(src[k]); };
      auto idx = [&](size_t k) { return isSym(k) ? in[k]->sym[src[k]] : indexConstant(iv(k)); };
      auto push = [&](int64_t v, Value s) {
        out.i.push_back(v);
        out.sym.resize(out.i.size());
        out.sym.back() = s;
      };
      if (op == "Where") { // a static condition picks a size or a constant
        if (isSym(0))
          return std::nullopt;
        size_t pick = iv(0) ? 1 : 2;
        push(isSym(pick) ? 0 : iv(pick), isSym(pick) ? idx(pick) : Value());
        continue;
      }
      if (compare) {
        std::optional<bool> r = compareSizes(op, isSym(0) ? idx(0) : Value(), iv(0),
                                             isSym(1) ? idx(1) : Value(), iv(1));
        if (!r)
          return std::nullopt;
        push(*r, Value());
        continue;
      }
      Value r;
      if (op == "Cast" || op == "Identity") {
        if (out.type != ox::kInt64 && out.type != ox::kInt32)
          return std::nullopt;
        r = idx(0);
      } else if (op == "Add") {
        r = arith::AddIOp::create(b_, loc_, idx(0), idx(1));
      } else if (op == "Sub") {
        r = arith::SubIOp::create(b_, loc_, idx(0), idx(1));
      } else if (op == "Mul") {
        r = arith::MulIOp::create(b_, loc_, idx(0), idx(1));
      } else if (op == "Div") { // sizes are not negative: floor and truncation agree
        r = arith::FloorDivSIOp::create(b_, loc_, idx(0), idx(1));
      } else if (op == "Min") {
        r = arith::MinSIOp::create(b_, loc_, idx(0), idx(1));
      } else if (op == "Max") {
        r = arith::MaxSIOp::create(b_, loc_, idx(0), idx(1));
      } else {
        return std::nullopt;
      }
      push(0, r);
      continue;
    }
    double fv = 0;
    int64_t ivOut = 0;
    bool fl = in[0]->isFloat() || (arity > 1 && in[1]->isFloat());
    if (op == "Add")
      fv = d(0) + d(1), ivOut = iv(0) + iv(1);
    else if (op == "Sub")
      fv = d(0) - d(1), ivOut = iv(0) - iv(1);
    else if (op == "Mul")
      fv = d(0) * d(1), ivOut = iv(0) * iv(1);
    else if (op == "Div")
      fv = d(0) / d(1), ivOut = iv(1) ? iv(0) / iv(1) : 0;
    else if (op == "Min")
      fv = std::min(d(0), d(1)), ivOut = std::min(iv(0), iv(1));
    else if (op == "Max")
      fv = std::max(d(0), d(1)), ivOut = std::max(iv(0), iv(1));
    else if (op == "Neg")
      fv = -d(0), ivOut = -iv(0);
    else if (op == "Abs")
      fv = std::fabs(d(0)), ivOut = std::llabs(iv(0));
    else if (op == "Sqrt")
      fv = std::sqrt(d(0)), ivOut = int64_t(std::sqrt(double(iv(0))));
    else if (op == "Identity")
      fv = d(0), ivOut = iv(0);
    else if (op == "Cast")
      fv = d(0), ivOut = fl ? int64_t(d(0)) : iv(0);
    else if (op == "Equal")
      ivOut = fl ? d(0) == d(1) : iv(0) == iv(1);
    else if (op == "Less")
      ivOut = fl ? d(0) < d(1) : iv(0) < iv(1);
    else if (op == "Greater")
      ivOut = fl ? d(0) > d(1) : iv(0) > iv(1);
    else if (op == "LessOrEqual")
      ivOut = fl ? d(0) <= d(1) : iv(0) <= iv(1);
    else if (op == "GreaterOrEqual")
      ivOut = fl ? d(0) >= d(1) : iv(0) >= iv(1);
    else if (op == "Not")
      ivOut = !iv(0);
    else if (op == "And")
      ivOut = iv(0) && iv(1);
    else if (op == "Or")
      ivOut = iv(0) || iv(1);
    else if (op == "Where")
      fv = iv(0) ? d(1) : d(2), ivOut = iv(0) ? iv(1) : iv(2);
    else
      return std::nullopt;
    if (floatOut)
      out.f.push_back(fv);
    else
      out.i.push_back(ivOut);
  }
  if (out.type == ox::kInt32)
    for (int64_t &v : out.i)
      v = int32_t(v);
  return out;
}

/// Folds the node when its result is computable at compile time.
std::optional<Known> Importer::foldNode() {
  const std::string &op = node_->opType;
  static const std::set<std::string> kElementwise = {
      "Add",  "Sub",      "Mul",  "Div",   "Min",  "Max",     "Neg",         "Abs",
      "Sqrt", "Identity", "Cast", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
      "Not",  "And",      "Or",   "Where"};
  if (kElementwise.count(op)) {
    if (op == "Min" || op == "Max") {
      if (node_->inputs.size() != 2)
        return std::nullopt;
    }
    return foldElementwise(op);
  }
  if (op == "Shape") {
    if (!has(0))
      return std::nullopt;
    Entry &e = entry(node_->inputs[0]);
    if (e.known) { // its shape is static even when its elements are not
      Known k;
      k.type = ox::kInt64;
      int64_t rank = int64_t(e.known->shape.size());
      int64_t start = intAttr("start", 0), end = intAttr("end", rank);
      start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
      end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
      for (int64_t d = start; d < end; ++d)
        k.i.push_back(e.known->shape[d]);
      k.shape = {int64_t(k.i.size())};
      return k;
    }
    Value v = value(0);
    int64_t rank = int64_t(shapeOf(v).size());
    return shapeKnown(v, intAttr("start", 0), intAttr("end", rank));
  }
  if (op == "Size") {
    Value v = value(0);
    Known k;
    k.type = ox::kInt64;
    int64_t n = 1;
    for (int64_t d : shapeOf(v)) {
      if (ShapedType::isDynamic(d))
        return std::nullopt;
      n *= d;
    }
    k.i = {n};
    return k;
  }
  if (op == "Constant") {
    const ox::Attribute &a = node_->attributes.at(0);
    Known k;
    if (a.name == "value") {
      auto t = std::make_shared<ox::Tensor>(a.t);
      k.type = t->dataType;
      k.shape.assign(t->dims.begin(), t->dims.end());
      if (size_t(t->numElements()) * ox::elemTypeSize(t->dataType) != t->data.size())
        nodeFail("the tensor's data does not match its shape and type");
      k.raw = t;
    } else if (a.name == "value_float") {
      k.type = ox::kFloat, k.f = {a.f};
    } else if (a.name == "value_floats") {
      k.type = ox::kFloat, k.f.assign(a.floats.begin(), a.floats.end());
      k.shape = {int64_t(a.floats.size())};
    } else if (a.name == "value_int") {
      k.type = ox::kInt64, k.i = {a.i};
    } else if (a.name == "value_ints") {
      k.type = ox::kInt64, k.i = a.ints;
      k.shape = {int64_t(a.ints.size())};
    } else {
      nodeFail("attribute '" + a.name +
               "' is not supported (supported: value, value_float, "
               "value_floats, value_int, value_ints)");
    }
    return k;
  }
  Known *x = known(0);
  if (!x || x->numel() > kMaxInlineElements * 4)
    return std::nullopt;
  if (op == "Unsqueeze" || op == "Squeeze" || op == "Reshape" || op == "Flatten") {
    // Data movement that keeps the element order: only the shape changes.
    Known out = *x;
    int64_t rank = int64_t(x->shape.size());
    if (op == "Unsqueeze") {
      std::vector<int64_t> axes = requireInts(1, "axes");
      int64_t outRank = rank + int64_t(axes.size());
      std::set<int64_t> set;
      for (int64_t a : axes)
        set.insert(normAxis(a, outRank));
      SmallVector<int64_t> shape;
      for (int64_t d = 0, s = 0; d < outRank; ++d)
        shape.push_back(set.count(d) ? 1 : x->shape[s++]);
      out.shape = shape;
    } else if (op == "Squeeze") {
      std::set<int64_t> set;
      if (has(1))
        for (int64_t a : requireInts(1, "axes"))
          set.insert(normAxis(a, rank));
      SmallVector<int64_t> shape;
      for (int64_t d = 0; d < rank; ++d) {
        bool drop = set.empty() ? x->shape[d] == 1 : set.count(d) > 0;
        if (drop && x->shape[d] != 1)
          nodeFail("cannot squeeze axis " + std::to_string(d) + " of size " +
                   std::to_string(x->shape[d]));
        if (!drop)
          shape.push_back(x->shape[d]);
      }
      out.shape = shape;
    } else if (op == "Flatten") {
      int64_t axis = intAttr("axis", 1);
      axis = axis < 0 ? axis + rank : axis;
      int64_t a = 1, c = 1;
      for (int64_t d = 0; d < rank; ++d)
        (d < axis ? a : c) *= x->shape[d];
      out.shape = {a, c};
    } else {
      std::vector<int64_t> target = requireInts(1, "shape");
      int64_t infer = -1, count = 1;
      SmallVector<int64_t> shape;
      for (size_t k = 0; k < target.size(); ++k) {
        int64_t d = target[k];
        if (d == 0 && !intAttr("allowzero", 0))
          d = k < x->shape.size() ? x->shape[k] : 0;
        if (d == -1)
          infer = int64_t(k);
        else
          count *= d;
        shape.push_back(d);
      }
      if (infer >= 0)
        shape[infer] = count ? x->numel() / count : 0;
      out.shape = shape;
      if (out.numel() != x->numel())
        nodeFail("cannot reshape " + shapeText(x->shape) + " to " + shapeText(shape));
    }
    return out;
  }
  if (x->shape.size() > 1)
    return std::nullopt; // the remaining folds handle vectors (shape tensors)
  int64_t n = x->numel();
  auto element = [&](Known &from, int64_t k, Known &to) {
    if (from.isFloat())
      to.f.push_back(from.f[k]);
    else
      to.i.push_back(from.i[k]);
    if (from.symbolicAt(k)) {
      to.sym.resize(to.i.size());
      to.sym.back() = from.sym[k];
    }
  };
  if (op == "Gather") {
    Known *idx = known(1);
    if (!idx || idx->symbolic() || intAttr("axis", 0) != 0 || x->shape.empty())
      return std::nullopt;
    Known out;
    out.type = x->type;
    out.shape = idx->shape;
    for (int64_t e = 0; e < idx->numel(); ++e) {
      int64_t k = idx->asInt(e);
      if (k < -n || k >= n)
        nodeFail("index " + std::to_string(k) + " is out of range for size " + std::to_string(n));
      element(*x, k < 0 ? k + n : k, out);
    }
    return out;
  }
  if (op == "Concat") {
    Known out;
    out.type = x->type;
    for (size_t k = 0; k < node_->inputs.size(); ++k) {
      Known *c = known(k);
      if (!c || c->shape.size() != 1)
        return std::nullopt;
      for (int64_t e = 0; e < c->numel(); ++e)
        element(*c, e, out);
    }
    out.shape = {int64_t(out.isFloat() ? out.f.size() : out.i.size())};
    return out;
  }
  if (op == "Slice" && x->shape.size() == 1) {
    for (size_t k = 1; k < 5; ++k)
      if (has(k) && (!known(k) || known(k)->symbolic()))
        return std::nullopt;
    int64_t start = requireInts(1, "starts").at(0), end = requireInts(2, "ends").at(0);
    int64_t step = has(4) ? requireInts(4, "steps").at(0) : 1;
    if (has(3) && normAxis(requireInts(3, "axes").at(0), 1) != 0)
      return std::nullopt;
    if (step == 0)
      nodeFail("a step of 0");
    auto clampIndex = [&](int64_t v) {
      if (v < 0)
        v += n;
      return step > 0 ? std::clamp<int64_t>(v, 0, n) : std::clamp<int64_t>(v, -1, n - 1);
    };
    start = clampIndex(start);
    end = clampIndex(end);
    Known out;
    out.type = x->type;
    for (int64_t k = start; step > 0 ? k < end : k > end; k += step)
      element(*x, k, out);
    out.shape = {int64_t(out.isFloat() ? out.f.size() : out.i.size())};
    return out;
  }
  if (x->symbolic())
    return std::nullopt;
  if (op == "ConstantOfShape") {
    Known out;
    std::vector<int64_t> shape = requireInts(0, "shape");
    out.shape.assign(shape.begin(), shape.end());
    const ox::Attribute *v = attr("value");
    out.type = v ? v->t.dataType : int32_t(ox::kFloat);
    Known fill;
    if (v) {
      fill.type = v->t.dataType;
      fill.shape = {1};
      fill.raw = std::make_shared<ox::Tensor>(v->t);
      if (v->t.data.size() != ox::elemTypeSize(fill.type))
        nodeFail("the value attribute must hold one element");
      fill.decode();
    } else {
      fill.type = ox::kFloat, fill.f = {0.0};
    }
    int64_t count = out.numel();
    if (count > (int64_t(1) << 26))
      nodeFail("the constant has " + std::to_string(count) + " elements (too many to fold)");
    if (out.isFloat())
      out.f.assign(size_t(count), fill.f.at(0));
    else
      out.i.assign(size_t(count), fill.i.at(0));
    return out;
  }
  if (op == "Range") {
    Known *limit = known(1), *delta = known(2);
    if (!limit || !delta || limit->symbolic() || delta->symbolic())
      return std::nullopt;
    Known out;
    out.type = x->type;
    double s = x->asDouble(0), l = limit->asDouble(0), d = delta->asDouble(0);
    if (d == 0)
      nodeFail("delta is 0");
    int64_t count = std::max<int64_t>(int64_t(std::ceil((l - s) / d)), 0);
    for (int64_t k = 0; k < count; ++k) {
      if (out.isFloat())
        out.f.push_back(s + double(k) * d);
      else
        out.i.push_back(x->asInt(0) + k * delta->asInt(0));
    }
    out.shape = {count};
    return out;
  }
  if (op == "Expand") {
    std::vector<int64_t> target = requireInts(1, "shape");
    auto shape = broadcastStatic(x->shape, SmallVector<int64_t>(target.begin(), target.end()));
    if (!shape)
      nodeFail("cannot expand " + shapeText(x->shape));
    Known out;
    out.type = x->type;
    out.shape = *shape;
    for (int64_t e = 0; e < out.numel(); ++e)
      element(*x, broadcastSource(out.shape, x->shape, e), out);
    return out;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Operators

/// The supported operators and, for each, the first opset version whose semantics the
/// importer implements (later versions only added element types or inputs it also
/// handles). An older model using the op is refused rather than misread (Softmax before
/// opset 13 flattened its input to 2-D, for one).
const std::map<std::string, int64_t> &opVersions() {
  static const std::map<std::string, int64_t> versions = {
      {"Abs", 6},        {"Add", 7},
      {"And", 7},        {"Cast", 6},
      {"Clip", 11},      {"Concat", 11},
      {"Constant", 1},   {"ConstantOfShape", 9},
      {"CumSum", 11},    {"Div", 7},
      {"Einsum", 12},    {"Equal", 7},
      {"Erf", 9},        {"Exp", 6},
      {"Expand", 8},     {"Flatten", 9},
      {"Gather", 11},    {"GatherElements", 11},
      {"Gelu", 20},      {"Gemm", 9},
      {"Greater", 7},    {"GreaterOrEqual", 12},
      {"Identity", 1},   {"LayerNormalization", 17},
      {"Less", 7},       {"LessOrEqual", 12},
      {"Log", 6},        {"LogSoftmax", 13},
      {"MatMul", 9},     {"Max", 8},
      {"Min", 8},        {"Mul", 7},
      {"Neg", 6},        {"Not", 1},
      {"Or", 7},         {"Pow", 7},
      {"Range", 11},     {"Reciprocal", 6},
      {"ReduceMax", 11}, {"ReduceMean", 11},
      {"ReduceSum", 11}, {"Relu", 6},
      {"Reshape", 5},    {"Shape", 1},
      {"Sigmoid", 6},    {"Size", 1},
      {"Slice", 10},     {"Softmax", 13},
      {"Split", 11},     {"Sqrt", 6},
      {"Squeeze", 13},   {"Sub", 7},
      {"Tanh", 6},       {"Transpose", 1},
      {"Trilu", 14},     {"Unsqueeze", 13},
      {"Where", 9},      {"Xor", 7},
  };
  return versions;
}

std::vector<std::string> opList() {
  std::vector<std::string> ops;
  for (const auto &[name, version] : opVersions())
    ops.push_back(name);
  return ops;
}

void Importer::convertNode() {
  const std::string &op = node_->opType;
  if (!node_->domain.empty() && node_->domain != "ai.onnx")
    nodeFail("operators of domain '" + node_->domain + "' are not supported");
  loc_ = NameLoc::get(b_.getStringAttr(node_->name.empty() ? op : node_->name));
  auto version = opVersions().find(op);
  if (version != opVersions().end() && opset_ < version->second)
    nodeFail(op + " of opset " + std::to_string(opset_) +
             " is unsupported (chitu implements it from opset " + std::to_string(version->second) +
             "; convert the model with onnx.version_converter)");

  if (auto folded = foldNode()) {
    defineKnown(0, std::move(*folded));
    return;
  }

  auto unary = [&](auto tag, bool floatOnly) {
    using OpTy = typename decltype(tag)::type;
    allowAttributes({});
    Value x = value(0);
    if (floatOnly && !isa<FloatType>(elemOf(x)))
      nodeFail("needs a float input, got " + ox::elemTypeName(onnxType(elemOf(x))));
    define(0, OpTy::create(b_, loc_, x.getType(), x));
  };
  auto binaryOp = [&](auto tag) {
    using OpTy = typename decltype(tag)::type;
    allowAttributes({});
    define(0, binary<OpTy>(value(0), value(1)));
  };
  auto variadic = [&](auto tag) {
    using OpTy = typename decltype(tag)::type;
    allowAttributes({});
    Value acc = value(0);
    for (size_t k = 1; k < node_->inputs.size(); ++k)
      acc = binary<OpTy>(acc, value(k));
    define(0, acc);
  };
  struct AddT {
    using type = AddOp;
  };
  struct SubT {
    using type = SubOp;
  };
  struct MulT {
    using type = MulOp;
  };
  struct DivT {
    using type = DivOp;
  };
  struct MaxT {
    using type = MaxOp;
  };
  struct MinT {
    using type = MinOp;
  };
  struct NegT {
    using type = NegOp;
  };
  struct ExpT {
    using type = ExpOp;
  };
  struct LogT {
    using type = LogOp;
  };
  struct SqrtT {
    using type = SqrtOp;
  };
  struct TanhT {
    using type = TanhOp;
  };
  struct SigmoidT {
    using type = SigmoidOp;
  };
  struct ReluT {
    using type = ReluOp;
  };
  struct AbsT {
    using type = AbsOp;
  };
  struct ErfT {
    using type = ErfOp;
  };

  if (op == "Add")
    return binaryOp(AddT{});
  if (op == "Sub")
    return binaryOp(SubT{});
  if (op == "Mul")
    return binaryOp(MulT{});
  if (op == "Div")
    return binaryOp(DivT{});
  if (op == "Max")
    return variadic(MaxT{});
  if (op == "Min")
    return variadic(MinT{});
  if (op == "Neg")
    return unary(NegT{}, false);
  if (op == "Relu")
    return unary(ReluT{}, false);
  if (op == "Exp")
    return unary(ExpT{}, true);
  if (op == "Log")
    return unary(LogT{}, true);
  if (op == "Sqrt")
    return unary(SqrtT{}, true);
  if (op == "Tanh")
    return unary(TanhT{}, true);
  if (op == "Sigmoid")
    return unary(SigmoidT{}, true);
  if (op == "Identity") {
    allowAttributes({});
    return define(0, value(0));
  }
  if (op == "Reciprocal") {
    allowAttributes({});
    Value x = value(0);
    if (!isa<FloatType>(elemOf(x)))
      nodeFail("needs a float input");
    return define(0, binary<DivOp>(constantScalar(elemOf(x), 1.0, shapeOf(x).size()), x));
  }
  if (op == "Pow")
    return convertPow();
  if (op == "Gelu") {
    allowAttributes({"approximate"});
    Value x = value(0);
    if (!isa<FloatType>(elemOf(x)))
      nodeFail("needs a float input");
    std::string approx = stringAttr("approximate", "none");
    if (approx == "none")
      return define(0, GeluOp::create(b_, loc_, x.getType(), x));
    if (approx == "tanh")
      return define(0, GeluTanhOp::create(b_, loc_, x.getType(), x));
    nodeFail("approximate = '" + approx + "' is not supported (none, tanh)");
  }
  if (op == "Clip") {
    allowAttributes({});
    Value x = value(0);
    if (has(1))
      x = binary<MaxOp>(x, value(1));
    if (has(2))
      x = binary<MinOp>(x, value(2));
    return define(0, x);
  }
  if (op == "Cast") {
    allowAttributes({"to", "saturate", "round_mode"});
    Value x = value(0);
    int32_t to = int32_t(intAttr("to", 0));
    return define(0, castTo(x, checkedType(to, "the target type")));
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    allowAttributes({"axis"});
    Value x = value(0);
    if (!isa<FloatType>(elemOf(x)))
      nodeFail("needs a float input");
    int64_t axis = normAxis(intAttr("axis", -1), int64_t(shapeOf(x).size()));
    Value y = SoftmaxOp::create(b_, loc_, x.getType(), x, b_.getI64IntegerAttr(axis));
    if (op == "LogSoftmax")
      y = LogOp::create(b_, loc_, y.getType(), y);
    return define(0, y);
  }
  if (op == "LayerNormalization")
    return convertLayerNorm();
  if (op == "MatMul")
    return convertMatMul();
  if (op == "Gemm")
    return convertGemm();
  if (op == "Transpose") {
    allowAttributes({"perm"});
    Value x = value(0);
    int64_t rank = int64_t(shapeOf(x).size());
    std::vector<int64_t> perm;
    if (auto p = intsAttr("perm"))
      perm = *p;
    else
      for (int64_t d = rank - 1; d >= 0; --d)
        perm.push_back(d);
    if (int64_t(perm.size()) != rank)
      nodeFail("perm has " + std::to_string(perm.size()) + " entries for rank " +
               std::to_string(rank));
    SmallVector<int64_t> shape;
    std::set<int64_t> seen;
    for (int64_t &p : perm) {
      p = normAxis(p, rank, "perm entry");
      if (!seen.insert(p).second)
        nodeFail("perm repeats axis " + std::to_string(p));
      shape.push_back(shapeOf(x)[p]);
    }
    return define(0, TransposeOp::create(b_, loc_, tensor(shape, elemOf(x)), x,
                                         b_.getDenseI64ArrayAttr(perm)));
  }
  if (op == "Reshape") {
    allowAttributes({"allowzero"});
    Value x = value(0);
    return define(0, reshape(x, requireKnown(1, "shape")));
  }
  if (op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") {
    allowAttributes({"axis"});
    Value x = value(0);
    ArrayRef<int64_t> in = shapeOf(x);
    int64_t rank = int64_t(in.size());
    Known shape;
    shape.type = ox::kInt64;
    auto push = [&](int64_t d, int64_t k) {
      shape.i.push_back(ShapedType::isDynamic(d) ? 0 : d);
      shape.sym.push_back(ShapedType::isDynamic(d) ? dimValue(x, k) : Value());
    };
    if (op == "Flatten") {
      int64_t axis = intAttr("axis", 1);
      if (axis < -rank || axis > rank)
        nodeFail("axis " + std::to_string(axis) + " is out of range for rank " +
                 std::to_string(rank));
      axis = axis < 0 ? axis + rank : axis;
      int64_t a = 1, c = 1;
      bool dynA = false, dynC = false;
      for (int64_t d = 0; d < rank; ++d) {
        bool dyn = ShapedType::isDynamic(in[d]);
        (d < axis ? dynA : dynC) |= dyn;
        if (!dyn)
          (d < axis ? a : c) *= in[d];
      }
      if (dynA && dynC)
        nodeFail("cannot flatten " + shapeText(in) + ": both parts have run-time sizes");
      shape.i = {dynA ? -1 : a, dynC ? -1 : c};
    } else if (op == "Unsqueeze") {
      std::vector<int64_t> axes = requireInts(1, "axes");
      int64_t outRank = rank + int64_t(axes.size());
      std::set<int64_t> set;
      for (int64_t a : axes)
        if (!set.insert(normAxis(a, outRank)).second)
          nodeFail("axes repeat");
      for (int64_t d = 0, s = 0; d < outRank; ++d) {
        if (set.count(d)) {
          shape.i.push_back(1);
          shape.sym.push_back(Value());
        } else {
          push(in[s], s);
          ++s;
        }
      }
    } else {
      std::set<int64_t> set;
      if (has(1))
        for (int64_t a : requireInts(1, "axes"))
          set.insert(normAxis(a, rank));
      for (int64_t d = 0; d < rank; ++d) {
        bool drop = set.empty() ? in[d] == 1 : set.count(d) > 0;
        if (drop && in[d] != 1)
          nodeFail("cannot squeeze axis " + std::to_string(d) + " of size " +
                   (ShapedType::isDynamic(in[d]) ? "?" : std::to_string(in[d])));
        if (!drop)
          push(in[d], d);
      }
    }
    shape.shape = {int64_t(shape.i.size())};
    shape.sym.resize(shape.i.size());
    return define(0, reshape(x, shape));
  }
  if (op == "Concat") {
    allowAttributes({"axis"});
    SmallVector<Value> inputs;
    for (size_t k = 0; k < node_->inputs.size(); ++k) {
      Value v = value(k);
      // Empty inputs take no part (ONNX allows them, chitu's concat does not).
      if (llvm::is_contained(shapeOf(v), 0) && node_->inputs.size() > 1)
        continue;
      inputs.push_back(v);
    }
    if (inputs.empty())
      inputs.push_back(value(0));
    int64_t rank = int64_t(shapeOf(inputs[0]).size());
    int64_t axis = normAxis(intAttr("axis", 0), rank);
    SmallVector<int64_t> shape(shapeOf(inputs[0]));
    for (size_t k = 1; k < inputs.size(); ++k) {
      int64_t d = shapeOf(inputs[k])[axis];
      shape[axis] =
          ShapedType::isDynamic(d) || ShapedType::isDynamic(shape[axis]) ? kDyn : shape[axis] + d;
    }
    if (inputs.size() == 1)
      return define(0, inputs[0]);
    return define(0, ConcatOp::create(b_, loc_, tensor(shape, elemOf(inputs[0])), inputs,
                                      b_.getI64IntegerAttr(axis)));
  }
  if (op == "Split")
    return convertSplit();
  if (op == "Slice")
    return convertSlice();
  if (op == "Gather") {
    allowAttributes({"axis"});
    Value table = value(0), indices = value(1);
    int64_t rank = int64_t(shapeOf(table).size());
    int64_t axis = normAxis(intAttr("axis", 0), rank);
    SmallVector<int64_t> shape(shapeOf(table).begin(), shapeOf(table).begin() + axis);
    shape.append(shapeOf(indices).begin(), shapeOf(indices).end());
    shape.append(shapeOf(table).begin() + axis + 1, shapeOf(table).end());
    if (!isa<IntegerType>(elemOf(indices)))
      nodeFail("indices must be int32 or int64");
    return define(0, GatherOp::create(b_, loc_, tensor(shape, elemOf(table)), table, indices,
                                      b_.getI64IntegerAttr(axis)));
  }
  if (op == "ReduceMean")
    return convertReduce("mean");
  if (op == "ReduceSum")
    return convertReduce("sum");
  if (op == "ReduceMax")
    return convertReduce("max");
  if (op == "Abs")
    return unary(AbsT{}, false);
  if (op == "Erf")
    return unary(ErfT{}, true);
  if (op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
      op == "GreaterOrEqual")
    return convertCompare();
  if (op == "Not" || op == "And" || op == "Or" || op == "Xor")
    return convertLogical();
  if (op == "Where") {
    allowAttributes({});
    Value c = value(0), t = value(1), f = value(2);
    if (!elemOf(c).isInteger(1))
      nodeFail("the condition must be bool");
    if (elemOf(t) != elemOf(f))
      nodeFail("X and Y have different element types");
    auto shape = broadcastStatic(shapeOf(c), shapeOf(t));
    if (shape)
      shape = broadcastStatic(*shape, shapeOf(f));
    if (!shape)
      nodeFail("the operand shapes do not broadcast");
    return define(0, SelectOp::create(b_, loc_, tensor(*shape, elemOf(t)), c, t, f));
  }
  if (op == "Expand") {
    allowAttributes({});
    Value x = value(0);
    return define(0, broadcastTo(x, requireKnown(1, "shape"), /*numpyRules=*/true));
  }
  if (op == "ConstantOfShape") {
    allowAttributes({"value"});
    Known fill;
    if (const ox::Attribute *v = attr("value")) {
      fill.type = v->t.dataType;
      fill.raw = std::make_shared<ox::Tensor>(v->t);
      if (v->t.data.size() != ox::elemTypeSize(fill.type))
        nodeFail("the value attribute must hold one element");
      fill.decode();
    } else {
      fill.type = ox::kFloat, fill.f = {0.0};
    }
    fill.shape.clear();
    Value scalar = materialize(fill, "");
    return define(0, broadcastTo(scalar, requireKnown(0, "shape"), /*numpyRules=*/false));
  }
  if (op == "Range")
    return convertRange();
  if (op == "GatherElements") {
    allowAttributes({"axis"});
    Value x = value(0), indices = value(1);
    if (!isa<IntegerType>(elemOf(indices)) || elemOf(indices).isInteger(1))
      nodeFail("indices must be int32 or int64");
    int64_t rank = int64_t(shapeOf(x).size());
    if (int64_t(shapeOf(indices).size()) != rank)
      nodeFail("indices must have the data's rank");
    int64_t axis = normAxis(intAttr("axis", 0), rank);
    return define(0, GatherElementsOp::create(b_, loc_, tensor(shapeOf(indices), elemOf(x)), x,
                                              indices, b_.getI64IntegerAttr(axis)));
  }
  if (op == "CumSum") {
    allowAttributes({"exclusive", "reverse"});
    Value x = value(0);
    if (elemOf(x).isInteger(1))
      nodeFail("needs a numeric input");
    std::vector<int64_t> axis = requireInts(1, "axis");
    if (axis.size() != 1)
      nodeFail("axis must hold one value");
    int64_t a = normAxis(axis[0], int64_t(shapeOf(x).size()));
    return define(0, CumsumOp::create(b_, loc_, x.getType(), x, b_.getI64IntegerAttr(a),
                                      intAttr("exclusive", 0) ? b_.getUnitAttr() : nullptr,
                                      intAttr("reverse", 0) ? b_.getUnitAttr() : nullptr));
  }
  if (op == "Trilu")
    return convertTrilu();
  if (op == "Einsum")
    return convertEinsum();

  std::string list;
  for (const std::string &s : opList())
    list += (list.empty() ? "" : " ") + s;
  nodeFail("operator " + op + " is not supported (supported: " + list + ")");
}

void Importer::convertPow() {
  allowAttributes({});
  Value x = value(0);
  if (!isa<FloatType>(elemOf(x)))
    nodeFail("needs a float base, got " + ox::elemTypeName(onnxType(elemOf(x))));
  // A constant scalar exponent of a common value becomes exact, cheaper arithmetic.
  Known *e = known(1);
  double p = 0;
  bool special = e && !e->symbolic() && e->numel() >= 1;
  if (special) {
    p = e->asDouble(0);
    for (int64_t k = 1; k < e->numel(); ++k)
      special &= e->asDouble(k) == p;
    auto bshape = broadcastStatic(shapeOf(x), e->shape);
    special &= bshape && ArrayRef<int64_t>(*bshape) == shapeOf(x);
    special &= p == 1 || p == 2 || p == 3 || p == 0.5 || p == -0.5 || p == -1;
  }
  if (!special) {
    Value y = value(1);
    if (elemOf(y).isInteger(1))
      nodeFail("needs a numeric exponent");
    return define(0, binary<PowOp>(x, castTo(y, elemOf(x))));
  }
  Value y;
  if (p == 1)
    y = x;
  else if (p == 2)
    y = binary<MulOp>(x, x);
  else if (p == 3)
    y = binary<MulOp>(binary<MulOp>(x, x), x);
  else if (p == 0.5)
    y = SqrtOp::create(b_, loc_, x.getType(), x);
  else if (p == -0.5)
    y = RsqrtOp::create(b_, loc_, x.getType(), x);
  else
    y = binary<DivOp>(constantScalar(elemOf(x), 1.0, shapeOf(x).size()), x);
  define(0, y);
}

std::pair<SmallVector<int64_t>, SmallVector<Value>> Importer::sizesOf(const Known &shape) {
  if (shape.shape.size() != 1)
    nodeFail("the shape must be a 1-D tensor");
  SmallVector<int64_t> sizes;
  SmallVector<Value> dynamic;
  for (int64_t k = 0; k < shape.numel(); ++k) {
    if (shape.symbolicAt(k)) {
      sizes.push_back(kDyn);
      dynamic.push_back(shape.sym[k]);
      continue;
    }
    int64_t v = shape.asInt(k);
    if (v < 0)
      nodeFail("shape entry " + std::to_string(v) + " is negative");
    sizes.push_back(v);
  }
  return {sizes, dynamic};
}

Value Importer::broadcastTo(Value x, const Known &shape, bool numpyRules) {
  auto [target, dyn] = sizesOf(shape);
  ArrayRef<int64_t> in = shapeOf(x);
  SmallVector<Value> dynAt;
  for (size_t k = 0; k < target.size(); ++k)
    dynAt.push_back(mixedSize(target, dyn, int64_t(k)));
  size_t rank = numpyRules ? std::max(in.size(), target.size()) : target.size();
  if (!numpyRules && !in.empty())
    nodeFail("expects a scalar");
  SmallVector<int64_t> out(rank);
  SmallVector<Value> outDyn;
  for (size_t k = 0; k < rank; ++k) {
    int64_t xi = k + in.size() >= rank ? in[k + in.size() - rank] : 1;
    int64_t ti = k + target.size() >= rank ? target[k + target.size() - rank] : 1;
    Value tv = k + target.size() >= rank ? dynAt[k + target.size() - rank] : Value();
    if (!ShapedType::isDynamic(ti) && ti == 1) {
      out[k] = xi; // the target's 1 keeps the input's size
      if (ShapedType::isDynamic(xi))
        outDyn.push_back(dimValue(x, int64_t(k + in.size() - rank)));
    } else if (!ShapedType::isDynamic(ti)) {
      if (!ShapedType::isDynamic(xi) && xi != 1 && xi != ti)
        nodeFail("cannot expand " + shapeText(in) + " to size " + std::to_string(ti) +
                 " in dimension " + std::to_string(k));
      out[k] = ti;
    } else if (!ShapedType::isDynamic(xi) && xi != 1) {
      out[k] = xi; // a run-time target size must be 1 or the input's
    } else {
      // A run-time target size: the result takes it unless it is 1 and the input's
      // size is larger, which chitu.broadcast_to checks at run time (equal or 1).
      out[k] = kDyn;
      outDyn.push_back(
          ShapedType::isDynamic(xi)
              ? arith::MaxSIOp::create(b_, loc_, tv, dimValue(x, int64_t(k + in.size() - rank)))
              : tv);
    }
  }
  return BroadcastToOp::create(b_, loc_, tensor(out, elemOf(x)), x, outDyn,
                               b_.getDenseI64ArrayAttr(out));
}

void Importer::convertCompare() {
  allowAttributes({});
  Value a = value(0), c = value(1);
  if (elemOf(a) != elemOf(c))
    nodeFail("operand element types differ");
  const std::string &op = node_->opType;
  if (elemOf(a).isInteger(1)) {
    if (op != "Equal")
      nodeFail("orders bool operands; unsupported");
    a = castTo(a, b_.getI32Type()); // bool equality as 0/1 integers
    c = castTo(c, b_.getI32Type());
  }
  auto shape = broadcastStatic(shapeOf(a), shapeOf(c));
  if (!shape)
    nodeFail("operand shapes " + shapeText(shapeOf(a)) + " and " + shapeText(shapeOf(c)) +
             " do not broadcast");
  std::string predicate = op == "Equal"         ? "eq"
                          : op == "Less"        ? "lt"
                          : op == "Greater"     ? "gt"
                          : op == "LessOrEqual" ? "le"
                                                : "ge";
  define(0, CompareOp::create(b_, loc_, tensor(*shape, b_.getI1Type()), b_.getStringAttr(predicate),
                              a, c));
}

void Importer::convertLogical() {
  allowAttributes({});
  const std::string &op = node_->opType;
  auto requireBool = [&](Value v) {
    if (!elemOf(v).isInteger(1))
      nodeFail("needs bool inputs, got " + ox::elemTypeName(onnxType(elemOf(v))));
    return v;
  };
  auto negate = [&](Value v) {
    Type i1 = b_.getI1Type();
    int64_t rank = int64_t(shapeOf(v).size());
    return SelectOp::create(b_, loc_, v.getType(), v, constantScalar(i1, 0, rank),
                            constantScalar(i1, 1, rank))
        .getResult();
  };
  Value a = requireBool(value(0));
  if (op == "Not")
    return define(0, negate(a));
  Value c = requireBool(value(1));
  if (op == "And")
    return define(0, binary<MinOp>(a, c));
  if (op == "Or")
    return define(0, binary<MaxOp>(a, c));
  auto shape = broadcastStatic(shapeOf(a), shapeOf(c)); // Xor: a ? !c : c
  if (!shape)
    nodeFail("operand shapes do not broadcast");
  define(0, SelectOp::create(b_, loc_, tensor(*shape, b_.getI1Type()), a, negate(c), c));
}

void Importer::convertRange() {
  allowAttributes({});
  Known &start = requireKnown(0, "start");
  Known &limit = requireKnown(1, "limit");
  Known &delta = requireKnown(2, "delta");
  if (start.symbolic() || delta.symbolic() || start.numel() != 1 || delta.numel() != 1 ||
      limit.numel() != 1)
    nodeFail("start and delta must be constant scalars");
  Type et = checkedType(start.type, "start");
  if (!limit.symbolicAt(0) || start.isFloat())
    nodeFail("a float range with run-time bounds is unsupported");
  int64_t s = start.asInt(0), d = delta.asInt(0);
  if (d == 0)
    nodeFail("delta is 0");
  // size = max(ceil((limit - start) / delta), 0)
  Value span = d > 0 ? arith::SubIOp::create(b_, loc_, limit.sym[0], indexConstant(s)).getResult()
                     : arith::SubIOp::create(b_, loc_, indexConstant(s), limit.sym[0]).getResult();
  Value size = arith::MaxSIOp::create(
      b_, loc_, arith::CeilDivSIOp::create(b_, loc_, span, indexConstant(d > 0 ? d : -d)),
      indexConstant(0));
  define(0, IotaOp::create(b_, loc_, tensor({kDyn}, et), size, b_.getF64FloatAttr(double(s)),
                           b_.getF64FloatAttr(double(d))));
}

void Importer::convertTrilu() {
  allowAttributes({"upper"});
  Value x = value(0);
  int64_t rank = int64_t(shapeOf(x).size());
  if (rank < 2)
    nodeFail("needs an input of rank >= 2");
  int64_t k = 0;
  if (has(1)) {
    std::vector<int64_t> kv = requireInts(1, "k");
    if (kv.size() != 1)
      nodeFail("k must be a scalar");
    k = kv[0];
  }
  bool upper = intAttr("upper", 1) != 0;
  // Keep element (i, j) where j - i >= k (upper) or j - i <= k (lower).
  auto axisIota = [&](int64_t d, bool column) {
    int64_t n = shapeOf(x)[d];
    Value size = ShapedType::isDynamic(n) ? dimValue(x, d) : Value();
    Value seq = IotaOp::create(b_, loc_, tensor({n}, b_.getI64Type()), size,
                               b_.getF64FloatAttr(0.0), b_.getF64FloatAttr(1.0));
    Known shape;
    shape.type = ox::kInt64;
    shape.i = column ? std::vector<int64_t>{1, 0} : std::vector<int64_t>{0, 1};
    shape.sym = {Value(), Value()};
    (column ? shape.i[1] : shape.i[0]) = ShapedType::isDynamic(n) ? 0 : n;
    (column ? shape.sym[1] : shape.sym[0]) = size;
    shape.shape = {2};
    return reshape(seq, shape);
  };
  Value rows = axisIota(rank - 2, false), cols = axisIota(rank - 1, true);
  Value diff = binary<SubOp>(cols, rows);
  Value kc = constantScalar(b_.getI64Type(), double(k), 2);
  auto shape = broadcastStatic(shapeOf(diff), shapeOf(kc));
  Value keep = CompareOp::create(b_, loc_, tensor(*shape, b_.getI1Type()),
                                 b_.getStringAttr(upper ? "ge" : "le"), diff, kc);
  Value zero = constantScalar(elemOf(x), 0.0, rank);
  auto out = broadcastStatic(shapeOf(keep), shapeOf(x));
  define(0, SelectOp::create(b_, loc_, tensor(*out, elemOf(x)), keep, x, zero));
}

void Importer::convertEinsum() {
  allowAttributes({"equation"});
  std::string eq;
  for (char ch : stringAttr("equation", ""))
    if (ch != ' ')
      eq += ch;
  size_t arrow = eq.find("->");
  if (arrow == std::string::npos)
    nodeFail("needs an explicit output ('->'); implicit outputs are unsupported");
  std::string lhs = eq.substr(0, arrow), outLabels = eq.substr(arrow + 2);
  std::vector<std::string> ins;
  for (size_t p = 0, q; p <= lhs.size(); p = q + 1) {
    q = lhs.find(',', p);
    if (q == std::string::npos)
      q = lhs.size();
    ins.push_back(lhs.substr(p, q - p));
  }
  if (ins.size() != node_->inputs.size() || ins.size() > 2)
    nodeFail("supports one or two operands named by the equation");
  if (eq.find('.') != std::string::npos)
    nodeFail("ellipses ('...') are unsupported");
  auto dupes = [](const std::string &s) {
    return std::set<char>(s.begin(), s.end()).size() != s.size();
  };
  for (const std::string &s : ins)
    if (dupes(s))
      nodeFail("a label repeated within an operand (diagonals) is unsupported");
  if (dupes(outLabels))
    nodeFail("the output repeats a label");
  std::map<char, int64_t> size;
  std::vector<Value> vals;
  for (size_t k = 0; k < ins.size(); ++k) {
    Value v = value(k);
    if (!isa<FloatType>(elemOf(v)))
      nodeFail("needs float operands");
    if (shapeOf(v).size() != ins[k].size())
      nodeFail("operand " + std::to_string(k) + " has rank " + std::to_string(shapeOf(v).size()) +
               " but the equation names " + std::to_string(ins[k].size()) + " labels");
    for (size_t d = 0; d < ins[k].size(); ++d) {
      int64_t n = shapeOf(v)[d];
      if (ShapedType::isDynamic(n))
        nodeFail("run-time sizes are unsupported");
      auto [it, fresh] = size.emplace(ins[k][d], n);
      if (!fresh && it->second != n)
        nodeFail(std::string("label '") + ins[k][d] + "' has two sizes");
    }
    vals.push_back(v);
  }
  for (char l : outLabels)
    if (!size.count(l))
      nodeFail(std::string("output label '") + l + "' names no input dimension");
  auto has = [](const std::string &s, char c) { return s.find(c) != std::string::npos; };
  // Sum away labels that only one operand has and the output does not.
  for (size_t k = 0; k < ins.size(); ++k) {
    SmallVector<int64_t> axes;
    std::string kept;
    for (size_t d = 0; d < ins[k].size(); ++d) {
      char l = ins[k][d];
      bool elsewhere = has(outLabels, l) || (ins.size() == 2 && has(ins[1 - k], l));
      if (elsewhere)
        kept += l;
      else
        axes.push_back(int64_t(d));
    }
    if (!axes.empty()) {
      vals[k] = reduce("sum", vals[k], axes, false);
      ins[k] = kept;
    }
  }
  auto permute = [&](Value v, const std::string &from, const std::string &to) -> Value {
    SmallVector<int64_t> perm, shape;
    bool identity = true;
    for (size_t d = 0; d < to.size(); ++d) {
      perm.push_back(int64_t(from.find(to[d])));
      shape.push_back(shapeOf(v)[perm.back()]);
      identity &= perm.back() == int64_t(d);
    }
    if (identity)
      return v;
    return TransposeOp::create(b_, loc_, tensor(shape, elemOf(v)), v,
                               b_.getDenseI64ArrayAttr(perm));
  };
  Value y;
  std::string yl;
  if (ins.size() == 1) {
    y = vals[0], yl = ins[0];
  } else {
    std::string batch, m, n, k;
    for (char l : ins[0]) {
      if (has(ins[1], l))
        (has(outLabels, l) ? batch : k) += l;
      else
        m += l;
    }
    for (char l : ins[1])
      if (!has(ins[0], l))
        n += l;
    auto prod = [&](const std::string &ls) {
      int64_t p = 1;
      for (char l : ls)
        p *= size[l];
      return p;
    };
    int64_t B = prod(batch), M = prod(m), N = prod(n), K = prod(k);
    Value a = reshapeStatic(permute(vals[0], ins[0], batch + m + k), {B, M, K});
    Value c = reshapeStatic(permute(vals[1], ins[1], batch + k + n), {B, K, N});
    Value p = MatmulOp::create(b_, loc_, tensor({B, M, N}, elemOf(a)), a, c, false, false);
    yl = batch + m + n;
    SmallVector<int64_t> shape;
    for (char l : yl)
      shape.push_back(size[l]);
    y = reshapeStatic(p, shape);
  }
  define(0, permute(y, yl, outLabels));
}

void Importer::convertMatMul() {
  allowAttributes({});
  Value a = value(0), c = value(1);
  if (!isa<FloatType>(elemOf(a)))
    nodeFail("needs float inputs, got " + ox::elemTypeName(onnxType(elemOf(a))));
  if (elemOf(a) != elemOf(c))
    nodeFail("operand element types differ");
  // NumPy matmul: a 1-D operand gains a unit dimension, dropped again afterwards.
  bool vecA = shapeOf(a).size() == 1, vecC = shapeOf(c).size() == 1;
  if (vecA)
    a = reshapeStatic(a, {1, shapeOf(a)[0]});
  if (vecC)
    c = reshapeStatic(c, {shapeOf(c)[0], 1});
  ArrayRef<int64_t> sa = shapeOf(a), sc = shapeOf(c);
  int64_t ka = sa.back(), kc = sc[sc.size() - 2];
  if (!ShapedType::isDynamic(ka) && !ShapedType::isDynamic(kc) && ka != kc)
    nodeFail("inner dimensions differ: " + shapeText(sa) + " x " + shapeText(sc));
  auto batch = broadcastStatic(sa.drop_back(2), sc.drop_back(2));
  if (!batch)
    nodeFail("batch dimensions do not broadcast: " + shapeText(sa) + " x " + shapeText(sc));
  SmallVector<int64_t> shape = *batch;
  shape.push_back(sa[sa.size() - 2]);
  shape.push_back(sc.back());
  Value y = MatmulOp::create(b_, loc_, tensor(shape, elemOf(a)), a, c, false, false);
  if (vecA || vecC) {
    SmallVector<int64_t> out(shape.begin(), shape.end() - 2);
    if (!vecA)
      out.push_back(shape[shape.size() - 2]);
    if (!vecC)
      out.push_back(shape.back());
    Known k;
    k.type = ox::kInt64;
    for (size_t d = 0; d < out.size(); ++d) {
      k.i.push_back(ShapedType::isDynamic(out[d]) ? 0 : out[d]);
      k.sym.push_back(ShapedType::isDynamic(out[d]) ? dimValue(y, d) : Value());
    }
    k.shape = {int64_t(out.size())};
    y = reshape(y, k);
  }
  define(0, y);
}

void Importer::convertGemm() {
  allowAttributes({"alpha", "beta", "transA", "transB"});
  Value a = value(0), c = value(1);
  if (!isa<FloatType>(elemOf(a)) || elemOf(a) != elemOf(c))
    nodeFail("needs float inputs of one type");
  if (shapeOf(a).size() != 2 || shapeOf(c).size() != 2)
    nodeFail("A and B must be matrices");
  bool ta = intAttr("transA", 0), tb = intAttr("transB", 0);
  int64_t m = shapeOf(a)[ta ? 1 : 0], n = shapeOf(c)[tb ? 0 : 1];
  Value y = MatmulOp::create(b_, loc_, tensor({m, n}, elemOf(a)), a, c, ta, tb);
  float alpha = floatAttr("alpha", 1.0f), beta = floatAttr("beta", 1.0f);
  if (alpha != 1.0f)
    y = binary<MulOp>(y, constantScalar(elemOf(y), alpha, 2));
  if (has(2) && beta != 0.0f) {
    Value bias = value(2);
    if (beta != 1.0f)
      bias = binary<MulOp>(bias, constantScalar(elemOf(bias), beta, shapeOf(bias).size()));
    y = binary<AddOp>(y, bias);
    if (shapeOf(y) != ArrayRef<int64_t>{m, n})
      nodeFail("C does not broadcast to the result's shape");
  }
  define(0, y);
}

void Importer::convertSlice() {
  allowAttributes({});
  Value x = value(0);
  ArrayRef<int64_t> in = shapeOf(x);
  int64_t rank = int64_t(in.size());
  Known &starts = requireKnown(1, "starts");
  Known &ends = requireKnown(2, "ends");
  std::vector<int64_t> axes, steps;
  if (has(3))
    axes = requireInts(3, "axes");
  else
    for (int64_t d = 0; d < starts.numel(); ++d)
      axes.push_back(d);
  if (has(4))
    steps = requireInts(4, "steps");
  else
    steps.assign(axes.size(), 1);
  if (int64_t(axes.size()) != starts.numel() || ends.numel() != starts.numel() ||
      steps.size() != axes.size())
    nodeFail("starts, ends, axes and steps differ in length");
  SmallVector<int64_t> offsets(static_cast<size_t>(rank), 0), sizes(in.begin(), in.end()),
      strides(static_cast<size_t>(rank), 1);
  SmallVector<Value> offsetValues(static_cast<size_t>(rank)), sizeValues(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d)
    if (ShapedType::isDynamic(in[d]))
      sizeValues[d] = dimValue(x, d);
  std::set<int64_t> seen;
  for (size_t k = 0; k < axes.size(); ++k) {
    int64_t d = normAxis(axes[k], rank);
    if (!seen.insert(d).second)
      nodeFail("axes repeat");
    int64_t step = steps[k];
    if (step <= 0)
      nodeFail("step " + std::to_string(step) + " is not supported (positive steps only)");
    if (starts.symbolicAt(k) || ends.symbolicAt(k) || ShapedType::isDynamic(in[d])) {
      // Run-time bounds: only the plain forms (start >= 0, end a size or 'to the end').
      if (step != 1)
        nodeFail("a run-time slice bound with a step other than 1 is unsupported");
      Value dim = ShapedType::isDynamic(in[d]) ? dimValue(x, d) : indexConstant(in[d]);
      auto bound = [&](Known &c) -> Value {
        if (c.symbolicAt(k))
          return c.sym[k];
        int64_t v = c.asInt(k);
        if (v >= (int64_t(1) << 62))
          return dim;
        if (v < 0)
          nodeFail("a negative bound on a dimension with a run-time size is unsupported");
        return indexConstant(v);
      };
      Value s = bound(starts), e = bound(ends);
      e = arith::MinSIOp::create(b_, loc_, e, dim);
      s = arith::MinSIOp::create(b_, loc_, s, e);
      offsets[d] = kDyn;
      offsetValues[d] = s;
      sizes[d] = kDyn;
      sizeValues[d] = arith::SubIOp::create(b_, loc_, e, s);
      continue;
    }
    int64_t n = in[d];
    int64_t s = starts.asInt(k), e = ends.asInt(k);
    if (s < 0)
      s += n;
    if (e < 0)
      e += n;
    s = std::clamp<int64_t>(s, 0, n);
    e = std::clamp<int64_t>(e, 0, n);
    offsets[d] = s;
    sizes[d] = e > s ? (e - s + step - 1) / step : 0;
    strides[d] = step;
    if (sizes[d] == 0)
      offsets[d] = 0;
  }
  SmallVector<Value> dynOffsets, dynSizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (offsetValues[d])
      dynOffsets.push_back(offsetValues[d]);
    if (ShapedType::isDynamic(sizes[d]))
      dynSizes.push_back(sizeValues[d]);
  }
  define(0, SliceOp::create(b_, loc_, tensor(sizes, elemOf(x)), x, dynOffsets, dynSizes,
                            b_.getDenseI64ArrayAttr(offsets), b_.getDenseI64ArrayAttr(sizes),
                            b_.getDenseI64ArrayAttr(strides)));
}

void Importer::convertSplit() {
  allowAttributes({"axis", "num_outputs"});
  Value x = value(0);
  int64_t rank = int64_t(shapeOf(x).size());
  int64_t axis = normAxis(intAttr("axis", 0), rank);
  int64_t n = shapeOf(x)[axis];
  if (ShapedType::isDynamic(n))
    nodeFail("splitting an axis of run-time size is unsupported");
  size_t outputs = node_->outputs.size();
  std::vector<int64_t> parts;
  if (has(1)) {
    parts = requireInts(1, "split");
    if (parts.size() != outputs)
      nodeFail("split has " + std::to_string(parts.size()) + " entries for " +
               std::to_string(outputs) + " outputs");
  } else {
    int64_t chunk = (n + int64_t(outputs) - 1) / int64_t(outputs);
    for (size_t k = 0; k < outputs; ++k)
      parts.push_back(std::min<int64_t>(chunk, n - std::min<int64_t>(n, chunk * int64_t(k))));
  }
  int64_t total = std::accumulate(parts.begin(), parts.end(), int64_t(0));
  if (total != n)
    nodeFail("the parts add up to " + std::to_string(total) + ", the axis has " +
             std::to_string(n));
  int64_t offset = 0;
  for (size_t k = 0; k < outputs; ++k) {
    SmallVector<int64_t> offsets(static_cast<size_t>(rank), 0), sizes(shapeOf(x)),
        strides(static_cast<size_t>(rank), 1);
    SmallVector<Value> dynSizes;
    for (int64_t d = 0; d < rank; ++d)
      if (ShapedType::isDynamic(sizes[d]))
        dynSizes.push_back(dimValue(x, d));
    offsets[axis] = offset;
    sizes[axis] = parts[k];
    offset += parts[k];
    define(k, SliceOp::create(b_, loc_, tensor(sizes, elemOf(x)), x, ValueRange{}, dynSizes,
                              b_.getDenseI64ArrayAttr(offsets), b_.getDenseI64ArrayAttr(sizes),
                              b_.getDenseI64ArrayAttr(strides)));
  }
}

void Importer::convertLayerNorm() {
  allowAttributes({"axis", "epsilon", "stash_type"});
  Value x = value(0), scale = value(1);
  if (!isa<FloatType>(elemOf(x)))
    nodeFail("needs a float input");
  ArrayRef<int64_t> in = shapeOf(x);
  int64_t rank = int64_t(in.size());
  int64_t axis = normAxis(intAttr("axis", -1), rank);
  float eps = floatAttr("epsilon", 1e-5f);
  // chitu.layer_norm normalizes the last axis: fold the normalized axes into one.
  int64_t inner = 1;
  for (int64_t d = axis; d < rank; ++d) {
    if (ShapedType::isDynamic(in[d]))
      nodeFail("normalized axes must have static sizes");
    inner *= in[d];
  }
  Value x2 = x, scale2 = reshapeStatic(scale, {inner});
  Value bias2;
  if (has(2))
    bias2 = reshapeStatic(value(2), {inner});
  if (axis != rank - 1) {
    Known k;
    k.type = ox::kInt64;
    for (int64_t d = 0; d < axis; ++d) {
      k.i.push_back(ShapedType::isDynamic(in[d]) ? 0 : in[d]);
      k.sym.push_back(ShapedType::isDynamic(in[d]) ? dimValue(x, d) : Value());
    }
    k.i.push_back(inner);
    k.sym.push_back(Value());
    k.shape = {int64_t(k.i.size())};
    x2 = reshape(x, k);
  }
  if (shapeOf(scale).size() > size_t(rank - axis) || shapeOf(scale2)[0] != inner)
    nodeFail("scale must have the normalized axes' shape");
  Value y = LayerNormOp::create(b_, loc_, x2.getType(), x2, scale2, bias2, b_.getF32FloatAttr(eps));
  if (axis != rank - 1) {
    Known k;
    k.type = ox::kInt64;
    for (int64_t d = 0; d < rank; ++d) {
      k.i.push_back(ShapedType::isDynamic(in[d]) ? 0 : in[d]);
      k.sym.push_back(ShapedType::isDynamic(in[d]) ? dimValue(x, d) : Value());
    }
    k.shape = {rank};
    y = reshape(y, k);
  }
  define(0, y);
  if (outputUsed(1) || outputUsed(2)) {
    // Mean and InvStdDev, in f32 (stash_type 1) over the normalized axes, kept as size 1.
    Value xf = castTo(x, b_.getF32Type());
    SmallVector<int64_t> axes;
    for (int64_t d = axis; d < rank; ++d)
      axes.push_back(d);
    Value mean = reduce("mean", xf, axes, true);
    Value centered = binary<SubOp>(xf, mean);
    Value var = reduce("mean", binary<MulOp>(centered, centered), axes, true);
    Value inv = RsqrtOp::create(
        b_, loc_, var.getType(),
        binary<AddOp>(var, constantScalar(b_.getF32Type(), eps, shapeOf(var).size())));
    int32_t stash = int32_t(intAttr("stash_type", 1));
    Type st = checkedType(stash, "stash_type");
    define(1, castTo(mean, st));
    define(2, castTo(inv, st));
  }
}

void Importer::convertReduce(StringRef kind) {
  allowAttributes({"axes", "keepdims", "noop_with_empty_axes"});
  Value x = value(0);
  int64_t rank = int64_t(shapeOf(x).size());
  if (kind == "mean" && !isa<FloatType>(elemOf(x)))
    nodeFail("needs a float input");
  if (kind == "sum" && elemOf(x).isInteger(1))
    nodeFail("sums bool values; unsupported");
  std::vector<int64_t> axes;
  if (auto a = intsAttr("axes"))
    axes = *a; // ReduceMean/ReduceMax before opset 18
  else if (has(1))
    axes = requireInts(1, "axes");
  bool keep = intAttr("keepdims", 1) != 0;
  if (axes.empty()) {
    if (intAttr("noop_with_empty_axes", 0))
      return define(0, x);
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  std::set<int64_t> set;
  for (int64_t a : axes)
    if (!set.insert(normAxis(a, rank)).second)
      nodeFail("axes repeat");
  SmallVector<int64_t> sorted(set.begin(), set.end());
  if (rank == 0)
    return define(0, x);
  define(0, reduce(kind, x, sorted, keep));
}

// ---------------------------------------------------------------------------
// Graph

void Importer::addInitializers() {
  for (const ox::Tensor &t : model_.graph.initializers) {
    auto tensorPtr = std::make_shared<ox::Tensor>(t);
    if (t.external) {
      std::string path = ::chitu::joinPath(modelDir_, t.location);
      if (t.location.empty() || t.location.find("..") != std::string::npos || t.location[0] == '/')
        fail("initializer '" + t.name + "' has an invalid external data location '" + t.location +
             "'");
      auto file = ::chitu::MappedFile::open(path);
      if (!file.isOk())
        fail("initializer '" + t.name + "': " + file.status().message());
      int64_t want = t.numElements() * int64_t(ox::elemTypeSize(t.dataType));
      int64_t length = t.length >= 0 ? t.length : int64_t((*file)->size()) - t.offset;
      if (t.offset < 0 || length != want || t.offset + length > int64_t((*file)->size()))
        fail("initializer '" + t.name + "': external data range [" + std::to_string(t.offset) +
             ", +" + std::to_string(length) + ") of " + path + " does not hold its " +
             std::to_string(want) + " bytes");
      tensorPtr->data.assign((*file)->data() + t.offset, (*file)->data() + t.offset + length);
      tensorPtr->external = false;
    }
    if (ox::elemTypeSize(t.dataType) == 0)
      fail("initializer '" + t.name + "' has element type " + ox::elemTypeName(t.dataType) +
           " (unsupported)");
    if (tensorPtr->data.size() != size_t(t.numElements()) * ox::elemTypeSize(t.dataType))
      fail("initializer '" + t.name + "' holds " + std::to_string(tensorPtr->data.size()) +
           " bytes, its shape and type need " +
           std::to_string(t.numElements() * ox::elemTypeSize(t.dataType)));
    auto k = std::make_shared<Known>();
    k->type = t.dataType;
    k->shape.assign(t.dims.begin(), t.dims.end());
    k->raw = tensorPtr;
    values_[t.name] = Entry{Value(), k};
  }
}

std::shared_ptr<::chitu::SafetensorsFile> Importer::packWeights() {
  if (weights_.empty())
    return nullptr;
  ::chitu::JsonWriter header(false);
  header.beginObject();
  uint64_t offset = 0;
  for (const PendingWeight &w : weights_) {
    header.key(w.name).beginObject();
    header.key("dtype").value(::chitu::safetensorsDTypeName(w.dtype));
    header.key("shape").beginArray();
    for (int64_t d : w.shape)
      header.value(d);
    header.endArray();
    header.key("data_offsets").beginArray().value(offset).value(offset + w.bytes.size());
    header.endArray().endObject();
    offset += w.bytes.size();
  }
  header.endObject();
  auto image = std::make_shared<std::vector<uint8_t>>();
  uint64_t headerSize = header.str().size();
  for (int k = 0; k < 8; ++k)
    image->push_back(uint8_t(headerSize >> (8 * k)));
  image->insert(image->end(), header.str().begin(), header.str().end());
  for (const PendingWeight &w : weights_)
    image->insert(image->end(), w.bytes.begin(), w.bytes.end());
  auto file = ::chitu::SafetensorsFile::fromBytes(image, "<ONNX initializers>");
  if (!file.isOk())
    fail(file.status().message());
  return *file;
}

OnnxModel Importer::run() {
  const ox::Graph &g = model_.graph;
  auto it = model_.opsets.find("");
  if (it == model_.opsets.end())
    fail("the model imports no ai.onnx opset");
  opset_ = it->second;
  if (opset_ < kMinOpset || opset_ > kMaxOpset)
    fail("opset " + std::to_string(opset_) +
         " is not supported (supported: " + std::to_string(kMinOpset) + " to " +
         std::to_string(kMaxOpset) + "; convert the model with onnx.version_converter)");
  if (model_.functions)
    fail("model-local functions are not supported");
  if (g.sparseInitializers)
    fail("sparse initializers are not supported");

  OnnxModel out;
  out.opset = opset_;
  out.nodes = g.nodes.size();
  out.module = ModuleOp::create(loc_);
  b_.setInsertionPointToEnd(out.module->getBody());

  addInitializers();
  // Inputs: graph inputs that are not initializers (IR < 4 lists initializers as inputs).
  SmallVector<Type> argTypes;
  std::vector<const ox::ValueInfo *> args;
  for (const ox::ValueInfo &v : g.inputs) {
    if (values_.count(v.name))
      continue;
    if (!v.otherKind.empty())
      fail("input '" + v.name + "' is " + (v.otherKind == "optional" ? "an " : "a ") + v.otherKind +
           " (only tensors are supported)");
    Type et = checkedType(v.elemType, "input '" + v.name + "'");
    if (!v.hasShape)
      fail("input '" + v.name + "' has no shape (its rank must be known)");
    SmallVector<int64_t> shape;
    for (const ox::Dim &d : v.dims)
      shape.push_back(d.value >= 0 ? d.value : kDyn);
    argTypes.push_back(tensor(shape, et));
    args.push_back(&v);
  }
  for (const ox::Node &n : g.nodes)
    for (const std::string &in : n.inputs)
      used_.insert(in);
  for (const ox::ValueInfo &v : g.outputs)
    used_.insert(v.name);

  auto func = func::FuncOp::create(b_, loc_, "main", b_.getFunctionType(argTypes, {}));
  Block *body = func.addEntryBlock();
  for (size_t k = 0; k < args.size(); ++k) {
    func.setArgAttr(unsigned(k), "chitu.name", b_.getStringAttr(args[k]->name));
    values_[args[k]->name] = Entry{body->getArgument(unsigned(k)), nullptr};
  }
  b_.setInsertionPointToEnd(body);
  for (nodeIndex_ = 0; nodeIndex_ < g.nodes.size(); ++nodeIndex_) {
    node_ = &g.nodes[nodeIndex_];
    convertNode();
  }
  node_ = nullptr;
  loc_ = UnknownLoc::get(&ctx_);

  SmallVector<Value> results;
  for (const ox::ValueInfo &v : g.outputs) {
    auto found = values_.find(v.name);
    if (found == values_.end())
      fail("graph output '" + v.name + "' is produced by no node");
    Entry &e = found->second;
    if (!e.value) {
      if (e.known->symbolic())
        fail("graph output '" + v.name + "' is a shape computed at run time (unsupported)");
      e.known->decode();
      e.value = materialize(*e.known, v.name);
    }
    if (v.elemType && mlirType(v.elemType) && mlirType(v.elemType) != elemOf(e.value))
      fail("graph output '" + v.name + "' is declared " + ox::elemTypeName(v.elemType) +
           " but computes " + ox::elemTypeName(onnxType(elemOf(e.value))));
    results.push_back(e.value);
  }
  func::ReturnOp::create(b_, loc_, results);
  SmallVector<Type> resultTypes;
  for (Value v : results)
    resultTypes.push_back(v.getType());
  func.setFunctionType(b_.getFunctionType(argTypes, resultTypes));
  for (size_t k = 0; k < g.outputs.size(); ++k)
    func.setResultAttr(unsigned(k), "chitu.name", b_.getStringAttr(g.outputs[k].name));
  out.weights = packWeights();
  return out;
}

} // namespace

bool mlir::chitu::isOnnxFile(const std::string &path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

std::vector<std::string> mlir::chitu::supportedOnnxOps() {
  std::vector<std::string> ops = opList();
  std::sort(ops.begin(), ops.end());
  return ops;
}

FailureOr<OnnxModel> mlir::chitu::importOnnx(MLIRContext &context, const std::string &path,
                                             const OnnxImportOptions &options, std::string &error) {
  auto file = ::chitu::MappedFile::open(path);
  if (!file.isOk()) {
    error = file.status().message();
    return failure();
  }
  ox::Model model;
  if (!ox::parseModel((*file)->data(), (*file)->size(), model, error)) {
    error = path + ": " + error;
    return failure();
  }
  try {
    Importer importer(context, model, ::chitu::dirName(path), options);
    OnnxModel out = importer.run();
    if (failed(verify(*out.module))) {
      error = path + ": the imported IR does not verify (errors above)";
      return failure();
    }
    return out;
  } catch (const ImportError &e) {
    error = path + ": " + e.message;
    return failure();
  }
}
