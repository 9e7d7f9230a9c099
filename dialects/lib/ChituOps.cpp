//===- ChituOps.cpp - chitu dialect operations ----------------------------===//
//
// Verifiers and folders of the chitu ops. Verifiers check what the types alone can
// decide; dynamic sizes are related by the shape analysis (passes/), which turns what
// cannot be proven at compile time into run-time checks.
//
//===----------------------------------------------------------------------===//

#include "chitu/Dialect/ChituOps.h"
#include "support/Quantize.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::chitu;

//===----------------------------------------------------------------------===//
// Dialect
//===----------------------------------------------------------------------===//

#include "chitu/Dialect/ChituOpsDialect.cpp.inc"

void ChituDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "chitu/Dialect/ChituOps.cpp.inc"
      >();
}

Operation *ChituDialect::materializeConstant(OpBuilder &builder, Attribute value, Type type,
                                             Location loc) {
  if (type.isIndex())
    if (auto intAttr = dyn_cast<IntegerAttr>(value))
      return arith::ConstantIndexOp::create(builder, loc, intAttr.getInt());
  if (auto elements = dyn_cast<ElementsAttr>(value))
    if (isa<RankedTensorType>(type))
      return ConstantOp::create(builder, loc, type, elements);
  return nullptr;
}

bool mlir::chitu::isComputeOp(Operation *op) {
  if (!isa<ChituDialect>(op->getDialect()))
    return false;
  return !isa<WeightOp, ConstantOp, DimOp, KernelOp, YieldOp>(op);
}

int64_t mlir::chitu::storageBytes(Type elementType) {
  return elementType.isInteger(1) ? 1 : elementType.getIntOrFloatBitWidth() / 8;
}

std::optional<unsigned> mlir::chitu::tiedOperand(Operation *op) {
  if (isa<KvWriteOp>(op))
    return 0;
  return std::nullopt;
}

bool mlir::chitu::isView(Operation *op) {
  auto reshape = dyn_cast<ReshapeOp>(op);
  if (!reshape || isa<KernelOp>(op->getParentOp()))
    return false;
  Value in = reshape.getInput();
  if (auto arg = dyn_cast<BlockArgument>(in)) {
    Operation *parent = arg.getOwner()->getParentOp();
    auto attrs = parent->getAttrOfType<ArrayAttr>("arg_attrs");
    if (!attrs || arg.getArgNumber() >= attrs.size())
      return true;
    auto dict = dyn_cast<DictionaryAttr>(attrs[arg.getArgNumber()]);
    return !dict || !dict.get("chitu.state");
  }
  Operation *def = in.getDefiningOp();
  if (isa<WeightOp, ConstantOp, KvWriteOp>(def))
    return false;
  if (auto kernel = dyn_cast<KernelOp>(def))
    return !kernel.getTiedInput(cast<OpResult>(in).getResultNumber());
  if (isa<ReshapeOp>(def))
    return isView(def);
  return true;
}

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

namespace {

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(shape[i]) ? "?" : std::to_string(shape[i]);
  }
  return s + "]";
}

bool compatibleDim(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Checks that `result` may hold `expected` (dims equal where both are static).
LogicalResult verifyResultShape(Operation *op, ArrayRef<int64_t> expected,
                                ArrayRef<int64_t> result) {
  if (expected.size() != result.size())
    return op->emitOpError("result has rank ")
           << result.size() << " but the operands give shape " << shapeString(expected);
  for (size_t i = 0; i < expected.size(); ++i)
    if (!compatibleDim(expected[i], result[i]))
      return op->emitOpError("result shape ")
             << shapeString(result) << " does not match the expected shape "
             << shapeString(expected);
  return success();
}

/// NumPy broadcasting of two shapes under chitu's rules (a dynamic dim never stretches).
FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else if (ShapedType::isDynamic(da))
      out[i] = db;
    else if (ShapedType::isDynamic(db) || da == db)
      out[i] = da;
    else
      return failure();
  }
  return out;
}

LogicalResult verifyBroadcastOp(Operation *op) {
  auto lhs = cast<RankedTensorType>(op->getOperand(0).getType());
  auto rhs = cast<RankedTensorType>(op->getOperand(1).getType());
  auto result = cast<RankedTensorType>(op->getResult(0).getType());
  auto shape = broadcastShapes(lhs.getShape(), rhs.getShape());
  if (failed(shape))
    return op->emitOpError("operand shapes ") << shapeString(lhs.getShape()) << " and "
                                              << shapeString(rhs.getShape()) << " do not broadcast";
  return verifyResultShape(op, *shape, result.getShape());
}

LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t rank, StringRef what) {
  if (axis < 0 || axis >= rank)
    return op->emitOpError() << what << " " << axis << " is out of range for rank " << rank;
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError("needs a non-empty name");
  auto type = cast<RankedTensorType>(getType());
  if (!type.hasStaticShape())
    return emitOpError("weight '") << getName() << "' must have a static shape";
  Type element = type.getElementType();
  bool i8 = element.isInteger(8), fp8 = isa<Float8E4M3FNType>(element);
  if (!getQuantize())
    return i8 || fp8 ? emitOpError("an ") << (i8 ? "i8" : "f8E4M3FN")
                                          << " weight must say how it is quantized (quantize = ...)"
                     : success();
  StringRef format = *getQuantize();
  const bool int4 = format == "int4_sym" || format == "int4_asym";
  if (format != "int8_rows" && format != "fp8_rows" && !int4)
    return emitOpError("unknown quantization '")
           << format << "' (known: int8_rows, fp8_rows, int4_sym, int4_asym)";
  if (type.getRank() != 2)
    return emitOpError(format) << " quantizes a matrix: the result must have rank 2";
  if (!int4) {
    if (getGroupSize() || getPart())
      return emitOpError(format) << " takes no group_size or part";
    bool values = format == "int8_rows" ? i8 : fp8;
    if (!values && !(element.isF32() && type.getDimSize(1) == 1))
      return emitOpError(format) << " parts are the " << (format == "int8_rows" ? "i8" : "f8E4M3FN")
                                 << " values [rows, cols] and the f32 scales [rows, 1], not "
                                 << type;
    return success();
  }
  if (!getGroupSize() || !::chitu::isInt4GroupSize(int64_t(*getGroupSize())))
    return emitOpError(format) << " needs group_size 32, 64 or 128";
  std::optional<StringRef> part = getPart();
  const bool zeros = part && *part == "zeros";
  if (!part || (*part != "values" && *part != "scales" && !zeros))
    return emitOpError(format) << " needs part = \"values\", \"scales\""
                               << (format == "int4_asym" ? " or \"zeros\"" : "");
  if (zeros && format == "int4_sym")
    return emitOpError("int4_sym has no zero points (every zero point is 8)");
  if (*part == "values" ? !i8 : !element.isF32())
    return emitOpError(format) << " " << *part << " are "
                               << (*part == "values" ? "i8 (two int4 a byte)" : "f32") << ", not "
                               << type;
  return success();
}

