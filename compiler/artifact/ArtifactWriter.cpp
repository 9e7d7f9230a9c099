//===- ArtifactWriter.cpp - write the .cbin -------------------------------===//

#include "artifact/ArtifactWriter.h"

#include "frontend/HuggingFace.h"

#include "chitu/cbin/cbin_generated.h"
#include "support/CbinConstants.h"
#include "support/CbinQuantization.h"
#include "support/MappedFile.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cstring>
#include <fstream>
#include <map>
#include <set>

using namespace mlir;
using namespace mlir::chitu;
namespace cb = ::chitu::cbin;
using flatbuffers::Offset;

namespace {

using ::chitu::kSchemaVersion;
using ::chitu::kSegmentAlignment;
constexpr int64_t kArenaAlignment = 256;

cb::DType toCbin(Type t) {
  if (t.isF32())
    return cb::DType::F32;
  if (t.isF16())
    return cb::DType::F16;
  if (t.isBF16())
    return cb::DType::BF16;
  if (t.isInteger(32))
    return cb::DType::I32;
  if (t.isInteger(1))
    return cb::DType::BOOL;
  if (t.isInteger(8))
    return cb::DType::I8;
  if (isa<Float8E4M3FNType>(t))
    return cb::DType::F8E4M3;
  return cb::DType::I64;
}

Type elementType(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

SymExpr alignUp(const SymExpr &bytes) {
  SymExpr a = SymExpr::constant(kArenaAlignment);
  return SymExpr::ceilDiv(bytes, a) * a;
}

class Writer {
public:
  explicit Writer(const ArtifactInput &in) : in_(in) { fbb_.ForceDefaults(true); }

  LogicalResult build(std::vector<uint8_t> &file, ArtifactStats &stats);

  /// The entry's slices (chitu-slice's `chitu.slice` on each kernel, `chitu.slices` on the
  /// function): per slice its steps, the weights they read, and the tensors crossing its
  /// boundary (constants, packed with the artifact, cross no boundary). Empty when the pass
  /// did not run.
  FailureOr<std::vector<Offset<cb::Slice>>>
  sliceTable(func::FuncOp func, const std::vector<int64_t> &stepSlice,
             const std::vector<std::vector<uint32_t>> &stepInputs,
             const std::vector<std::vector<uint32_t>> &stepOutputs,
             const std::set<uint32_t> &weightTensors, const std::set<uint32_t> &constantTensors,
             const std::set<uint32_t> &returned) {
    std::vector<Offset<cb::Slice>> out;
    auto records = func->getAttrOfType<ArrayAttr>("chitu.slices");
    if (!records)
      return out;
    // The slice each tensor is written in (entry inputs: none) and the last slice reading it.
    std::map<uint32_t, int64_t> writtenIn, lastReadIn;
    for (size_t s = 0; s < stepSlice.size(); ++s) {
      for (uint32_t t : stepOutputs[s])
        writtenIn[t] = stepSlice[s];
      for (uint32_t t : stepInputs[s])
        lastReadIn[t] = std::max(lastReadIn[t], stepSlice[s]);
    }
    auto sliceOf = [](const std::map<uint32_t, int64_t> &m, uint32_t t) {
      auto it = m.find(t);
      return it == m.end() ? int64_t(-1) : it->second;
    };
    size_t step = 0;
    for (auto [index, record] : llvm::enumerate(records)) {
      auto dict = dyn_cast<DictionaryAttr>(record);
      auto weightBytes = dict ? dict.getAs<IntegerAttr>("weight_bytes") : IntegerAttr();
      auto activationBytes = dict ? dict.getAs<IntegerAttr>("activation_bytes") : IntegerAttr();
      if (!weightBytes || !activationBytes)
        return func.emitOpError("has a malformed chitu.slices record ") << index;
      size_t first = step;
      std::set<uint32_t> weights, inputs, outputs;
      for (; step < stepSlice.size() && stepSlice[step] == int64_t(index); ++step) {
        for (uint32_t t : stepInputs[step]) {
          if (weightTensors.count(t))
            weights.insert(t);
          else if (constantTensors.count(t))
            continue;
          else if (sliceOf(writtenIn, t) != int64_t(index))
            inputs.insert(t);
        }
        // Written here and read by a later slice or returned.
        for (uint32_t t : stepOutputs[step])
          if (returned.count(t) || sliceOf(lastReadIn, t) > int64_t(index))
            outputs.insert(t);
      }
      if (step == first)
        return func.emitOpError("slice ") << index << " has no kernels in program order";
      std::vector<uint32_t> w(weights.begin(), weights.end()), i(inputs.begin(), inputs.end()),
          o(outputs.begin(), outputs.end());
      out.push_back(cb::CreateSliceDirect(fbb_, uint32_t(first), uint32_t(step - first), &w,
                                          uint64_t(weightBytes.getInt()),
                                          uint64_t(activationBytes.getInt()), &i, &o));
    }
    if (step != stepSlice.size())
      return func.emitOpError("slices do not cover the kernels in program order");
    return out;
  }

private:
  Offset<cb::Expr> expr(const SymExpr &e) {
    std::vector<int64_t> code;
    e.toPostfix(code, [](int64_t id) { return id; });
    return cb::CreateExprDirect(fbb_, &code);
  }
  Offset<flatbuffers::Vector<Offset<cb::Expr>>> exprs(ArrayRef<SymExpr> es) {
    std::vector<Offset<cb::Expr>> v;
    for (const SymExpr &e : es)
      v.push_back(expr(e));
    return fbb_.CreateVector(v);
  }
  uint64_t embed(const void *data, size_t bytes) {
    size_t offset =
        (segment_.size() + kSegmentAlignment - 1) / kSegmentAlignment * kSegmentAlignment;
    segment_.resize(offset + bytes);
    if (bytes)
      std::memcpy(segment_.data() + offset, data, bytes);
    return offset;
  }
  uint32_t addTensor(const std::string &name, Type et, ArrayRef<SymExpr> dims,
                     cb::StorageKind storage, const SymExpr &offset, uint32_t weight,
                     uint32_t stateInput = 0) {
    auto n = fbb_.CreateString(name);
    auto d = exprs(dims);
    auto off = storage == cb::StorageKind::ARENA ? expr(offset) : Offset<cb::Expr>();
    tensors_.push_back(cb::CreateTensor(fbb_, n, toCbin(et), d, storage, off, weight, stateInput));
    tensorInfo_.push_back(
        {name, et, SmallVector<SymExpr>(dims), storage, offset, weight, stateInput});
    return uint32_t(tensors_.size() - 1);
  }
  uint32_t aliasTensor(uint32_t of, const std::string &name) {
    TensorInfo t = tensorInfo_[of];
    return addTensor(name, t.type, t.dims, t.storage, t.offset, t.weight, t.stateInput);
  }

  FailureOr<uint32_t> weightTensor(WeightOp op);
  FailureOr<uint32_t> constantTensor(ConstantOp op);
  uint32_t fileIndex(const ::chitu::SafetensorsFile &f);
  LogicalResult entry(func::FuncOp func, uint32_t index);
  FailureOr<Offset<cb::Kernel>> kernel(KernelOp k, const ShapeAnalysis &shapes, uint32_t entry);

  struct TensorInfo {
    std::string name;
    Type type;
    SmallVector<SymExpr> dims;
    cb::StorageKind storage;
    SymExpr offset;
    uint32_t weight;
    uint32_t stateInput;
  };

  const ArtifactInput &in_;
  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<Offset<cb::Tensor>> tensors_;
  std::vector<TensorInfo> tensorInfo_;
  std::vector<Offset<cb::Weight>> weights_;
  std::vector<Offset<cb::WeightFile>> weightFiles_;
  std::vector<Offset<cb::Kernel>> kernels_;
  std::map<std::pair<std::string, std::string>, Offset<cb::Binary>> binaryCache_;
  std::vector<Offset<cb::Entry>> entries_;
  std::vector<uint8_t> segment_;
  std::map<std::string, uint32_t> weightTensors_; // weight name -> tensor
  std::map<const ::chitu::SafetensorsFile *, uint32_t> files_;
  std::map<std::string, std::string> fileBasenames_; // basename -> path
  // Embedded row-quantized weights by source tensor and format: values and scales,
  // quantized once.
  // Quantized weights by (source, scheme, group), all parts made at the first part's use.
  std::map<std::tuple<std::string, int, int64_t>, ::chitu::QuantizedWeight> quantized_;
  unsigned constants_ = 0;
  ArtifactStats stats_;
};

uint32_t Writer::fileIndex(const ::chitu::SafetensorsFile &f) {
  auto it = files_.find(&f);
  if (it != files_.end())
    return it->second;
  std::string abs = ::chitu::absolutePath(f.path());
  weightFiles_.push_back(cb::CreateWeightFileDirect(fbb_, ::chitu::baseName(abs).c_str(),
                                                    ::chitu::dirName(abs).c_str(), f.fileSize(),
                                                    f.headerChecksum()));
  uint32_t index = uint32_t(weightFiles_.size() - 1);
  files_[&f] = index;
  return index;
}

FailureOr<uint32_t> Writer::weightTensor(WeightOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  // A quantized weight is one part (values, scales, zeros) of its source tensor, named after
  // it.
  const std::string source = op.getName().str();
  std::optional<::chitu::WeightScheme> scheme;
  ::chitu::WeightPart part = ::chitu::WeightPart::Values;
  int64_t group = 0;
  if (op.getQuantize()) {
    scheme = ::chitu::schemeFromName(op.getQuantize()->str());
    if (!scheme)
      return op.emitError("unknown quantization ") << *op.getQuantize();
    group = int64_t(op.getGroupSize().value_or(0));
    // int4 parts say which they are; int8 and fp8 rows tell values from scales by type.
    const bool scales = op.getPart() ? *op.getPart() == "scales" : type.getElementType().isF32();
    part = op.getPart() == "zeros" ? ::chitu::WeightPart::Zeros
           : scales                ? ::chitu::WeightPart::Scales
                                   : ::chitu::WeightPart::Values;
  }
  const cb::Quantization quantization =
      scheme ? ::chitu::encodeQuantization(*scheme, part) : cb::Quantization::NONE;
  const std::string name =
      scheme ? ::chitu::quantizedPartName(source, *scheme, group, part) : source;
  if (auto it = weightTensors_.find(name); it != weightTensors_.end())
    return it->second;
  cb::DType dtype = toCbin(type.getElementType());
  std::vector<int64_t> dims(type.getShape().begin(), type.getShape().end());
  uint64_t bytes = uint64_t(type.getNumElements()) * uint64_t(storageBytes(type.getElementType()));
  Offset<cb::Weight> w;
  if (in_.weightFiles.empty() && in_.unresolvedWeightDType) {
    // Compiled from a configuration alone: the runtime finds the tensor by name.
    auto wname = fbb_.CreateString(name);
    auto wdims = fbb_.CreateVector(dims);
    auto tname = fbb_.CreateString(source);
    w = cb::CreateWeight(fbb_, wname, dtype, wdims, bytes, false, 0, ::chitu::kUnresolvedWeightFile,
                         tname, cb::DType(int(*in_.unresolvedWeightDType)), quantization,
                         uint32_t(group));
    stats_.externalBytes += bytes;
  } else {
    auto found = findWeight(op, in_.weightFiles, in_.allowPrecisionChange);
    if (failed(found))
      return failure();
    const ::chitu::SafetensorsFile *file = found->file;
    const ::chitu::SafetensorsTensor *t = found->tensor;
    cb::DType fileDType = cb::DType(int(*t->dtype));
    auto wname = fbb_.CreateString(name);
    auto wdims = fbb_.CreateVector(dims);
    if (in_.embedWeights) {
      uint64_t offset;
      if (scheme) { // all parts come from one pass over the source, made for the first
        auto [it, fresh] = quantized_.try_emplace({source, int(*scheme), group});
        ::chitu::QuantizedWeight &parts = it->second;
        if (fresh) {
          int64_t badRow = 0;
          if (!::chitu::quantizeWeight(*scheme, group, file->data(*t), *t->dtype, t->shape[0],
                                       t->shape[1], parts, badRow))
            return op.emitError("weight '")
                   << source << "': row " << badRow
                   << " holds a NaN or an infinity and cannot be quantized";
        }
        if (parts.bytes(part) != bytes)
          return op.emitError("weight '") << source << "': quantized part of " << parts.bytes(part)
                                          << " bytes, the type needs " << bytes;
        offset = embed(parts.data(part), bytes);
      } else if (fileDType == dtype) {
        offset = embed(file->data(*t), bytes);
      } else {
        std::vector<uint8_t> converted(bytes);
        ::chitu::convertFloats(file->data(*t), *t->dtype, converted.data(),
                               ::chitu::DType(int(dtype)), size_t(type.getNumElements()));
        offset = embed(converted.data(), bytes);
      }
      w = cb::CreateWeight(fbb_, wname, dtype, wdims, bytes, true, offset, 0, 0, dtype,
                           quantization, uint32_t(group));
      stats_.embeddedBytes += bytes;
    } else {
      std::string base = ::chitu::baseName(file->path());
      auto clash = fileBasenames_.find(base);
      if (clash != fileBasenames_.end() && clash->second != file->path())
        return op.emitError("weight files ")
               << clash->second << " and " << file->path()
               << " have the same name; rename one or use --embed-weights";
      fileBasenames_[base] = file->path();
      uint32_t fi = fileIndex(*file);
      auto tname = fbb_.CreateString(source);
      w = cb::CreateWeight(fbb_, wname, dtype, wdims, bytes, false, 0, fi, tname, fileDType,
                           quantization, uint32_t(group));
      stats_.externalBytes += bytes;
    }
  }
  weights_.push_back(w);
  SmallVector<SymExpr> symDims;
  for (int64_t d : dims)
    symDims.push_back(SymExpr::constant(d));
  uint32_t tensor = addTensor(name, type.getElementType(), symDims, cb::StorageKind::WEIGHT,
                              SymExpr(), uint32_t(weights_.size() - 1));
  weightTensors_[name] = tensor;
  return tensor;
}

FailureOr<uint32_t> Writer::constantTensor(ConstantOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  auto dense = dyn_cast<DenseElementsAttr>(op.getValue());
  if (!dense)
    return op.emitOpError("only dense constants are supported");
  Type et = type.getElementType();
  size_t width = size_t(storageBytes(et));
  std::vector<uint8_t> bytes;
  auto put = [&](const llvm::APInt &bits) {
    if (et.isInteger(1))
      return bytes.push_back(bits.isZero() ? 0 : 1);
    for (size_t b = 0; b < width; ++b)
      bytes.push_back(uint8_t(bits.extractBitsAsZExtValue(8, unsigned(b * 8))));
  };
  if (isa<FloatType>(et))
    for (const llvm::APFloat &v : dense.getValues<llvm::APFloat>())
      put(v.bitcastToAPInt());
  else
    for (const llvm::APInt &v : dense.getValues<llvm::APInt>())
      put(v);
  std::string name = "constant" + std::to_string(constants_++);
  uint64_t offset = embed(bytes.data(), bytes.size());
  std::vector<int64_t> dims(type.getShape().begin(), type.getShape().end());
  weights_.push_back(cb::CreateWeightDirect(fbb_, name.c_str(), toCbin(et), &dims, bytes.size(),
                                            true, offset, 0, nullptr));
  stats_.embeddedBytes += bytes.size();
  SmallVector<SymExpr> symDims;
  for (int64_t d : dims)
    symDims.push_back(SymExpr::constant(d));
  return addTensor(name, et, symDims, cb::StorageKind::WEIGHT, SymExpr(),
                   uint32_t(weights_.size() - 1));
}

FailureOr<Offset<cb::Kernel>> Writer::kernel(KernelOp k, const ShapeAnalysis &shapes,
                                             uint32_t entry) {
  auto compiled = in_.kernels->find(k.getOperation());
  if (compiled == in_.kernels->end())
    return k.emitOpError("was not compiled");
  Block &body = k.getBodyBlock();
  llvm::DenseMap<Value, uint32_t> local;
  uint32_t numInputs = 0;
  for (BlockArgument arg : body.getArguments())
    if (isa<RankedTensorType>(arg.getType()))
      local[arg] = numInputs++;
  uint32_t next = numInputs;
  std::vector<Offset<cb::Op>> ops;
  for (Operation &op : body.without_terminator()) {
    std::vector<uint32_t> operands;
    for (Value v : op.getOperands())
      if (isa<RankedTensorType>(v.getType()))
        operands.push_back(local[v]);
    std::vector<int64_t> ints;
    std::vector<double> floats;
    SmallVector<SymExpr> params;
    auto reduction = [&](auto o) {
      ints.push_back(o.getKeepDims() ? 1 : 0);
      ints.insert(ints.end(), o.getAxes().begin(), o.getAxes().end());
    };
    auto kind =
        llvm::TypeSwitch<Operation *, std::optional<cb::OpKind>>(&op)
            .Case([](AddOp) { return cb::OpKind::ADD; })
            .Case([](SubOp) { return cb::OpKind::SUB; })
            .Case([](MulOp) { return cb::OpKind::MUL; })
            .Case([](DivOp) { return cb::OpKind::DIV; })
            .Case([](MaxOp) { return cb::OpKind::MAXIMUM; })
            .Case([](MinOp) { return cb::OpKind::MINIMUM; })
            .Case([](NegOp) { return cb::OpKind::NEG; })
            .Case([](ExpOp) { return cb::OpKind::EXP; })
            .Case([](LogOp) { return cb::OpKind::LOG; })
            .Case([](SqrtOp) { return cb::OpKind::SQRT; })
            .Case([](RsqrtOp) { return cb::OpKind::RSQRT; })
            .Case([](TanhOp) { return cb::OpKind::TANH; })
            .Case([](SigmoidOp) { return cb::OpKind::SIGMOID; })
            .Case([](SiluOp) { return cb::OpKind::SILU; })
            .Case([](GeluOp) { return cb::OpKind::GELU; })
            .Case([](GeluTanhOp) { return cb::OpKind::GELU_TANH; })
            .Case([](ReluOp) { return cb::OpKind::RELU; })
            .Case([](AbsOp) { return cb::OpKind::ABS; })
            .Case([](ErfOp) { return cb::OpKind::ERF; })
            .Case([](PowOp) { return cb::OpKind::POW; })
            .Case([&](CompareOp o) {
              ints = {llvm::StringSwitch<int64_t>(o.getPredicate())
                          .Case("eq", 0)
                          .Case("ne", 1)
                          .Case("lt", 2)
                          .Case("le", 3)
                          .Case("gt", 4)
                          .Default(5)};
              return cb::OpKind::COMPARE;
            })
            .Case([](SelectOp) { return cb::OpKind::SELECT; })
            .Case([&](GatherElementsOp o) {
              ints = {int64_t(o.getAxis())};
              return cb::OpKind::GATHER_ELEMENTS;
            })
            .Case([](BroadcastToOp) { return cb::OpKind::BROADCAST_TO; })
            .Case([&](FromSizesOp o) {
              unsigned next = 0;
              for (int64_t s : o.getStaticSizes())
                params.push_back(ShapedType::isDynamic(s) ? shapes.index(o.getSizes()[next++])
                                                          : SymExpr::constant(s));
              return cb::OpKind::FROM_SIZES;
            })
            .Case([&](IotaOp o) {
              floats = {o.getStart().convertToDouble(), o.getStep().convertToDouble()};
              return cb::OpKind::IOTA;
            })
            .Case([&](CumsumOp o) {
              ints = {int64_t(o.getAxis()), o.getExclusive() ? 1 : 0, o.getReverse() ? 1 : 0};
              return cb::OpKind::CUMSUM;
            })
            .Case([](CastOp) { return cb::OpKind::CAST; })
            .Case([&](MatmulOp o) {
              ints = {o.getTransposeLhs() ? 1 : 0, o.getTransposeRhs() ? 1 : 0};
              return cb::OpKind::MATMUL;
            })
            .Case([&](ReduceSumOp o) {
              reduction(o);
              return cb::OpKind::REDUCE_SUM;
            })
            .Case([&](ReduceMaxOp o) {
              reduction(o);
              return cb::OpKind::REDUCE_MAX;
            })
            .Case([&](ReduceMeanOp o) {
              reduction(o);
              return cb::OpKind::REDUCE_MEAN;
            })
            .Case([&](SoftmaxOp o) {
              ints = {int64_t(o.getAxis())};
              return cb::OpKind::SOFTMAX;
            })
            .Case([&](RmsNormOp o) {
              floats = {double(o.getEps().convertToFloat())};
              return cb::OpKind::RMS_NORM;
            })
            .Case([&](LayerNormOp o) {
              floats = {double(o.getEps().convertToFloat())};
              ints = {o.getBias() ? 1 : 0};
              return cb::OpKind::LAYER_NORM;
            })
            .Case([](ReshapeOp) { return cb::OpKind::RESHAPE; })
            .Case([&](TransposeOp o) {
              ints.assign(o.getPerm().begin(), o.getPerm().end());
              return cb::OpKind::TRANSPOSE;
            })
            .Case([&](SliceOp o) {
              unsigned nextOffset = 0;
              for (int64_t so : o.getStaticOffsets())
                params.push_back(ShapedType::isDynamic(so)
                                     ? shapes.index(o.getOffsets()[nextOffset++])
                                     : SymExpr::constant(so));
              ints.assign(o.getStrides().begin(), o.getStrides().end());
              return cb::OpKind::SLICE;
            })
            .Case([&](ConcatOp o) {
              ints = {int64_t(o.getAxis())};
              return cb::OpKind::CONCAT;
            })
            .Case([&](GatherOp o) {
              ints = {int64_t(o.getAxis())};
              return cb::OpKind::GATHER;
            })
            .Case([](RopeOp) { return cb::OpKind::ROPE; })
            .Case([](KvWriteOp) { return cb::OpKind::KV_WRITE; })
            .Case([&](PagedAttentionOp o) {
              floats = {double(o.getScale().convertToFloat())};
              ints = {int64_t(o.getWindow())};
              return cb::OpKind::PAGED_ATTENTION;
            })
            .Case([&](AttentionOp o) {
              floats = {double(o.getScale().convertToFloat())};
              return cb::OpKind::ATTENTION;
            })
            .Case([&](DequantizeOp o) {
              if (o.getGroupSize())
                ints = {int64_t(*o.getGroupSize())};
              return cb::OpKind::DEQUANTIZE;
            })
            .Case([](SamplingProbsOp) { return cb::OpKind::SAMPLING_PROBS; })
            .Case([](MultinomialOp) { return cb::OpKind::MULTINOMIAL; })
            .Default([](Operation *) { return std::nullopt; });
    if (!kind)
      return op.emitOpError("has no portable encoding");
    Value result = op.getResult(0);
    auto operandsVec = fbb_.CreateVector(operands);
    auto dims = exprs(shapes.dims(result));
    auto intsVec = fbb_.CreateVector(ints);
    auto floatsVec = fbb_.CreateVector(floats);
    auto paramsVec = exprs(params);
    ops.push_back(cb::CreateOp(fbb_, *kind, operandsVec, toCbin(elementType(result)), dims, intsVec,
                               floatsVec, paramsVec));
    local[result] = next++;
  }
  std::vector<uint32_t> results;
  for (Value v : cast<YieldOp>(body.getTerminator()).getValues())
    results.push_back(local[v]);

  const CompiledKernel &ck = compiled->second;
  const LaunchRule &rule = ck.source.launch;
  std::vector<Offset<cb::Expr>> grid = {expr(rule.grid[0]), expr(rule.grid[1]), expr(rule.grid[2])};
  std::vector<uint32_t> block(rule.block, rule.block + 3);
  SmallVector<SymExpr> scalars;
  for (int64_t s : rule.scalarSymbols)
    scalars.push_back(SymExpr::symbol(s));
  auto gridVec = fbb_.CreateVector(grid);
  auto blockVec = fbb_.CreateVector(block);
  auto scalarVec = exprs(scalars);
  Offset<cb::Expr> sharedExpr = rule.sharedBytesExpr ? expr(*rule.sharedBytesExpr) : 0;
  Offset<cb::Expr> scratchExpr = rule.scratchBytes ? expr(*rule.scratchBytes) : 0;
  auto launch = cb::CreateLaunch(fbb_, gridVec, blockVec, rule.sharedBytes, scalarVec,
                                 rule.usesStatus, sharedExpr, scratchExpr);
  std::vector<Offset<cb::Binary>> binaries;
  for (const auto &[arch, cubin] : ck.binaries) {
    // Kernels with the same code (one per layer) point at one stored cubin.
    auto key = std::make_pair(arch, ck.source.symbol);
    auto it = binaryCache_.find(key);
    if (it == binaryCache_.end())
      it = binaryCache_.emplace(key, cb::CreateBinaryDirect(fbb_, arch.c_str(), &cubin)).first;
    binaries.push_back(it->second);
  }
  auto name = fbb_.CreateString(k.getName().str());
  auto symbol = fbb_.CreateString(ck.source.symbol);
  Offset<flatbuffers::String> tilesSymbol = 0;
  Offset<cb::Expr> tilesWhen = 0;
  if (rule.tilesWhen) {
    tilesSymbol = fbb_.CreateString(ck.source.tilesSymbol);
    tilesWhen = expr(*rule.tilesWhen);
  }
  Offset<cb::LibraryGemm> library = 0;
  if (const std::optional<LibraryRule> &lib = rule.library) {
    std::vector<Offset<cb::LibraryProduct>> products;
    for (const LibraryRule::Product &p : lib->products)
      products.push_back(
          cb::CreateLibraryProduct(fbb_, p.weightInput, expr(p.n), p.output, p.dequantized));
    auto when = expr(lib->when), m = expr(lib->m), kk = expr(lib->k);
    Offset<flatbuffers::String> aSymbol = 0, epilogueSymbol = 0;
    Offset<flatbuffers::Vector<Offset<cb::Expr>>> aGrid = 0;
    if (lib->aInput < 0) {
      aSymbol = fbb_.CreateString(ck.source.libraryASymbol);
      std::vector<Offset<cb::Expr>> g = {expr(lib->aGrid[0]), expr(lib->aGrid[1]),
                                         expr(lib->aGrid[2])};
      aGrid = fbb_.CreateVector(g);
    }
    if (lib->epilogue)
      epilogueSymbol = fbb_.CreateString(ck.source.libraryEpilogueSymbol);
    Offset<flatbuffers::String> bSymbol = 0;
    Offset<flatbuffers::Vector<Offset<cb::Expr>>> bGrid = 0;
    if (lib->dequantizes()) {
      bSymbol = fbb_.CreateString(ck.source.libraryBSymbol);
      std::vector<Offset<cb::Expr>> g = {expr(lib->bGrid[0]), expr(lib->bGrid[1]),
                                         expr(lib->bGrid[2])};
      bGrid = fbb_.CreateVector(g);
    }
    auto productsVec = fbb_.CreateVector(products);
    library = cb::CreateLibraryGemm(fbb_, when, m, kk, lib->f16 ? cb::DType::F16 : cb::DType::BF16,
                                    lib->aInput, aSymbol, aGrid, productsVec, epilogueSymbol,
                                    bSymbol, bGrid);
  }
  auto opsVec = fbb_.CreateVector(ops);
  auto resultsVec = fbb_.CreateVector(results);
  auto binVec = fbb_.CreateVector(binaries);
  ++stats_.kernels;
  return cb::CreateKernel(fbb_, name, entry, numInputs, opsVec, resultsVec, launch, binVec, symbol,
                          tilesSymbol, tilesWhen, library);
}

LogicalResult Writer::entry(func::FuncOp func, uint32_t index) {
  const ShapeAnalysis &shapes = in_.analyses->find(func.getOperation())->second;
  auto argSlots = func->getAttrOfType<DenseI64ArrayAttr>("chitu.arg_slots");
  auto numSlotsAttr = func->getAttrOfType<IntegerAttr>("chitu.num_slots");
  if (!argSlots || !numSlotsAttr)
    return func.emitOpError("has no memory plan (chitu-plan-memory must run)");
  int64_t numSlots = numSlotsAttr.getInt();

  // Each slot is as large as the largest tensor it holds.
  std::vector<std::optional<SymExpr>> slotSize(static_cast<size_t>(numSlots));
  llvm::DenseMap<Value, int64_t> slotOf;
  auto assign = [&](Value v, int64_t slot) -> LogicalResult {
    if (slot < 0)
      return success(); // a state, or a result updating one in place
    if (slot >= numSlots)
      return func.emitOpError("memory plan names slot ") << slot << " of " << numSlots;
    slotOf[v] = slot;
    SymExpr bytes = shapes.numElements(v) * SymExpr::constant(storageBytes(elementType(v)));
    auto &size = slotSize[size_t(slot)];
    size = size ? SymExpr::max(*size, alignUp(bytes)) : alignUp(bytes);
    return success();
  };
  if (argSlots.size() != int64_t(func.getNumArguments()))
    return func.emitOpError("memory plan does not cover every argument");
  for (auto [arg, slot] : llvm::zip(func.getArguments(), argSlots.asArrayRef()))
    if (failed(assign(arg, slot)))
      return failure();
  for (Operation &op : func.getBody().front())
    if (isa<KernelOp>(op) || isView(&op)) {
      auto slots = op.getAttrOfType<DenseI64ArrayAttr>("chitu.slots");
      if (!slots || slots.size() != int64_t(op.getNumResults()))
        return op.emitOpError("has no memory plan (chitu-plan-memory must run)");
      for (auto [r, slot] : llvm::zip(op.getResults(), slots.asArrayRef()))
        if (failed(assign(r, slot)))
          return failure();
    }
  // Slots laid out one after the other; then, per symbol s, the region chitu-plan-memory
  // packed at offsets proportional to s (chitu.slot_offsets[i] = k: base_s + k * s).
  auto packed = func->getAttrOfType<DenseI64ArrayAttr>("chitu.slot_offsets");
  auto units = func->getAttrOfType<DenseI64ArrayAttr>("chitu.slot_units");
  if (packed && (packed.size() != numSlots || !units || units.size() != numSlots))
    return func.emitOpError("memory plan has a malformed packed region");
  auto isPacked = [&](size_t s) { return packed && packed[s] >= 0; };
  std::vector<SymExpr> slotOffset(size_t(numSlots) + 1, SymExpr::constant(0));
  SymExpr base = SymExpr::constant(0);
  for (size_t s = 0; s < size_t(numSlots); ++s)
    if (!isPacked(s)) {
      slotOffset[s] = base;
      base = base + slotSize[s].value_or(SymExpr::constant(0));
    }
  std::map<int64_t, int64_t> regionEnd; // symbol -> end of its region, in units of it
  for (size_t s = 0; packed && s < size_t(numSlots); ++s)
    if (isPacked(s)) {
      int64_t unit = units[s];
      SymExpr coeff = slotSize[s].value_or(SymExpr::constant(0)).substitute([&](int64_t id) {
        return id == unit ? SymExpr::constant(1) : SymExpr::symbol(id);
      });
      if (!coeff.isConstant())
        return func.emitOpError("packed slot ") << s << " is not proportional to its symbol";
      int64_t &end = regionEnd[unit];
      end = std::max(end, packed[s] + coeff.getConstant());
    }
  std::map<int64_t, SymExpr> regionBase;
  for (auto [unit, end] : regionEnd) {
    regionBase[unit] = base;
    base = base + SymExpr::constant(end) * SymExpr::symbol(unit);
  }
  for (size_t s = 0; packed && s < size_t(numSlots); ++s)
    if (isPacked(s))
      slotOffset[s] =
          regionBase[units[s]] + SymExpr::constant(packed[s]) * SymExpr::symbol(units[s]);
  SymExpr arenaSize = base;
  slotOffset[size_t(numSlots)] = arenaSize;

  llvm::DenseMap<Value, uint32_t> tensorOf;
  auto arenaTensor = [&](Value v, const std::string &name) {
    uint32_t t = addTensor(name, elementType(v), shapes.dims(v), cb::StorageKind::ARENA,
                           slotOffset[size_t(slotOf[v])], 0);
    tensorOf[v] = t;
    return t;
  };
  std::vector<uint32_t> inputs, outputs;
  for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
    std::string name = inputName(func, unsigned(i), *in_.parsed);
    if (!func.getArgAttr(unsigned(i), "chitu.state")) {
      inputs.push_back(arenaTensor(arg, name));
      continue;
    }
    uint32_t t = addTensor(name, elementType(arg), shapes.dims(arg), cb::StorageKind::STATE,
                           SymExpr(), 0, uint32_t(i));
    tensorOf[arg] = t;
    inputs.push_back(t);
  }

  std::vector<Offset<cb::Step>> steps;
  // Per step: its slice (chitu.slice) and the tensors it reads and writes, for the slice table.
  std::vector<int64_t> stepSlice;
  std::vector<std::vector<uint32_t>> stepInputs, stepOutputs;
  std::set<uint32_t> weightTensors, constantTensors, returned;
  for (Operation &op : func.getBody().front()) {
    if (auto w = dyn_cast<WeightOp>(op)) {
      auto t = weightTensor(w);
      if (failed(t))
        return failure();
      tensorOf[w.getResult()] = *t;
      weightTensors.insert(*t);
    } else if (auto c = dyn_cast<ConstantOp>(op)) {
      auto t = constantTensor(c);
      if (failed(t))
        return failure();
      tensorOf[c.getResult()] = *t;
      constantTensors.insert(*t);
    } else if (auto k = dyn_cast<KernelOp>(op)) {
      auto kr = kernel(k, shapes, index);
      if (failed(kr))
        return failure();
      kernels_.push_back(*kr);
      std::vector<uint32_t> ins, outs;
      for (Value v : k.getInputs())
        if (isa<RankedTensorType>(v.getType()))
          ins.push_back(tensorOf[v]);
      for (auto [j, r] : llvm::enumerate(k.getResults())) {
        if (std::optional<unsigned> tied = k.getTiedInput(unsigned(j))) {
          // Updated in place: the result is the state tensor it writes.
          tensorOf[r] = tensorOf[k.getInputs()[*tied]];
          outs.push_back(tensorOf[r]);
          continue;
        }
        outs.push_back(arenaTensor(r, k.getName().str() +
                                          (k.getNumResults() > 1 ? ":" + std::to_string(j) : "")));
      }
      steps.push_back(cb::CreateStepDirect(fbb_, uint32_t(kernels_.size() - 1), &ins, &outs));
      auto slice = k->getAttrOfType<IntegerAttr>("chitu.slice");
      stepSlice.push_back(slice ? slice.getInt() : -1);
      stepInputs.push_back(ins);
      stepOutputs.push_back(outs);
    } else if (isView(&op)) {
      // A view: the input's memory seen with the result's dimensions; no kernel runs.
      arenaTensor(op.getResult(0), "view:" + std::to_string(tensorOf.size()));
    } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        returned.insert(tensorOf[v]);
        outputs.push_back(aliasTensor(tensorOf[v], outputName(func, unsigned(i))));
      }
    } else if (!isa<DimOp>(op) && !isa<arith::ArithDialect>(op.getDialect())) {
      return op.emitOpError("is not in a kernel (chitu-form-kernels must run)");
    }
  }

  std::vector<Offset<cb::Symbol>> symbols;
  for (auto [i, s] : llvm::enumerate(shapes.symbols()))
    symbols.push_back(cb::CreateSymbolDirect(fbb_, ShapeAnalysis::symbolName(int64_t(i)).c_str(),
                                             s.argIndex, s.dim));
  std::vector<Offset<cb::Check>> checks;
  for (const ShapeCheck &c : shapes.checks()) {
    auto l = expr(c.lhs), r = expr(c.rhs);
    auto msg = fbb_.CreateString(c.message);
    checks.push_back(
        cb::CreateCheck(fbb_, c.isEquality ? cb::CheckKind::EQ : cb::CheckKind::LE, l, r, msg));
  }
  auto arena = expr(slotOffset.back());
  stats_.arenas.push_back({func.getSymName().str(), slotOffset.back().str()});
  auto slices = sliceTable(func, stepSlice, stepInputs, stepOutputs, weightTensors, constantTensors,
                           returned);
  if (failed(slices))
    return failure();
  entries_.push_back(cb::CreateEntryDirect(fbb_, func.getSymName().str().c_str(), &symbols, &checks,
                                           &inputs, &outputs, &steps, arena,
                                           slices->empty() ? nullptr : &*slices));
  return success();
}