LogicalResult DequantizeOp::verify() {
  auto values = cast<RankedTensorType>(getValues().getType());
  auto scales = cast<RankedTensorType>(getScales().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (!getGroupSize()) {
    if (getZeros())
      return emitOpError("zero points need group_size (int4 groups)");
    if (scales.getRank() != values.getRank())
      return emitOpError("scales must have the rank of the values");
    for (int64_t d = 0; d < values.getRank(); ++d)
      if (!scales.isDynamicDim(d) && !values.isDynamicDim(d) && scales.getDimSize(d) != 1 &&
          scales.getDimSize(d) != values.getDimSize(d))
        return emitOpError("scales ") << scales << " do not broadcast to the values " << values;
    if (result.getShape() != values.getShape())
      return emitOpError("result shape must be the values' shape");
    return success();
  }
  // int4 groups: values [N, K / 2] packed, scales (and zeros) [N, K / G], result [N, K].
  const int64_t group = int64_t(*getGroupSize());
  if (!::chitu::isInt4GroupSize(group))
    return emitOpError("group_size must be 32, 64 or 128, not ") << group;
  if (!values.getElementType().isInteger(8) || values.getRank() != 2 || result.getRank() != 2 ||
      !values.hasStaticShape() || !result.hasStaticShape())
    return emitOpError("int4 groups take static i8 values [N, K / 2] to a static [N, K] result");
  const int64_t n = result.getDimSize(0), k = result.getDimSize(1);
  if (k % group != 0 || values.getDimSize(0) != n || values.getDimSize(1) * 2 != k)
    return emitOpError("int4 values ")
           << values << " do not pack a " << result << " result in groups of " << group;
  auto groups = RankedTensorType::get({n, k / group}, scales.getElementType());
  if (scales.getShape() != groups.getShape())
    return emitOpError("int4 scales must be ") << groups << ", one per group";
  if (getZeros() && cast<RankedTensorType>(getZeros().getType()).getShape() != groups.getShape())
    return emitOpError("int4 zero points must be ") << groups << ", one per group";
  return success();
}

LogicalResult ConstantOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  if (getValue().getType() != type)
    return emitOpError("value type ")
           << getValue().getType() << " does not match the result type " << type;
  if (!type.hasStaticShape())
    return emitOpError("must have a static shape");
  if (type.getNumElements() > kMaxConstantElements)
    return emitOpError("has ") << type.getNumElements() << " elements; constants hold at most "
                               << kMaxConstantElements << " (put larger data in a weight file)";
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

LogicalResult DimOp::verify() {
  return verifyAxis(*this, getIndex(), getInput().getType().getRank(), "dimension");
}

OpFoldResult DimOp::fold(FoldAdaptor) {
  int64_t index = getIndex();
  auto type = getInput().getType();
  if (index < 0 || index >= type.getRank() || type.isDynamicDim(index))
    return {};
  return IntegerAttr::get(IndexType::get(getContext()), type.getDimSize(index));
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

namespace {

/// Arithmetic has no meaning on i1 (min/max are its logical and/or).
LogicalResult verifyArithmeticOp(Operation *op) {
  if (cast<RankedTensorType>(op->getResult(0).getType()).getElementType().isInteger(1))
    return op->emitOpError("does not take i1 operands (use min/max for and/or)");
  return verifyBroadcastOp(op);
}

} // namespace

LogicalResult AddOp::verify() { return verifyArithmeticOp(*this); }
LogicalResult SubOp::verify() { return verifyArithmeticOp(*this); }
LogicalResult MulOp::verify() { return verifyArithmeticOp(*this); }
LogicalResult DivOp::verify() { return verifyArithmeticOp(*this); }
LogicalResult MaxOp::verify() { return verifyBroadcastOp(*this); }
LogicalResult MinOp::verify() { return verifyBroadcastOp(*this); }

LogicalResult PowOp::verify() {
  if (!isa<FloatType>(getResult().getType().getElementType()))
    return emitOpError("takes f32, f16 or bf16 operands");
  return verifyBroadcastOp(*this);
}

LogicalResult CompareOp::verify() {
  static const char *const kPredicates[] = {"eq", "ne", "lt", "le", "gt", "ge"};
  if (!llvm::is_contained(kPredicates, getPredicate()))
    return emitOpError("predicate '") << getPredicate() << "' is not eq, ne, lt, le, gt or ge";
  auto lhs = getLhs().getType(), rhs = getRhs().getType();
  if (lhs.getElementType() != rhs.getElementType())
    return emitOpError("operands have different element types");
  if (lhs.getElementType().isInteger(1))
    return emitOpError("does not compare i1 operands (use min, max or select)");
  auto shape = broadcastShapes(lhs.getShape(), rhs.getShape());
  if (failed(shape))
    return emitOpError("operand shapes ") << shapeString(lhs.getShape()) << " and "
                                          << shapeString(rhs.getShape()) << " do not broadcast";
  return verifyResultShape(*this, *shape, getResult().getType().getShape());
}

LogicalResult SelectOp::verify() {
  auto t = getOnTrue().getType(), f = getOnFalse().getType();
  auto result = getResult().getType();
  if (t.getElementType() != result.getElementType() ||
      f.getElementType() != result.getElementType())
    return emitOpError("on_true and on_false must have the result's element type");
  auto shape = broadcastShapes(getCondition().getType().getShape(), t.getShape());
  if (succeeded(shape))
    shape = broadcastShapes(*shape, f.getShape());
  if (failed(shape))
    return emitOpError("operand shapes do not broadcast");
  return verifyResultShape(*this, *shape, result.getShape());
}

LogicalResult CastOp::verify() {
  return verifyResultShape(*this, getInput().getType().getShape(),
                           getResult().getType().getShape());
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getResult().getType())
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Contractions and reductions
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  ArrayRef<int64_t> a = getLhs().getType().getShape();
  ArrayRef<int64_t> b = getRhs().getType().getShape();
  if (a.size() < 2 || b.size() < 2)
    return emitOpError("operands need rank >= 2, got ")
           << shapeString(a) << " and " << shapeString(b);
  int64_t m = getTransposeLhs() ? a[a.size() - 1] : a[a.size() - 2];
  int64_t k = getTransposeLhs() ? a[a.size() - 2] : a[a.size() - 1];
  int64_t kb = getTransposeRhs() ? b[b.size() - 1] : b[b.size() - 2];
  int64_t n = getTransposeRhs() ? b[b.size() - 2] : b[b.size() - 1];
  if (!compatibleDim(k, kb))
    return emitOpError("contraction sizes differ: lhs ")
           << shapeString(a) << " and rhs " << shapeString(b)
           << (getTransposeRhs() ? " (rhs transposed)" : "");
  auto batch = broadcastShapes(a.drop_back(2), b.drop_back(2));
  if (failed(batch))
    return emitOpError("batch dimensions ") << shapeString(a.drop_back(2)) << " and "
                                            << shapeString(b.drop_back(2)) << " do not broadcast";
  SmallVector<int64_t> expected = *batch;
  expected.push_back(m);
  expected.push_back(n);
  return verifyResultShape(*this, expected, getResult().getType().getShape());
}

namespace {

LogicalResult verifyReduction(Operation *op, RankedTensorType input, ArrayRef<int64_t> axes,
                              bool keepDims, RankedTensorType result) {
  llvm::SmallSet<int64_t, 8> seen;
  for (int64_t axis : axes) {
    if (failed(verifyAxis(op, axis, input.getRank(), "axis")))
      return failure();
    if (!seen.insert(axis).second)
      return op->emitOpError("axis ") << axis << " is listed twice";
  }
  if (axes.empty())
    return op->emitOpError("needs at least one axis");
  SmallVector<int64_t> expected;
  for (int64_t d = 0; d < input.getRank(); ++d) {
    if (seen.contains(d)) {
      if (keepDims)
        expected.push_back(1);
    } else {
      expected.push_back(input.getDimSize(d));
    }
  }
  return verifyResultShape(op, expected, result.getShape());
}

} // namespace

LogicalResult ReduceSumOp::verify() {
  if (getInput().getType().getElementType().isInteger(1))
    return emitOpError("does not sum i1 values (cast them first)");
  return verifyReduction(*this, getInput().getType(), getAxes(), getKeepDims(),
                         getResult().getType());
}
LogicalResult ReduceMaxOp::verify() {
  return verifyReduction(*this, getInput().getType(), getAxes(), getKeepDims(),
                         getResult().getType());
}
LogicalResult ReduceMeanOp::verify() {
  return verifyReduction(*this, getInput().getType(), getAxes(), getKeepDims(),
                         getResult().getType());
}

LogicalResult SoftmaxOp::verify() {
  return verifyAxis(*this, getAxis(), getInput().getType().getRank(), "axis");
}

namespace {

LogicalResult verifyNorm(Operation *op, RankedTensorType input, RankedTensorType weight,
                         RankedTensorType bias, RankedTensorType result) {
  if (input.getRank() < 1)
    return op->emitOpError("input needs rank >= 1");
  int64_t d = input.getShape().back();
  for (auto [type, name] : {std::pair{weight, "weight"}, std::pair{bias, "bias"}}) {
    if (!type)
      continue;
    if (type.getRank() != 1 || !compatibleDim(type.getDimSize(0), d))
      return op->emitOpError() << name << " must have shape " << shapeString({d})
                               << " (the last dimension of the input), got "
                               << shapeString(type.getShape());
  }
  return verifyResultShape(op, input.getShape(), result.getShape());
}

} // namespace

LogicalResult RmsNormOp::verify() {
  return verifyNorm(*this, getInput().getType(), getWeight().getType(), nullptr,
                    getResult().getType());
}

LogicalResult LayerNormOp::verify() {
  RankedTensorType bias =
      getBias() ? cast<RankedTensorType>(getBias().getType()) : RankedTensorType();
  return verifyNorm(*this, getInput().getType(), getWeight().getType(), bias,
                    getResult().getType());
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

namespace {

/// Checks a mixed static/dynamic size list against the result type.
LogicalResult verifyMixedSizes(Operation *op, StringRef what, ArrayRef<int64_t> sizes,
                               size_t numDynamic, RankedTensorType result) {
  if (sizes.size() != size_t(result.getRank()))
    return op->emitOpError() << what << " has " << sizes.size() << " entries for a result of rank "
                             << result.getRank();
  size_t dynamic = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (ShapedType::isDynamic(sizes[i])) {
      ++dynamic;
      if (!result.isDynamicDim(i))
        return op->emitOpError() << what << " entry " << i
                                 << " is dynamic but the result dimension is static";
    } else {
      if (sizes[i] < 0)
        return op->emitOpError() << what << " entry " << i << " is negative";
      if (result.getDimSize(i) != sizes[i])
        return op->emitOpError() << what << " entry " << i << " is " << sizes[i]
                                 << " but the result type has " << shapeString(result.getShape());
    }
  }
  if (dynamic != numDynamic)
    return op->emitOpError() << what << " names " << dynamic << " dynamic entries but has "
                             << numDynamic << " operands";
  return success();
}

} // namespace

/// Ops that keep the element type and take their result shape as a mixed size list.
template <typename OpTy> LogicalResult verifySizedView(OpTy op) {
  if (op.getInput().getType().getElementType() != op.getResult().getType().getElementType())
    return op.emitOpError("changes the element type (use chitu.cast)");
  return verifyMixedSizes(op, "shape", op.getStaticShape(), op.getShape().size(),
                          op.getResult().getType());
}

LogicalResult ReshapeOp::verify() {
  auto input = getInput().getType();
  auto result = getResult().getType();
  if (failed(verifySizedView(*this)))
    return failure();
  if (input.hasStaticShape() && result.hasStaticShape() &&
      input.getNumElements() != result.getNumElements())
    return emitOpError("cannot reshape ")
           << shapeString(input.getShape()) << " (" << input.getNumElements() << " elements) to "
           << shapeString(result.getShape()) << " (" << result.getNumElements() << " elements)";
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  if (getInput().getType() == getResult().getType() && getType().hasStaticShape())
    return getInput();
  return {};
}

LogicalResult TransposeOp::verify() {
  auto input = getInput().getType();
  ArrayRef<int64_t> perm = getPerm();
  if (int64_t(perm.size()) != input.getRank())
    return emitOpError("permutation has ")
           << perm.size() << " entries for an input of rank " << input.getRank();
  SmallVector<bool> seen(perm.size(), false);
  SmallVector<int64_t> expected;
  for (int64_t p : perm) {
    if (p < 0 || p >= input.getRank() || seen[p])
      return emitOpError("perm is not a permutation of 0..") << input.getRank() - 1;
    seen[p] = true;
    expected.push_back(input.getDimSize(p));
  }
  return verifyResultShape(*this, expected, getResult().getType().getShape());
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  for (auto [i, p] : llvm::enumerate(getPerm()))
    if (int64_t(i) != p)
      return {};
  if (getInput().getType() == getResult().getType())
    return getInput();
  return {};
}

LogicalResult SliceOp::verify() {
  auto input = getInput().getType();
  auto result = getResult().getType();
  int64_t rank = input.getRank();
  if (input.getElementType() != result.getElementType())
    return emitOpError("changes the element type (use chitu.cast)");
  if (result.getRank() != rank)
    return emitOpError("result rank differs from the input rank");
  ArrayRef<int64_t> offsets = getStaticOffsets(), sizes = getStaticSizes(), strides = getStrides();
  if (int64_t(offsets.size()) != rank || int64_t(strides.size()) != rank)
    return emitOpError("needs one offset, size and stride per dimension");
  size_t dynOffsets = llvm::count_if(offsets, ShapedType::isDynamic);
  if (dynOffsets != getOffsets().size())
    return emitOpError("offsets name ")
           << dynOffsets << " dynamic entries but have " << getOffsets().size() << " operands";
  if (failed(verifyMixedSizes(*this, "sizes", sizes, getSizes().size(), result)))
    return failure();
  for (int64_t d = 0; d < rank; ++d) {
    if (strides[d] < 1)
      return emitOpError("stride ") << strides[d] << " in dimension " << d << " must be >= 1";
    if (!ShapedType::isDynamic(offsets[d]) && offsets[d] < 0)
      return emitOpError("offset ") << offsets[d] << " in dimension " << d << " is negative";
    if (ShapedType::isDynamic(offsets[d]) || ShapedType::isDynamic(sizes[d]) ||
        input.isDynamicDim(d))
      continue;
    int64_t last = sizes[d] == 0 ? offsets[d] : offsets[d] + (sizes[d] - 1) * strides[d] + 1;
    if (last > input.getDimSize(d))
      return emitOpError("window [offset ")
             << offsets[d] << ", size " << sizes[d] << ", stride " << strides[d]
             << "] exceeds dimension " << d << " of size " << input.getDimSize(d);
  }
  return success();
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  auto first = cast<RankedTensorType>(getInputs().front().getType());
  int64_t rank = first.getRank();
  int64_t axis = getAxis();
  if (failed(verifyAxis(*this, axis, rank, "axis")))
    return failure();
  SmallVector<int64_t> expected(first.getShape());
  expected[axis] = 0;
  for (Value v : getInputs()) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getRank() != rank)
      return emitOpError("inputs have different ranks");
    for (int64_t d = 0; d < rank; ++d) {
      if (d == axis) {
        if (ShapedType::isDynamic(t.getDimSize(d)) || ShapedType::isDynamic(expected[d]))
          expected[d] = ShapedType::kDynamic;
        else
          expected[d] += t.getDimSize(d);
      } else if (!compatibleDim(t.getDimSize(d), expected[d])) {
        return emitOpError("inputs differ in dimension ") << d << " (not the axis)";
      } else if (ShapedType::isDynamic(expected[d])) {
        expected[d] = t.getDimSize(d);
      }
    }
  }
  return verifyResultShape(*this, expected, getResult().getType().getShape());
}

LogicalResult GatherOp::verify() {
  auto table = getTable().getType();
  auto indices = getIndices().getType();
  int64_t axis = getAxis();
  if (failed(verifyAxis(*this, axis, table.getRank(), "axis")))
    return failure();
  if (table.getElementType() != getResult().getType().getElementType())
    return emitOpError("result element type differs from the table's");
  SmallVector<int64_t> expected(table.getShape().take_front(axis));
  llvm::append_range(expected, indices.getShape());
  llvm::append_range(expected, table.getShape().drop_front(axis + 1));
  return verifyResultShape(*this, expected, getResult().getType().getShape());
}

LogicalResult GatherElementsOp::verify() {
  auto input = getInput().getType(), indices = getIndices().getType();
  auto result = getResult().getType();
  if (input.getElementType() != result.getElementType())
    return emitOpError("result element type differs from the input's");
  if (input.getRank() != indices.getRank())
    return emitOpError("indices must have the input's rank");
  if (failed(verifyAxis(*this, getAxis(), input.getRank(), "axis")))
    return failure();
  for (int64_t d = 0; d < input.getRank(); ++d)
    if (d != int64_t(getAxis()) && !input.isDynamicDim(d) && !indices.isDynamicDim(d) &&
        indices.getDimSize(d) > input.getDimSize(d))
      return emitOpError("indices exceed the input in dimension ") << d;
  return verifyResultShape(*this, indices.getShape(), result.getShape());
}