LogicalResult Writer::build(std::vector<uint8_t> &file, ArtifactStats &stats) {
  uint32_t index = 0;
  ModuleOp module = in_.module;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isDeclaration())
      continue;
    if (failed(entry(func, index++)))
      return failure();
  }
  if (entries_.empty())
    return module.emitError("the module has no function to compile");
  std::vector<Offset<flatbuffers::String>> targets;
  for (const std::string &t : in_.targets)
    targets.push_back(fbb_.CreateString(t));
  Offset<cb::Llm> llm;
  if (const LlmMetadata *m = in_.llm) {
    std::vector<int32_t> eos(m->eosTokenIds.begin(), m->eosTokenIds.end());
    llm = cb::CreateLlmDirect(
        fbb_, m->architecture.c_str(), uint32_t(m->vocabSize), uint32_t(m->numLayers),
        uint32_t(m->numKvHeads), uint32_t(m->headDim), uint32_t(m->kvBlockSize),
        uint32_t(m->maxContext), uint32_t(m->slidingWindow), cb::DType(int(m->cacheDType)),
        int32_t(m->bosTokenId), &eos, m->tokenizerJson.empty() ? nullptr : m->tokenizerJson.c_str(),
        m->temperature, int32_t(m->topK), m->topP, m->doSample, m->repetitionPenalty);
  }
  auto root = cb::CreateArtifact(
      fbb_, kSchemaVersion, fbb_.CreateString(in_.producer), fbb_.CreateVector(targets),
      fbb_.CreateVector(tensors_), fbb_.CreateVector(weightFiles_), fbb_.CreateVector(weights_),
      fbb_.CreateVector(kernels_), fbb_.CreateVector(entries_), 0, segment_.size(), llm);
  fbb_.FinishSizePrefixed(root, cb::ArtifactIdentifier());

  // The flatbuffer's size is known only now: patch where the weight segment starts.
  size_t fbSize = fbb_.GetSize();
  size_t segmentOffset = (fbSize + kSegmentAlignment - 1) / kSegmentAlignment * kSegmentAlignment;
  file.assign(fbb_.GetBufferPointer(), fbb_.GetBufferPointer() + fbSize);
  cb::GetMutableSizePrefixedArtifact(file.data())->mutate_segment_offset(segmentOffset);
  file.resize(segmentOffset, 0);
  file.insert(file.end(), segment_.begin(), segment_.end());
  stats = stats_;
  stats.fileBytes = file.size();
  stats.weights = weights_.size();
  return success();
}

} // namespace