LogicalResult BroadcastToOp::verify() {
  auto input = getInput().getType();
  auto result = getResult().getType();
  if (failed(verifySizedView(*this)))
    return failure();
  if (input.getRank() > result.getRank())
    return emitOpError("the input has a higher rank than the target shape");
  int64_t offset = result.getRank() - input.getRank();
  for (int64_t d = 0; d < input.getRank(); ++d) {
    int64_t in = input.getDimSize(d), out = result.getDimSize(d + offset);
    if (in != 1 && !compatibleDim(in, out))
      return emitOpError("input dimension ")
             << d << " of size " << in << " neither is 1 nor matches the target "
             << shapeString(result.getShape());
  }
  return success();
}

LogicalResult IotaOp::verify() {
  auto result = getResult().getType();
  if (result.getRank() != 1)
    return emitOpError("result must be one-dimensional");
  if (result.getElementType().isInteger(1))
    return emitOpError("result must not be i1");
  if (result.isDynamicDim(0) != bool(getSize()))
    return emitOpError(getSize() ? "has a size operand but a static result"
                                 : "needs a size operand for a dynamic result");
  return success();
}

LogicalResult FromSizesOp::verify() {
  auto result = getResult().getType();
  int64_t count = int64_t(getStaticSizes().size());
  if (!result.hasStaticShape() || result.getRank() > 1 || result.getNumElements() != count ||
      (result.getRank() == 0 && count != 1))
    return emitOpError("result must be a static vector of ")
           << count << " elements (or a scalar for one size)";
  if (int64_t(llvm::count_if(getStaticSizes(), ShapedType::isDynamic)) !=
      int64_t(getSizes().size()))
    return emitOpError("names a different number of dynamic sizes than it has operands");
  return success();
}

LogicalResult CumsumOp::verify() {
  if (getInput().getType().getElementType().isInteger(1))
    return emitOpError("does not take i1 operands");
  return verifyAxis(*this, getAxis(), getInput().getType().getRank(), "axis");
}

//===----------------------------------------------------------------------===//
// LLM ops
//===----------------------------------------------------------------------===//

namespace {

LogicalResult expectRank(Operation *op, StringRef what, RankedTensorType t, int64_t rank) {
  if (t.getRank() != rank)
    return op->emitOpError() << what << " must have rank " << rank << ", got "
                             << shapeString(t.getShape());
  return success();
}

LogicalResult expectDim(Operation *op, StringRef what, int64_t got, int64_t want) {
  if (!compatibleDim(got, want))
    return op->emitOpError() << what << " is " << got << ", expected " << want;
  return success();
}

} // namespace

LogicalResult RopeOp::verify() {
  auto x = getInput().getType();
  if (failed(expectRank(*this, "input", x, 3)) ||
      failed(expectRank(*this, "positions", getPositions().getType(), 1)) ||
      failed(expectRank(*this, "inv_freq", getInvFreq().getType(), 1)))
    return failure();
  int64_t d = x.getDimSize(2);
  if (!ShapedType::isDynamic(d) && d % 2 != 0)
    return emitOpError("head dimension ") << d << " must be even";
  if (failed(expectDim(*this, "the number of positions", getPositions().getType().getDimSize(0),
                       x.getDimSize(0))))
    return failure();
  if (!ShapedType::isDynamic(d) &&
      failed(expectDim(*this, "the size of inv_freq", getInvFreq().getType().getDimSize(0), d / 2)))
    return failure();
  if (getResult().getType().getElementType() != x.getElementType())
    return emitOpError("result element type differs from the input's");
  return verifyResultShape(*this, x.getShape(), getResult().getType().getShape());
}