FailureOr<WeightSource>
mlir::chitu::findWeight(WeightOp op,
                        const std::vector<std::shared_ptr<::chitu::SafetensorsFile>> &files,
                        bool allowPrecisionChange) {
  std::string name = op.getName().str();
  auto type = cast<RankedTensorType>(op.getType());
  if (files.empty())
    return op.emitError("weight '")
           << name << "' needs a weight file: put a .safetensors file with the .mlir's "
           << "name next to it, or pass --weights FILE";
  for (const auto &f : files) {
    const ::chitu::SafetensorsTensor *t = f->find(name);
    if (!t)
      continue;
    if (op.getQuantize()) { // a float matrix of the rows (and, for int8 / fp8 values, columns)
      bool values = !type.getElementType().isF32() && !op.getGroupSize();
      const int64_t group = int64_t(op.getGroupSize().value_or(0));
      bool groups = !group || (t->shape.size() == 2 && t->shape[1] % group == 0 &&
                               (op.getPart() == "values" ? t->shape[1] / 2 : t->shape[1] / group) ==
                                   type.getDimSize(1));
      if (!t->dtype || !::chitu::isFloat(*t->dtype) || t->shape.size() != 2 ||
          t->shape[0] != type.getDimSize(0) || (values && t->shape[1] != type.getDimSize(1)) ||
          !groups)
        return op.emitError("weight '") << name << "' in " << f->path() << " is not the float "
                                        << "matrix its quantized type " << type << " needs";
      return WeightSource{f.get(), t};
    }
    std::string want =
        ::chitu::safetensorsDTypeName(::chitu::DType(int(toCbin(type.getElementType()))));
    std::string declared;
    llvm::raw_string_ostream os(declared);
    os << type.getElementType();
    bool convertible = allowPrecisionChange && t->dtype && ::chitu::isFloat(*t->dtype) &&
                       isa<FloatType>(type.getElementType());
    if (t->dtypeName != want && !convertible)
      return op.emitError("weight '") << name << "' is " << t->dtypeName << " in " << f->path()
                                      << " but the IR declares " << declared << " (" << want << ")";
    if (t->shape != std::vector<int64_t>(type.getShape().begin(), type.getShape().end())) {
      std::string shape;
      for (int64_t d : t->shape)
        shape += (shape.empty() ? "" : "x") + std::to_string(d);
      return op.emitError("weight '") << name << "' has shape " << shape << " in " << f->path()
                                      << " but the IR declares " << type;
    }
    return WeightSource{f.get(), t};
  }
  std::string names, some;
  for (const auto &f : files)
    names += (names.empty() ? "" : ", ") + f->path();
  unsigned shown = 0;
  for (const auto &[n, _] : files.front()->tensors())
    if (shown++ < 8)
      some += (some.empty() ? "" : ", ") + n;
  return op.emitError("weight '") << name << "' is not in " << names << " (it has: " << some
                                  << (shown > 8 ? ", ..." : "") << ")";
}

LogicalResult
mlir::chitu::checkWeights(ModuleOp module,
                          const std::vector<std::shared_ptr<::chitu::SafetensorsFile>> &files,
                          bool allowPrecisionChange) {
  bool ok = true;
  module.walk([&](WeightOp op) { ok &= succeeded(findWeight(op, files, allowPrecisionChange)); });
  return success(ok);
}

LogicalResult mlir::chitu::writeArtifact(const ArtifactInput &input, const std::string &path,
                                         ArtifactStats &stats) {
  Writer writer(input);
  std::vector<uint8_t> file;
  if (failed(writer.build(file, stats)))
    return failure();
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(file.data()), std::streamsize(file.size()));
    if (!out) {
      std::remove(tmp.c_str());
      return ModuleOp(input.module).emitError("cannot write ") << path;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return ModuleOp(input.module).emitError("cannot write ") << path;
  }
  return success();
}