LogicalResult KvWriteOp::verify() {
  auto cache = getCache().getType();
  auto values = getValues().getType();
  if (failed(expectRank(*this, "cache", cache, 4)) ||
      failed(expectRank(*this, "values", values, 3)) ||
      failed(expectRank(*this, "slots", getSlots().getType(), 1)))
    return failure();
  if (values.getElementType() != cache.getElementType())
    return emitOpError("values and cache differ in element type");
  if (failed(
          expectDim(*this, "the number of KV heads", values.getDimSize(1), cache.getDimSize(2))) ||
      failed(expectDim(*this, "the head dimension", values.getDimSize(2), cache.getDimSize(3))) ||
      failed(expectDim(*this, "the number of slots", getSlots().getType().getDimSize(0),
                       values.getDimSize(0))))
    return failure();
  if (getResult().getType() != cache)
    return emitOpError("result type must be the cache's type");
  return success();
}

LogicalResult PagedAttentionOp::verify() {
  auto q = getQuery().getType();
  auto kc = getKeyCache().getType();
  if (failed(expectRank(*this, "query", q, 3)) || failed(expectRank(*this, "key cache", kc, 4)) ||
      failed(expectRank(*this, "block tables", getBlockTables().getType(), 2)) ||
      failed(expectRank(*this, "sequence ids", getSequenceIds().getType(), 1)) ||
      failed(expectRank(*this, "positions", getPositions().getType(), 1)))
    return failure();
  if (getValueCache().getType() != kc)
    return emitOpError("key and value caches must have the same type");
  if (kc.getElementType() != q.getElementType())
    return emitOpError("query and caches differ in element type");
  if (failed(expectDim(*this, "the query head dimension", q.getDimSize(2), kc.getDimSize(3))) ||
      failed(expectDim(*this, "the number of sequence ids",
                       getSequenceIds().getType().getDimSize(0), q.getDimSize(0))) ||
      failed(expectDim(*this, "the number of positions", getPositions().getType().getDimSize(0),
                       q.getDimSize(0))))
    return failure();
  int64_t heads = q.getDimSize(1), kvHeads = kc.getDimSize(2);
  if (!ShapedType::isDynamic(heads) && !ShapedType::isDynamic(kvHeads) &&
      (kvHeads == 0 || heads % kvHeads != 0))
    return emitOpError("query heads (")
           << heads << ") must be a multiple of the KV heads (" << kvHeads << ")";
  if (int64_t(getWindow()) < 0)
    return emitOpError("window must not be negative");
  return verifyResultShape(*this, q.getShape(), getResult().getType().getShape());
}

LogicalResult AttentionOp::verify() {
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType();
  if (q.getRank() < 2)
    return emitOpError("query must have rank 2 or more, got ") << shapeString(q.getShape());
  if (failed(expectRank(*this, "key", k, q.getRank())) ||
      failed(expectRank(*this, "value", v, q.getRank())))
    return failure();
  Type element = q.getElementType();
  if (k.getElementType() != element || v.getElementType() != element ||
      getResult().getType().getElementType() != element)
    return emitOpError("query, key, value and result must have one element type");
  int64_t rank = q.getRank();
  for (int64_t d = 0; d < rank - 2; ++d)
    if (failed(expectDim(*this, "key dimension " + std::to_string(d), k.getDimSize(d),
                         q.getDimSize(d))) ||
        failed(expectDim(*this, "value dimension " + std::to_string(d), v.getDimSize(d),
                         q.getDimSize(d))))
      return failure();
  if (failed(expectDim(*this, "the key head dimension", k.getDimSize(rank - 1),
                       q.getDimSize(rank - 1))) ||
      failed(
          expectDim(*this, "the number of values", v.getDimSize(rank - 2), k.getDimSize(rank - 2))))
    return failure();
  SmallVector<int64_t> scores(q.getShape());
  scores.back() = k.getDimSize(rank - 2);
  if (Value mask = getMask()) {
    auto m = cast<RankedTensorType>(mask.getType());
    if (m.getElementType() != element)
      return emitOpError("mask must have the query's element type");
    auto joined = broadcastShapes(m.getShape(), scores);
    if (m.getRank() > rank || failed(joined) ||
        !llvm::all_of(llvm::zip(*joined, scores), [](auto dims) {
          return compatibleDim(std::get<0>(dims), std::get<1>(dims));
        }))
      return emitOpError("mask of shape ")
             << shapeString(m.getShape()) << " does not broadcast to the scores' shape "
             << shapeString(scores);
  }
  SmallVector<int64_t> expected(q.getShape());
  expected.back() = v.getDimSize(rank - 1);
  return verifyResultShape(*this, expected, getResult().getType().getShape());
}

LogicalResult SamplingProbsOp::verify() {
  auto logits = getLogits().getType();
  if (failed(expectRank(*this, "logits", logits, 2)) ||
      failed(expectRank(*this, "history", getHistory().getType(), 2)))
    return failure();
  int64_t rows = logits.getDimSize(0);
  for (auto [value, name] :
       {std::pair{getTemperature(), "temperature"}, std::pair{getTopK(), "top_k"},
        std::pair{getTopP(), "top_p"}, std::pair{getMinP(), "min_p"},
        std::pair{getRepetitionPenalty(), "repetition_penalty"}}) {
    auto t = cast<RankedTensorType>(value.getType());
    if (failed(expectRank(*this, name, t, 1)) ||
        failed(expectDim(*this, std::string("the length of ") + name, t.getDimSize(0), rows)))
      return failure();
  }
  if (failed(expectDim(*this, "the rows of history", getHistory().getType().getDimSize(0), rows)))
    return failure();
  return verifyResultShape(*this, logits.getShape(), getResult().getType().getShape());
}

LogicalResult MultinomialOp::verify() {
  auto probs = getProbs().getType();
  if (failed(expectRank(*this, "probs", probs, 2)) ||
      failed(expectRank(*this, "seeds", getSeeds().getType(), 1)) ||
      failed(expectDim(*this, "the number of seeds", getSeeds().getType().getDimSize(0),
                       probs.getDimSize(0))))
    return failure();
  return verifyResultShape(*this, {probs.getDimSize(0)}, getResult().getType().getShape());
}

//===----------------------------------------------------------------------===//
// Kernel regions
//===----------------------------------------------------------------------===//

std::optional<unsigned> KernelOp::getTiedInput(unsigned index) {
  Value v = cast<YieldOp>(getBodyBlock().getTerminator()).getValues()[index];
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  std::optional<unsigned> operand = tiedOperand(def);
  if (!operand)
    return std::nullopt;
  auto arg = dyn_cast<BlockArgument>(def->getOperand(*operand));
  if (!arg || arg.getOwner() != &getBodyBlock())
    return std::nullopt;
  return arg.getArgNumber();
}

LogicalResult KernelOp::verify() {
  StringRef name = getName();
  if (name.empty())
    return emitOpError("needs a name");
  // The name becomes the CUDA function's name.
  if (!(llvm::isAlpha(name.front()) || name.front() == '_') ||
      !llvm::all_of(name, [](char c) { return llvm::isAlnum(c) || c == '_'; }))
    return emitOpError("name '") << name << "' must be a C identifier (letters, digits, '_')";
  Block &body = getBodyBlock();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError("region has ")
           << body.getNumArguments() << " arguments for " << getInputs().size() << " inputs";
  for (auto [arg, input] : llvm::zip(body.getArguments(), getInputs()))
    if (arg.getType() != input.getType())
      return emitOpError("region argument type ")
             << arg.getType() << " differs from its input's " << input.getType();
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError("region must end with chitu.yield");
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError("yields ") << yield.getValues().size()
                                  << " values whose types differ from the results";
  for (Operation &op : body.without_terminator())
    if (!isComputeOp(&op))
      return op.emitOpError("cannot appear inside a chitu.kernel (only compute ops do)");
  return success();
}

#define GET_OP_CLASSES
#include "chitu/Dialect/ChituOps.cpp.inc"
