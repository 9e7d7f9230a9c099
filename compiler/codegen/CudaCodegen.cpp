//===- CudaCodegen.cpp - CUDA C++ for kernel regions ----------------------===//

#include "codegen/CudaCodegen.h"
#include "chitu/Analysis/KernelShape.h"
#include "support/Hash.h"
#include "tiling.cuh" // kernels/: the product routines' tile sizes

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>
#include <map>
#include <set>
#include <sstream>

using namespace mlir;
using namespace mlir::chitu;

namespace {

constexpr unsigned kBlockThreads = 256;
// A whole vocabulary row is one block's work in the sampling kernels: the widest block.
constexpr unsigned kRowBlockThreads = 1024;
// Warps per (token, head) in paged attention.
constexpr int kAttentionWarps = 16;
// Attention blocks loop over their (token, head) pairs or prefill tiles beyond this many:
// enough for 8 per SM, few enough that blocks without a prefill tile finish quickly.
constexpr int64_t kAttentionMaxBlocks = 1024;
// The matrix-vector routine of kernels/matmul.cuh: rows it takes, columns per block.
using ::chitu::kGemvCols;
using ::chitu::kGemvMaxRows;
// Blocks the matrix-vector routine launches (each loops over column blocks): two resident
// per SM of a 132-SM Hopper GPU (registers allow two), so A is staged once per block.
constexpr int64_t kGemvGridBlocks = 264;
// Column blocks (of kGemvCols) per iteration of the matrix-vector routine, for a kernel whose
// groups of products have `columns` (N) each and share the block loop. Iterations are dealt
// to the kGemvGridBlocks blocks in rounds; larger iterations share each load of A among more
// columns and drain the block's pipeline (reduction, epilogue) once per iteration.
//  - Tensor cores (2..16 rows, A read through the prologue unless resident): an iteration
//    costs its column blocks' weights plus a fixed part about as long as one column block's
//    (measured at one column block per iteration, 8B batch 16 gate/up: 28 us per column
//    block against 7 us of weights), so rounds * (CB + 1); CB * products <= 8 (loads in
//    flight).
//  - CUDA cores (1 row, or 1..16 rows without tensor cores; A resident or staged once per chunk):
//  the fixed part is small, so
//    rounds * CB; CB * products <= 2 (measured, 8B batch 1: q/k/v 0.96 -> 1.42 ms and gate/up
//    2.17 -> 2.35 ms with 4 column blocks per iteration, down 1.53 -> 1.39 ms and o_proj
//    0.64 -> 0.60 ms with 2).
// Ties go to the larger CB.
static int64_t gemvColumnBlocksPerIteration(ArrayRef<int64_t> columns, size_t products,
                                            bool tensorCores) {
  const int64_t maxLoads = tensorCores ? 8 : 2, fixedCost = tensorCores ? 1 : 0;
  int64_t chosen = 1, bestCost = std::numeric_limits<int64_t>::max();
  for (int64_t cb = 1; cb * int64_t(products) <= std::max<int64_t>(maxLoads, products); cb *= 2) {
    int64_t iterations = 0;
    for (int64_t n : columns)
      iterations += (n + cb * kGemvCols - 1) / (cb * kGemvCols);
    int64_t rounds = (iterations + kGemvGridBlocks - 1) / kGemvGridBlocks;
    int64_t cost = rounds * (cb + fixedCost);
    if (cost <= bestCost)
      chosen = cb, bestCost = cost;
  }
  return chosen;
}

// Most dynamic shared memory of a product that may run on tensor cores: 16 rows of A resident
// for K up to ~3000, and still two blocks (plus their static arrays) per SM's 228 KiB.
constexpr int64_t kMmaSmemBytes = 96 * 1024;
constexpr int64_t kMaxGridX = int64_t(1) << 20; // kernels loop when there is more work
constexpr int64_t kMaxGridZ = 65535;

/// `text` with every identifier that is a key of `names` replaced by its value.
std::string renameSymbols(const std::string &text,
                          const std::map<std::string, std::string> &names) {
  std::string out;
  out.reserve(text.size());
  auto isIdent = [](char c) { return std::isalnum((unsigned char)c) || c == '_'; };
  for (size_t i = 0; i < text.size();) {
    if (!isIdent(text[i])) {
      out += text[i++];
      continue;
    }
    size_t j = i;
    while (j < text.size() && isIdent(text[j]))
      ++j;
    std::string word = text.substr(i, j - i);
    auto it = names.find(word);
    out += it == names.end() ? word : it->second;
    i = j;
  }
  return out;
}

/// A float as a C literal that reads back as the same float.
std::string floatLiteral(float x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9ef", double(x));
  return text;
}

std::string storageType(Type t) {
  if (t.isF32())
    return "float";
  if (t.isF16())
    return "chitu::f16";
  if (t.isBF16())
    return "chitu::bf16";
  if (t.isInteger(32))
    return "int";
  if (t.isInteger(1))
    return "unsigned char"; // 0 or 1
  if (t.isInteger(8))
    return "signed char";
  if (isa<Float8E4M3FNType>(t))
    return "chitu::fp8e4m3";
  return "long long";
}

std::string computeType(Type t) {
  if (isa<FloatType>(t))
    return "float";
  return t.isInteger(32) || t.isInteger(1) || t.isInteger(8) ? "int" : "long long";
}

Type elementType(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

// The value a chain of reshapes starts from (reshapes keep the row-major order).
Value throughReshapes(Value v) {
  while (auto reshape = v.getDefiningOp<ReshapeOp>())
    v = reshape.getInput();
  return v;
}

class KernelEmitter {
public:
  KernelEmitter(KernelOp kernel, const ShapeAnalysis &shapes) : kernel_(kernel), shapes_(shapes) {}

  FailureOr<KernelSource> run();

private:
  // ---- text ----------------------------------------------------------------------------
  void line(const std::string &s) { body_ += std::string(indent_ * 2, ' ') + s + "\n"; }
  std::string fresh(const std::string &prefix) { return prefix + std::to_string(counter_++); }
  /// A size as C code; records the symbols it uses (they become kernel parameters).
  std::string size(const SymExpr &e) {
    e.collectSymbols(usedSymbols_);
    return e.toC([](int64_t id) { return "s" + std::to_string(id); });
  }
  /// Declares a size once as a named constant.
  std::string sizeVar(const SymExpr &e, const std::string &prefix) {
    if (e.isConstant())
      return std::to_string(e.getConstant()) + "LL";
    if (e.asSymbol())
      return size(e);
    std::string v = fresh(prefix);
    line("const long long " + v + " = " + size(e) + ";");
    return v;
  }
  std::vector<std::string> dimVars(Value v) {
    std::vector<std::string> out;
    for (const SymExpr &d : shapes_.dims(v))
      out.push_back(sizeVar(d, "d"));
    return out;
  }
  /// Splits a linear index into coordinates of `dims` (row-major).
  std::vector<std::string> delinearize(const std::string &linear,
                                       const std::vector<std::string> &dims) {
    std::vector<std::string> coords(dims.size());
    if (dims.empty())
      return coords;
    std::string rem = fresh("r");
    line("long long " + rem + " = " + linear + ";");
    for (size_t k = dims.size(); k-- > 1;) {
      coords[k] = fresh("c");
      line("const long long " + coords[k] + " = " + rem + " % " + dims[k] + "; " + rem +
           " /= " + dims[k] + ";");
    }
    coords[0] = fresh("c");
    line("const long long " + coords[0] + " = " + rem + ";");
    return coords;
  }
  std::string linearize(const std::vector<std::string> &coords,
                        const std::vector<std::string> &dims) {
    if (coords.empty())
      return "0LL";
    std::string s = coords[0];
    for (size_t k = 1; k < coords.size(); ++k)
      s = "(" + s + ") * " + dims[k] + " + " + coords[k];
    return s;
  }

  // ---- elemental values ----------------------------------------------------------------
  /// C variable holding `v` (in its compute type) at coordinates `idx`.
  FailureOr<std::string> value(Value v, const std::vector<std::string> &idx);
  FailureOr<std::string> elementalOp(Operation *op, const std::vector<std::string> &idx);
  std::string cacheKey(Value v, const std::vector<std::string> &idx) {
    std::ostringstream k;
    k << v.getAsOpaquePointer();
    for (const auto &i : idx)
      k << "," << i;
    return k.str();
  }
  void pushScope() { cache_.emplace_back(); }
  void popScope() { cache_.pop_back(); }
  /// Inside a block the caller opened: `var = v[coords];`, with loads kept local to it.
  LogicalResult assignInBlock(const std::string &var, Value v,
                              const std::vector<std::string> &coords) {
    ++indent_;
    pushScope();
    auto loaded = value(v, coords);
    if (succeeded(loaded))
      line(var + " = " + *loaded + ";");
    popScope();
    --indent_;
    return success(succeeded(loaded));
  }

  /// Stores every kernel result at `coords` (each result has the shape `coords` index),
  /// at linear position `linear` of its output.
  LogicalResult storeResults(const std::vector<std::string> &coords, const std::string &linear);
  /// Makes `var` the value of `v` at `coords` (an anchor's result computed by its emitter).
  void define(Value v, const std::vector<std::string> &coords, const std::string &var) {
    cache_.back()[cacheKey(v, coords)] = var;
  }
  std::string roundTo(Type t, const std::string &e) {
    return t.isBF16()  ? "chitu::round_bf16(" + e + ")"
           : t.isF16() ? "chitu::round_f16(" + e + ")"
                       : e;
  }
  /// Emits `[&](long long a, long long b) -> float { ...; return value; }` computing `v` at
  /// (a, b) (a rank-2 value) into `name`.
  LogicalResult emitValueLambda(const std::string &name, Value v);

  // ---- kernel shapes -------------------------------------------------------------------
  LogicalResult emitElementalKernel();
  LogicalResult emitFusedMatmul(const KernelShape &shape);
  LogicalResult emitReduction(Operation *op, Value input, ArrayRef<int64_t> axes, bool keepDims);
  LogicalResult emitSoftmax(SoftmaxOp op);
  LogicalResult emitNorm(Operation *op);
  /// Emits the sum of squares of one row of `input` (by one warp) and returns the rms_norm
  /// scale expression.
  FailureOr<std::string> emitRmsScale(Value input, const std::vector<std::string> &rowCoords,
                                      const std::string &len, const std::string &eps);
  LogicalResult emitMatmul(MatmulOp op);
  LogicalResult emitKvWriteStore(KvWriteOp op, unsigned output, const std::vector<std::string> &idx,
                                 const std::vector<std::string> &dims);
  LogicalResult emitPagedAttention(PagedAttentionOp op);
  LogicalResult emitAttention(AttentionOp op);
  LogicalResult emitSamplingProbs(SamplingProbsOp op);
  LogicalResult emitMultinomial(MultinomialOp op);
  /// A kernel input as a pointer, for templates that read memory directly.
  FailureOr<std::string> pointerOf(Operation *op, Value v) {
    auto it = inputPtr_.find(v);
    if (it == inputPtr_.end())
      return op->emitOpError("operands must be kernel inputs (no fused prologue yet)");
    return it->second;
  }
  /// Every operand of `op` as a pointer (see pointerOf).
  FailureOr<std::vector<std::string>> operandPointers(Operation *op) {
    std::vector<std::string> ptrs;
    for (Value v : op->getOperands()) {
      auto p = pointerOf(op, v);
      if (failed(p))
        return failure();
      ptrs.push_back(*p);
    }
    return ptrs;
  }
  void emitStore(unsigned output, const std::string &index, const std::string &value) {
    line(outputs_[output] + "[" + index + "] = " + storeExpr(elementType(results_[output]), value) +
         ";");
  }
  static std::string storeExpr(Type t, const std::string &v) {
    return isa<FloatType>(t) ? "chitu::from_float<" + storageType(t) + ">(" + v + ")" : v;
  }
  std::string gridStride(const std::string &n, const std::string &var, bool perBlock) {
    if (perBlock)
      return "for (long long " + var + " = blockIdx.x; " + var + " < " + n + "; " + var +
             " += gridDim.x) {";
    return "for (long long " + var + " = (long long)blockIdx.x * blockDim.x + threadIdx.x; " + var +
           " < " + n + "; " + var + " += (long long)gridDim.x * blockDim.x) {";
  }

  KernelOp kernel_;
  const ShapeAnalysis &shapes_;
  std::string body_;
  int indent_ = 1;
  unsigned counter_ = 0;
  std::set<int64_t> usedSymbols_;
  std::set<std::string> includes_{"common.cuh"};
  llvm::DenseMap<Value, std::string> inputPtr_; // tensor block argument -> pointer name
  llvm::DenseMap<Value, std::vector<std::string>> inputDims_; // and its dim variables
  std::vector<std::string> outputs_;                          // output pointer names
  std::vector<Value> results_;                                // yielded values
  std::vector<std::map<std::string, std::string>> cache_;
  /// A product prologue's rms_norm: the shared array of its rows' scales, and the first
  /// row of the tile.
  std::map<Operation *, std::string> rowScale_;
  std::string rowBase_;
  llvm::DenseMap<Value, unsigned> inputIndex_; // tensor block argument -> kernel input index
  bool library_ = false; // a product kernel with library routes (LaunchRule::library)
  LaunchRule launch_;
};

FailureOr<std::string> KernelEmitter::value(Value v, const std::vector<std::string> &idx) {
  std::string key = cacheKey(v, idx);
  for (auto it = cache_.rbegin(); it != cache_.rend(); ++it) {
    auto found = it->find(key);
    if (found != it->end())
      return found->second;
  }
  std::string var;
  if (auto ptr = inputPtr_.find(v); ptr != inputPtr_.end()) {
    // A kernel input: load and convert to the compute type.
    var = fresh("v");
    std::string index = linearize(idx, inputDims_[v]);
    std::string load = ptr->second + "[" + index + "]";
    if (isa<FloatType>(elementType(v)))
      load = "chitu::to_float(" + load + ")";
    line("const " + computeType(elementType(v)) + " " + var + " = " + load + ";");
  } else {
    Operation *def = v.getDefiningOp();
    if (auto norm = dyn_cast_or_null<RmsNormOp>(def); norm && rowScale_.count(def)) {
      // A norm in a product's prologue: its rows' scales were computed before the tile.
      auto x = value(norm.getInput(), idx);
      auto w = value(norm.getWeight(), {idx[1]});
      if (failed(x) || failed(w))
        return failure();
      Type et = elementType(v);
      var = fresh("v");
      line("const float " + var + " = " +
           roundTo(et, roundTo(et, *x + " * " + rowScale_[def] + "[" + idx[0] + " - " + rowBase_ +
                                       "]") +
                           " * " + *w) +
           ";");
      cache_.back()[key] = var;
      return var;
    }
    if (!def || !isElemental(def))
      return kernel_.emitOpError("code generation cannot compute ")
             << (def ? def->getName().getStringRef() : StringRef("this value"))
             << " element by element inside a larger kernel yet";
    auto r = elementalOp(def, idx);
    if (failed(r))
      return failure();
    var = *r;
  }
  cache_.back()[key] = var;
  return var;
}

FailureOr<std::string> KernelEmitter::elementalOp(Operation *op,
                                                  const std::vector<std::string> &idx) {
  Value result = op->getResult(0);
  Type et = elementType(result);
  bool isF = isa<FloatType>(et);
  bool i32 = et.isInteger(32);
  std::string ct = computeType(et);
  std::string out = fresh("v");
  // Every op's f16/bf16 result is rounded to its type, inside a fused kernel too, so that
  // fusion never changes results (and the CPU executor, op by op, agrees).
  auto declare = [&](const std::string &expr) {
    std::string e = et.isBF16()  ? "chitu::round_bf16(" + expr + ")"
                    : et.isF16() ? "chitu::round_f16(" + expr + ")"
                                 : expr;
    line("const " + ct + " " + out + " = " + e + ";");
    return out;
  };
  // Coordinates of an operand broadcast to the result (static size-1 dims read index 0).
  auto broadcastIdx = [&](Value operand) {
    ArrayRef<SymExpr> od = shapes_.dims(operand);
    ArrayRef<SymExpr> rd = shapes_.dims(result);
    std::vector<std::string> oi;
    size_t offset = rd.size() - od.size();
    for (size_t k = 0; k < od.size(); ++k) {
      bool stretched = od[k].isConstant() && od[k].getConstant() == 1 &&
                       !(rd[k + offset].isConstant() && rd[k + offset].getConstant() == 1);
      oi.push_back(stretched ? "0LL" : idx[k + offset]);
    }
    return oi;
  };
  auto binary = [&](Value lhs, Value rhs, const std::string &fop, const std::string &iop32,
                    const std::string &iop64) -> FailureOr<std::string> {
    auto a = value(lhs, broadcastIdx(lhs));
    if (failed(a))
      return failure();
    auto b = value(rhs, broadcastIdx(rhs));
    if (failed(b))
      return failure();
    const std::string &f = isF ? fop : (i32 ? iop32 : iop64);
    if (f.size() == 1) // an infix operator
      return declare("(" + *a + " " + f + " " + *b + ")");
    return declare(f + "(" + *a + ", " + *b + ")");
  };
  auto unary = [&](Value in, const std::string &fexpr,
                   const std::string &iexpr = "") -> FailureOr<std::string> {
    auto a = value(in, idx);
    if (failed(a))
      return failure();
    const std::string &f = isF ? fexpr : iexpr;
    std::string e = f;
    for (size_t p = e.find("$"); p != std::string::npos; p = e.find("$"))
      e.replace(p, 1, *a);
    return declare(e);
  };

  // `source` read where an index replaces one coordinate: the index (`raw`, in [-dim, dim),
  // negative from the end) is checked, a bad one reported and read as 0.
  auto indexedRead =
      [&](Value source, const std::string &raw, const std::string &dim,
          const std::function<std::vector<std::string>(const std::string &)> &coordsOf)
      -> FailureOr<std::string> {
    std::string j = fresh("j"), ok = fresh("ok");
    launch_.usesStatus = true;
    line("const long long " + j + "raw = (long long)" + raw + ";");
    line("const bool " + ok + " = " + j + "raw >= -" + dim + " && " + j + "raw < " + dim + ";");
    line("if (!" + ok + ") chitu::report_error(status, chitu::kErrorIndexOutOfRange);");
    line("const long long " + j + " = " + j + "raw < 0 ? " + j + "raw + " + dim + " : " + j +
         "raw;");
    line(ct + " " + out + " = 0;");
    line("if (" + ok + ") {");
    if (failed(assignInBlock(out, source, coordsOf(j))))
      return failure();
    line("}");
    return out;
  };

  return llvm::TypeSwitch<Operation *, FailureOr<std::string>>(op)
      .Case([&](AddOp o) {
        // Float add/sub/mul round on their own (__f*_rn): never contracted into an FMA with
        // a neighbouring op, so fusing ops into one kernel changes no bits.
        return binary(o.getLhs(), o.getRhs(), "__fadd_rn", "chitu::add_i32", "chitu::add_i64");
      })
      .Case([&](SubOp o) {
        return binary(o.getLhs(), o.getRhs(), "__fsub_rn", "chitu::sub_i32", "chitu::sub_i64");
      })
      .Case([&](MulOp o) {
        return binary(o.getLhs(), o.getRhs(), "__fmul_rn", "chitu::mul_i32", "chitu::mul_i64");
      })
      .Case([&](DivOp o) {
        return binary(o.getLhs(), o.getRhs(), "/", "chitu::div_i32", "chitu::div_i64");
      })
      .Case([&](MaxOp o) {
        return binary(o.getLhs(), o.getRhs(), "chitu::max_f32", "chitu::max_int", "chitu::max_int");
      })
      .Case([&](MinOp o) {
        return binary(o.getLhs(), o.getRhs(), "chitu::min_f32", "chitu::min_int", "chitu::min_int");
      })
      .Case([&](NegOp o) {
        return unary(o.getInput(), "(-$)", i32 ? "chitu::neg_i32($)" : "chitu::neg_i64($)");
      })
      .Case([&](AbsOp o) {
        return unary(o.getInput(), "fabsf($)",
                     i32 ? "($ < 0 ? chitu::neg_i32($) : $)" : "($ < 0 ? chitu::neg_i64($) : $)");
      })
      .Case([&](ErfOp o) { return unary(o.getInput(), "erff($)"); })
      .Case([&](PowOp o) { return binary(o.getLhs(), o.getRhs(), "powf", "", ""); })
      .Case([&](CompareOp o) -> FailureOr<std::string> {
        auto a = value(o.getLhs(), broadcastIdx(o.getLhs()));
        if (failed(a))
          return failure();
        auto b = value(o.getRhs(), broadcastIdx(o.getRhs()));
        if (failed(b))
          return failure();
        std::string cmp = llvm::StringSwitch<std::string>(o.getPredicate())
                              .Case("eq", "==")
                              .Case("ne", "!=")
                              .Case("lt", "<")
                              .Case("le", "<=")
                              .Case("gt", ">")
                              .Default(">=");
        return declare("((" + *a + " " + cmp + " " + *b + ") ? 1 : 0)");
      })
      .Case([&](SelectOp o) -> FailureOr<std::string> {
        auto c = value(o.getCondition(), broadcastIdx(o.getCondition()));
        if (failed(c))
          return failure();
        auto a = value(o.getOnTrue(), broadcastIdx(o.getOnTrue()));
        if (failed(a))
          return failure();
        auto b = value(o.getOnFalse(), broadcastIdx(o.getOnFalse()));
        if (failed(b))
          return failure();
        return declare("(" + *c + " ? " + *a + " : " + *b + ")");
      })
      .Case([&](BroadcastToOp o) { return value(o.getInput(), broadcastIdx(o.getInput())); })
      .Case([&](FromSizesOp o) -> FailureOr<std::string> {
        std::vector<std::string> sizes;
        unsigned next = 0;
        for (int64_t s : o.getStaticSizes())
          sizes.push_back(ShapedType::isDynamic(s) ? size(shapes_.index(o.getSizes()[next++]))
                                                   : std::to_string(s) + "LL");
        std::string e = sizes.back();
        for (size_t k = sizes.size() - 1; k-- > 0;)
          e = "(" + idx[0] + " == " + std::to_string(k) + "LL ? " + sizes[k] + " : " + e + ")";
        return declare("(" + ct + ")" + e);
      })
      .Case([&](IotaOp o) -> FailureOr<std::string> {
        double start = o.getStart().convertToDouble(), step = o.getStep().convertToDouble();
        auto literal = [](double v) {
          std::ostringstream os;
          os.precision(17);
          os << v;
          std::string t = os.str();
          if (t.find_first_of(".einn") == std::string::npos)
            t += ".0";
          return t;
        };
        if (isF)
          return declare("(float)(" + literal(start) + " + (double)" + idx[0] + " * " +
                         literal(step) + ")");
        return declare("(" + ct + ")(" + std::to_string(int64_t(start)) + "LL + " + idx[0] + " * " +
                       std::to_string(int64_t(step)) + "LL)");
      })
      .Case([&](GatherElementsOp o) -> FailureOr<std::string> {
        int64_t axis = o.getAxis();
        auto raw = value(o.getIndices(), idx);
        if (failed(raw))
          return failure();
        return indexedRead(o.getInput(), *raw, sizeVar(shapes_.dims(o.getInput())[axis], "d"),
                           [&](const std::string &j) {
                             std::vector<std::string> in(idx);
                             in[axis] = j;
                             return in;
                           });
      })
      .Case([&](CumsumOp o) -> FailureOr<std::string> {
        // Element i sums its prefix (or suffix) along the axis in order, as the CPU does.
        int64_t axis = o.getAxis();
        std::string n = sizeVar(shapes_.dims(o.getInput())[axis], "d");
        std::string k = fresh("k"), acc = fresh("acc");
        std::string lo = o.getReverse() ? idx[axis] + (o.getExclusive() ? " + 1" : "") : "0LL";
        std::string hi = o.getReverse() ? n : idx[axis] + (o.getExclusive() ? "" : " + 1");
        line(ct + " " + acc + " = 0;");
        line("for (long long " + k + " = " + lo + "; " + k + " < " + hi + "; ++" + k + ") {");
        ++indent_;
        pushScope();
        std::vector<std::string> in(idx);
        in[axis] = k;
        auto v = value(o.getInput(), in);
        if (failed(v))
          return failure();
        line(acc + " = " +
             (isF   ? "__fadd_rn("
              : i32 ? "chitu::add_i32("
                    : "chitu::add_i64(") +
             acc + ", " + *v + ");");
        popScope();
        --indent_;
        line("}");
        return declare(acc);
      })
      .Case([&](ReluOp o) { return unary(o.getInput(), "chitu::relu_f32($)", "($ > 0 ? $ : 0)"); })
      .Case([&](ExpOp o) { return unary(o.getInput(), "expf($)"); })
      .Case([&](LogOp o) { return unary(o.getInput(), "logf($)"); })
      .Case([&](SqrtOp o) { return unary(o.getInput(), "sqrtf($)"); })
      .Case([&](RsqrtOp o) { return unary(o.getInput(), "chitu::rsqrt_f32($)"); })
      .Case([&](TanhOp o) { return unary(o.getInput(), "tanhf($)"); })
      .Case([&](SigmoidOp o) { return unary(o.getInput(), "chitu::sigmoid_f32($)"); })
      .Case([&](SiluOp o) { return unary(o.getInput(), "chitu::silu_f32($)"); })
      .Case([&](GeluOp o) { return unary(o.getInput(), "chitu::gelu_f32($)"); })
      .Case([&](GeluTanhOp o) { return unary(o.getInput(), "chitu::gelu_tanh_f32($)"); })
      .Case([&](DequantizeOp o) -> FailureOr<std::string> {
        if (std::optional<uint64_t> group = o.getGroupSize()) {
          // int4 groups: byte k / 2 of row n, scale (and zero) of group k / G.
          const std::string g = std::to_string(*group);
          auto q = value(o.getValues(), {idx[0], "(" + idx[1] + ") / 2"});
          auto s = value(o.getScales(), {idx[0], "(" + idx[1] + ") / " + g});
          FailureOr<std::string> z = std::string("8.0f");
          if (o.getZeros())
            z = value(o.getZeros(), {idx[0], "(" + idx[1] + ") / " + g});
          if (failed(q) || failed(s) || failed(z))
            return failure();
          return declare("((float)chitu::int4_nibble(" + *q + ", " + idx[1] + ") - " + *z + ") * " +
                         *s);
        }
        auto q = value(o.getValues(), idx);
        auto s = value(o.getScales(), broadcastIdx(o.getScales()));
        if (failed(q) || failed(s))
          return failure();
        return declare("(float)" + *q + " * " + *s); // (declare rounds to f16/bf16)
      })
      .Case([&](CastOp o) -> FailureOr<std::string> {
        auto a = value(o.getInput(), idx);
        if (failed(a))
          return failure();
        Type from = elementType(o.getInput());
        std::string e;
        // (declare rounds to f16/bf16 results.)
        if (et.isInteger(1)) {
          e = "(" + *a + (isa<FloatType>(from) ? " != 0.0f" : " != 0") + " ? 1 : 0)";
        } else if (isa<FloatType>(from)) {
          if (isF)
            e = *a;
          else
            e = (i32 ? "chitu::f32_to_i32(" : "chitu::f32_to_i64(") + *a + ")";
        } else if (isF) {
          e = "(float)" + *a;
        } else {
          e = i32 ? "(int)(unsigned)(unsigned long long)" + *a : "(long long)" + *a;
        }
        return declare(e);
      })
      .Case([&](ReshapeOp o) -> FailureOr<std::string> {
        std::vector<std::string> rdims, idims;
        for (const SymExpr &d : shapes_.dims(result))
          rdims.push_back(sizeVar(d, "d"));
        for (const SymExpr &d : shapes_.dims(o.getInput()))
          idims.push_back(sizeVar(d, "d"));
        std::string linear = fresh("lin");
        line("const long long " + linear + " = " + linearize(idx, rdims) + ";");
        return value(o.getInput(), delinearize(linear, idims));
      })
      .Case([&](TransposeOp o) -> FailureOr<std::string> {
        std::vector<std::string> in(idx.size());
        for (auto [i, p] : llvm::enumerate(o.getPerm()))
          in[p] = idx[i];
        return value(o.getInput(), in);
      })
      .Case([&](SliceOp o) -> FailureOr<std::string> {
        std::vector<std::string> in;
        unsigned next = 0;
        for (size_t d = 0; d < idx.size(); ++d) {
          int64_t so = o.getStaticOffsets()[d];
          SymExpr offset = ShapedType::isDynamic(so) ? shapes_.index(o.getOffsets()[next++])
                                                     : SymExpr::constant(so);
          int64_t stride = o.getStrides()[d];
          std::string c = idx[d];
          if (stride != 1)
            c = "(" + c + ") * " + std::to_string(stride) + "LL";
          if (!(offset.isConstant() && offset.getConstant() == 0))
            c = "(" + size(offset) + " + " + c + ")";
          in.push_back(c);
        }
        return value(o.getInput(), in);
      })
      .Case([&](ConcatOp o) -> FailureOr<std::string> {
        int64_t axis = o.getAxis();
        // Where each input starts along the axis, computed before the branches.
        std::vector<std::string> starts{"0LL"};
        for (Value input : o.getInputs()) {
          std::string end = fresh("e");
          line("const long long " + end + " = " + starts.back() + " + " +
               sizeVar(shapes_.dims(input)[axis], "d") + ";");
          starts.push_back(end);
        }
        line(ct + " " + out + ";");
        size_t numInputs = o.getInputs().size();
        for (auto [i, input] : llvm::enumerate(o.getInputs())) {
          bool last = i + 1 == numInputs;
          line(std::string(i ? "} else " : "") +
               (last ? "{" : "if (" + idx[axis] + " < " + starts[i + 1] + ") {"));
          std::vector<std::string> in(idx);
          in[axis] = "(" + idx[axis] + " - " + starts[i] + ")";
          if (failed(assignInBlock(out, input, in)))
            return failure();
        }
        line("}");
        return out;
      })
      .Case([&](GatherOp o) -> FailureOr<std::string> {
        int64_t axis = o.getAxis();
        int64_t numIdx = cast<RankedTensorType>(o.getIndices().getType()).getRank();
        std::vector<std::string> indexCoords(idx.begin() + axis, idx.begin() + axis + numIdx);
        auto raw = value(o.getIndices(), indexCoords);
        if (failed(raw))
          return failure();
        return indexedRead(o.getTable(), *raw, sizeVar(shapes_.dims(o.getTable())[axis], "d"),
                           [&](const std::string &j) {
                             std::vector<std::string> tableCoords(idx.begin(), idx.begin() + axis);
                             tableCoords.push_back(j);
                             tableCoords.insert(tableCoords.end(), idx.begin() + axis + numIdx,
                                                idx.end());
                             return tableCoords;
                           });
      })
      .Case([&](RopeOp o) -> FailureOr<std::string> {
        // Element (t, h, i) pairs i with i +- d/2; both halves read the same angle.
        std::string half =
            sizeVar(SymExpr::floorDiv(shapes_.dims(result)[2], SymExpr::constant(2)), "half");
        std::string first = fresh("lo"), ii = fresh("ii");
        line("const bool " + first + " = " + idx[2] + " < " + half + ";");
        line("const long long " + ii + " = " + first + " ? " + idx[2] + " : " + idx[2] + " - " +
             half + ";");
        auto pos = value(o.getPositions(), {idx[0]});
        auto freq = value(o.getInvFreq(), {ii});
        if (failed(pos) || failed(freq))
          return failure();
        auto a = value(o.getInput(), {idx[0], idx[1], ii});
        auto b = value(o.getInput(), {idx[0], idx[1], "(" + ii + " + " + half + ")"});
        if (failed(a) || failed(b))
          return failure();
        std::string angle = fresh("ang"), c = fresh("cos"), sn = fresh("sin");
        line("const float " + angle + " = (float)" + *pos + " * " + *freq + ";");
        // bf16/f16: cos, sin and each product are rounded to the type, as transformers (and
        // vLLM) compute `x * cos + rotate_half(x) * sin` in it.
        std::string round = et.isBF16()  ? "chitu::round_bf16"
                            : et.isF16() ? "chitu::round_f16"
                                         : "";
        auto r = [&](const std::string &e) { return round.empty() ? e : round + "(" + e + ")"; };
        line("const float " + c + " = " + r("cosf(" + angle + ")") + ";");
        line("const float " + sn + " = " + r("sinf(" + angle + ")") + ";");
        return declare(first + " ? " + r(*a + " * " + c) + " - " + r(*b + " * " + sn) + " : " +
                       r(*b + " * " + c) + " + " + r(*a + " * " + sn));
      })
      .Default([&](Operation *other) -> FailureOr<std::string> {
        return other->emitOpError("has no elemental code generation");
      });
}

LogicalResult KernelEmitter::emitElementalKernel() {
  // One grid-stride loop per iteration space: a result's shape, or the rows a kv_write
  // appends. Results with the same space share the loop (and what they compute in common).
  struct Loop {
    ArrayRef<SymExpr> shape;
    std::vector<unsigned> results;
  };
  std::vector<Loop> loops;
  for (unsigned i = 0; i < results_.size(); ++i) {
    auto write = dyn_cast_or_null<KvWriteOp>(results_[i].getDefiningOp());
    ArrayRef<SymExpr> shape = shapes_.dims(write ? write.getValues() : results_[i]);
    auto it = llvm::find_if(loops, [&](const Loop &l) { return l.shape == shape; });
    if (it == loops.end()) {
      loops.push_back({shape, {}});
      it = std::prev(loops.end());
    }
    it->results.push_back(i);
  }
  std::optional<SymExpr> most;
  for (const Loop &loop : loops) {
    SymExpr n = SymExpr::constant(1);
    for (const SymExpr &d : loop.shape)
      n = n * d;
    std::vector<std::string> dims;
    for (const SymExpr &d : loop.shape)
      dims.push_back(sizeVar(d, "d"));
    std::string count = sizeVar(n, "n");
    line(gridStride(count, "i", false));
    ++indent_;
    pushScope();
    std::vector<std::string> idx = delinearize("i", dims);
    for (unsigned o : loop.results) {
      if (auto write = dyn_cast_or_null<KvWriteOp>(results_[o].getDefiningOp())) {
        if (failed(emitKvWriteStore(write, o, idx, dims)))
          return failure();
        continue;
      }
      auto v = value(results_[o], idx);
      if (failed(v))
        return failure();
      emitStore(o, "i", *v);
    }
    popScope();
    --indent_;
    line("}");
    most = most ? SymExpr::max(*most, n) : n;
  }
  launch_.block[0] = kBlockThreads;
  launch_.grid[0] = SymExpr::min(SymExpr::ceilDiv(*most, SymExpr::constant(kBlockThreads)),
                                 SymExpr::constant(kMaxGridX));
  launch_.grid[1] = launch_.grid[2] = SymExpr::constant(1);
  return success();
}

LogicalResult KernelEmitter::storeResults(const std::vector<std::string> &coords,
                                          const std::string &linear) {
  for (unsigned o = 0; o < results_.size(); ++o) {
    auto v = value(results_[o], coords);
    if (failed(v))
      return failure();
    emitStore(o, linear, *v);
  }
  return success();
}

LogicalResult KernelEmitter::emitReduction(Operation *op, Value input, ArrayRef<int64_t> axes,
                                           bool keepDims) {
  includes_.insert("reduce.cuh");
  Type et = elementType(input);
  std::string ct = computeType(et);
  bool isF = isa<FloatType>(et);
  ArrayRef<SymExpr> in = shapes_.dims(input);
  std::vector<size_t> kept, reduced;
  for (size_t d = 0; d < in.size(); ++d)
    (llvm::is_contained(axes, int64_t(d)) ? reduced : kept).push_back(d);
  SymExpr nOut = SymExpr::constant(1), nRed = SymExpr::constant(1);
  std::vector<std::string> keptDims, redDims;
  for (size_t d : kept) {
    nOut = nOut * in[d];
    keptDims.push_back(sizeVar(in[d], "d"));
  }
  for (size_t d : reduced) {
    nRed = nRed * in[d];
    redDims.push_back(sizeVar(in[d], "d"));
  }
  std::string numOut = sizeVar(nOut, "n"), numRed = sizeVar(nRed, "n");
  bool isMax = isa<ReduceMaxOp>(op);
  std::string init = isMax ? (isF                ? "-chitu::inf_f32()"
                              : et.isInteger(1)  ? "0" // false
                              : et.isInteger(32) ? "(int)0x80000000"
                                                 : "(long long)0x8000000000000000ULL")
                           : "0";
  std::string combine = isMax ? "chitu::MaxOp()" : (isF ? "chitu::SumOp()" : "chitu::SumWrapOp()");
  line("__shared__ " + ct + " scratch[32];");
  line(gridStride(numOut, "o", true));
  ++indent_;
  std::vector<std::string> keptCoords = delinearize("o", keptDims);
  line(ct + " acc = " + init + ";");
  line("for (long long r = threadIdx.x; r < " + numRed + "; r += blockDim.x) {");
  ++indent_;
  pushScope();
  std::vector<std::string> redCoords = delinearize("r", redDims);
  std::vector<std::string> coords(in.size());
  for (size_t k = 0; k < kept.size(); ++k)
    coords[kept[k]] = keptCoords[k];
  for (size_t k = 0; k < reduced.size(); ++k)
    coords[reduced[k]] = redCoords[k];
  auto v = value(input, coords);
  if (failed(v))
    return failure();
  line("acc = " + combine + "(acc, " + *v + ");");
  popScope();
  --indent_;
  line("}");
  line("acc = chitu::block_reduce(acc, " + combine + ", scratch);");
  std::string result = isa<ReduceMeanOp>(op) ? "acc / (float)" + numRed : "acc";
  line("if (threadIdx.x == 0) {");
  ++indent_;
  pushScope();
  Value reducedValue = op->getResult(0);
  std::vector<std::string> outDims;
  for (const SymExpr &d : shapes_.dims(reducedValue))
    outDims.push_back(sizeVar(d, "d"));
  std::vector<std::string> outCoords = delinearize("o", outDims);
  std::string var = fresh("v");
  line("const " + ct + " " + var + " = " + roundTo(elementType(reducedValue), result) + ";");
  define(reducedValue, outCoords, var);
  if (failed(storeResults(outCoords, "o")))
    return failure();
  popScope();
  --indent_;
  line("}");
  --indent_;
  line("}");
  (void)keepDims; // keep_dims only changes the output's shape, not its layout
  launch_.block[0] = kBlockThreads;
  launch_.grid[0] = SymExpr::min(nOut, SymExpr::constant(kMaxGridX));
  launch_.grid[1] = launch_.grid[2] = SymExpr::constant(1);
  return success();
}

LogicalResult KernelEmitter::emitSoftmax(SoftmaxOp op) {
  includes_.insert("reduce.cuh");
  Value input = op.getInput();
  ArrayRef<SymExpr> in = shapes_.dims(input);
  int64_t axis = op.getAxis();
  SymExpr rows = SymExpr::constant(1);
  std::vector<std::string> rowDims, dims;
  for (size_t d = 0; d < in.size(); ++d) {
    dims.push_back(sizeVar(in[d], "d"));
    if (int64_t(d) != axis) {
      rows = rows * in[d];
      rowDims.push_back(dims.back());
    }
  }
  std::string numRows = sizeVar(rows, "n");
  std::string len = dims[axis];
  line("__shared__ float scratch[32];");
  line(gridStride(numRows, "row", true));
  ++indent_;
  std::vector<std::string> rowCoords = delinearize("row", rowDims);
  auto coordsAt = [&](const std::string &k) {
    std::vector<std::string> c;
    size_t next = 0;
    for (size_t d = 0; d < in.size(); ++d)
      c.push_back(int64_t(d) == axis ? k : rowCoords[next++]);
    return c;
  };
  auto loop = [&](const std::string &stmt, bool store) -> LogicalResult {
    line("for (long long k = threadIdx.x; k < " + len + "; k += blockDim.x) {");
    ++indent_;
    pushScope();
    auto v = value(input, coordsAt("k"));
    if (failed(v))
      return failure();
    std::string s = stmt;
    for (size_t p = s.find("$"); p != std::string::npos; p = s.find("$"))
      s.replace(p, 1, *v);
    if (store) {
      std::string var = fresh("v");
      line("const float " + var + " = " + roundTo(elementType(op.getResult()), s) + ";");
      define(op.getResult(), coordsAt("k"), var);
      if (failed(storeResults(coordsAt("k"), linearize(coordsAt("k"), dims))))
        return failure();
    } else {
      line(s);
    }
    popScope();
    --indent_;
    line("}");
    return success();
  };
  line("float mx = -chitu::inf_f32();");
  if (failed(loop("mx = chitu::max_f32(mx, $);", false)))
    return failure();
  line("mx = chitu::block_reduce(mx, chitu::MaxOp(), scratch);");
  line("float sum = 0.0f;");
  if (failed(loop("sum += expf($ - mx);", false)))
    return failure();
  line("sum = chitu::block_reduce(sum, chitu::SumOp(), scratch);");
  line("const float inv = 1.0f / sum;");
  if (failed(loop("expf($ - mx) * inv", true)))
    return failure();
  --indent_;
  line("}");
  launch_.block[0] = kBlockThreads;
  launch_.grid[0] = SymExpr::min(rows, SymExpr::constant(kMaxGridX));
  launch_.grid[1] = launch_.grid[2] = SymExpr::constant(1);
  return success();
}

FailureOr<std::string> KernelEmitter::emitRmsScale(Value input,
                                                   const std::vector<std::string> &rowCoords,
                                                   const std::string &len, const std::string &eps) {
  // One warp sums the row's squares in warp_row_sum's fixed order: the rms_norm kernel and a
  // product's fused norm prologue both come here, so their scales have the same bits. A
  // 16-bit kernel input whose rows are 16-byte multiples is read 16 bytes at a time
  // (warp_row_sum_squares, the same order): a product's tile computes the scales of all its
  // rows, as many loads again as its share of A.
  Type inputType = elementType(input);
  const SymExpr &rowLength = shapes_.dims(input).back();
  if (auto ptr = inputPtr_.find(input);
      ptr != inputPtr_.end() && (inputType.isBF16() || inputType.isF16()) &&
      rowLength.isConstant() && rowLength.getConstant() % 8 == 0) {
    std::vector<std::string> rowStart(rowCoords);
    rowStart.push_back("0");
    line("const float ss = chitu::warp_row_sum_squares(" + ptr->second + " + (" +
         linearize(rowStart, inputDims_[input]) + "), " + len + ");");
    return "chitu::rsqrt_f32(ss / (float)" + len + " + " + eps + ")";
  }
  pushScope();
  line("const float ss = chitu::warp_row_sum(" + len + ", [&](long long k) {");
  ++indent_;
  std::vector<std::string> coords(rowCoords);
  coords.push_back("k");
  auto x = value(input, coords);
  if (failed(x))
    return failure();
  line("return " + *x + " * " + *x + ";");
  --indent_;
  line("});");
  popScope();
  return "chitu::rsqrt_f32(ss / (float)" + len + " + " + eps + ")";
}

LogicalResult KernelEmitter::emitNorm(Operation *op) {
  includes_.insert("reduce.cuh");
  bool isRms = isa<RmsNormOp>(op);
  Value input = op->getOperand(0), weight = op->getOperand(1), result = op->getResult(0);
  Value bias = isRms ? Value() : cast<LayerNormOp>(op).getBias();
  float eps = isRms ? cast<RmsNormOp>(op).getEps().convertToFloat()
                    : cast<LayerNormOp>(op).getEps().convertToFloat();
  Type et = elementType(result);
  ArrayRef<SymExpr> in = shapes_.dims(input);
  SymExpr rows = SymExpr::constant(1);
  std::vector<std::string> dims, rowDims;
  for (size_t d = 0; d < in.size(); ++d) {
    dims.push_back(sizeVar(in[d], "d"));
    if (d + 1 < in.size()) {
      rows = rows * in[d];
      rowDims.push_back(dims.back());
    }
  }
  std::string numRows = sizeVar(rows, "n"), len = dims.back();
  std::string epsText = floatLiteral(eps);
  // RMS norm: one warp per row, summing in warp_row_sum's order (a product's fused norm
  // prologue sums the same way and so gets the same bits). Layer norm: one block per row.
  const int rowsPerBlock = isRms ? int(kBlockThreads / 32) : 1;
  std::string step = isRms ? "32" : "blockDim.x";
  std::string first = isRms ? "(threadIdx.x & 31)" : "threadIdx.x";
  if (isRms)
    line("for (long long row = (long long)blockIdx.x * " + std::to_string(rowsPerBlock) +
         " + (threadIdx.x >> 5); row < " + numRows + "; row += (long long)gridDim.x * " +
         std::to_string(rowsPerBlock) + ") {");
  else
    line(gridStride(numRows, "row", true));
  ++indent_;
  std::vector<std::string> rowCoords = delinearize("row", rowDims);
  auto coordsAt = [&](const std::string &k) {
    std::vector<std::string> c(rowCoords);
    c.push_back(k);
    return c;
  };
  auto forEach = [&](const std::function<LogicalResult(const std::string &)> &fn) {
    line("for (long long k = " + first + "; k < " + len + "; k += " + step + ") {");
    ++indent_;
    pushScope();
    auto v = value(input, coordsAt("k"));
    if (failed(v) || failed(fn(*v)))
      return failure();
    popScope();
    --indent_;
    line("}");
    return success();
  };
  auto store = [&](const std::string &x, const std::string &scale) -> LogicalResult {
    auto w = value(weight, {"k"});
    if (failed(w))
      return failure();
    std::string y = "(" + x + ") * " + scale + " * " + *w;
    if (isRms) // the normalised value is rounded before the weight multiply (PyTorch's order)
      y = roundTo(et, "(" + x + ") * " + scale) + " * " + *w;
    if (bias) {
      auto b = value(bias, {"k"});
      if (failed(b))
        return failure();
      y += " + " + *b;
    }
    std::string var = fresh("v");
    line("const float " + var + " = " + roundTo(et, y) + ";");
    define(result, coordsAt("k"), var);
    return storeResults(coordsAt("k"), linearize(coordsAt("k"), dims));
  };
  if (isRms) {
    auto scale = emitRmsScale(input, rowCoords, len, epsText);
    if (failed(scale))
      return failure();
    line("const float scale = " + *scale + ";");
    if (failed(forEach([&](const std::string &x) { return store(x, "scale"); })))
      return failure();
  } else {
    line("__shared__ float scratch[32];");
    line("float sum = 0.0f;");
    if (failed(forEach([&](const std::string &x) {
          line("sum += " + x + ";");
          return success();
        })))
      return failure();
    line("const float mean = chitu::block_reduce(sum, chitu::SumOp(), scratch) / (float)" + len +
         ";");
    line("float var = 0.0f;");
    if (failed(forEach([&](const std::string &x) {
          line("var += (" + x + " - mean) * (" + x + " - mean);");
          return success();
        })))
      return failure();
    line("var = chitu::block_reduce(var, chitu::SumOp(), scratch);");
    line("const float scale = chitu::rsqrt_f32(var / (float)" + len + " + " + epsText + ");");
    if (failed(forEach([&](const std::string &x) { return store(x + " - mean", "scale"); })))
      return failure();
  }
  --indent_;
  line("}");
  launch_.block[0] = kBlockThreads;
  launch_.grid[0] =
      SymExpr::min(isRms ? SymExpr::ceilDiv(rows, SymExpr::constant(rowsPerBlock)) : rows,
                   SymExpr::constant(kMaxGridX));
  launch_.grid[1] = launch_.grid[2] = SymExpr::constant(1);
  return success();
}

LogicalResult KernelEmitter::emitFusedMatmul(const KernelShape &shape) {
  includes_.insert("matmul.cuh");
  ArrayRef<SymExpr> a = shapes_.dims(shape.lhs);
  SymExpr M = a[0], K = a[1];
  std::string m = sizeVar(M, "M"), k = sizeVar(K, "K");
  unsigned numGroups = 0;
  for (unsigned g : shape.tileGroup)
    numGroups = std::max(numGroups, g + 1);
  std::vector<std::vector<unsigned>> groupProducts(numGroups), groupResults(numGroups);
  for (unsigned i = 0; i < shape.matmuls.size(); ++i)
    groupProducts[shape.tileGroup[i]].push_back(i);
  // Each result belongs to the tile group of a product it is computed from.
  for (unsigned o = 0; o < results_.size(); ++o) {
    std::optional<unsigned> group;
    SmallVector<Value> work{results_[o]};
    while (!work.empty() && !group) {
      Value v = work.pop_back_val();
      Operation *def = v.getDefiningOp();
      if (!def)
        continue;
      if (auto mm = dyn_cast<MatmulOp>(def)) {
        group = shape.tileGroup[llvm::find(shape.matmuls, mm) - shape.matmuls.begin()];
        break;
      }
      llvm::append_range(work, def->getOperands());
    }
    if (!group)
      return kernel_.emitOpError("a result is computed from no product");
    groupResults[*group].push_back(o);
  }
  size_t widest = 1;
  for (const auto &g : groupProducts)
    widest = std::max(widest, g.size());

  // Few rows (decode): every product reads its weights as rows ([N, K], transpose_rhs) of one
  // type, so the matrix-vector routine applies; the launch grid then counts its column blocks.
  // What each product's weights are stored as: B itself, or the quantized values a fused
  // dequantize reads (int8 rows, scaled per row after the sum in the matrix-vector routine).
  auto storedWeights = [&](unsigned i) {
    DequantizeOp dq = shape.rhsDequantize[i];
    return dq ? dq.getValues() : MatmulOp(shape.matmuls[i]).getRhs();
  };
  // The C++ type the routines read each product's weights as (int4 groups: chitu::int4x2).
  auto weightType = [&](unsigned i) {
    DequantizeOp dq = shape.rhsDequantize[i];
    return dq && dq.getGroupSize() ? std::string("chitu::int4x2")
                                   : storageType(elementType(storedWeights(i)));
  };
  const bool quantized = llvm::any_of(shape.rhsDequantize, [](DequantizeOp d) { return !!d; });
  const bool int4 =
      llvm::any_of(shape.rhsDequantize, [](DequantizeOp d) { return d && d.getGroupSize(); });
  bool gemv = true;
  Type rhsType = elementType(storedWeights(0));
  const std::string rhsStorage = weightType(0);
  // int4 products share one group size in the matrix-vector routine (it takes one shift);
  // others (rule files may mix them) take the tiles.
  auto groupOf = [&](unsigned i) {
    DequantizeOp dq = shape.rhsDequantize[i];
    return dq ? dq.getGroupSize().value_or(0) : uint64_t(0);
  };
  for (unsigned i = 0; i < shape.matmuls.size(); ++i)
    gemv &= MatmulOp(shape.matmuls[i]).getTransposeRhs() &&
            elementType(storedWeights(i)) == rhsType && weightType(i) == rhsStorage &&
            groupOf(i) == groupOf(0) &&
            (isa<BFloat16Type, Float16Type, Float32Type>(rhsType) ||
             (isa<IntegerType, Float8E4M3FNType>(rhsType) && shape.rhsDequantize[i]));
  // 2..16 rows of 16-bit A and B go to tensor cores (gemv_tile_mma), which keeps A resident in
  // dynamic shared memory sized for 16 rows of K (at most kMmaSmemBytes, two blocks per SM).
  // int8 weights go there too, converted to A's 16-bit type in registers (mmaType: the
  // 16-bit type of both operands on tensor cores).
  Type lhsType = elementType(shape.lhs);
  const Type mmaType = quantized ? lhsType : rhsType;
  bool mmaOk = gemv && (quantized || lhsType == rhsType) && (mmaType.isBF16() || mmaType.isF16());
  // Many rows on tensor cores: 128 x 128 tiles of all products of a group (gemm_tile_mma takes
  // one or two; 16-bit weights only); otherwise 64 x 64 tiles on CUDA cores.
  const bool bigTiles = mmaOk && !quantized && widest <= 2;
  const int64_t tileRows = bigTiles ? ::chitu::kMmaBM : ::chitu::kGemmBM;
  auto tileCols = [&](size_t products) {
    return int64_t(bigTiles ? ::chitu::kMmaBN / int(products) : ::chitu::kGemmBN);
  };
  // Dynamic shared memory of the tile routines and of the matrix-vector ones (M <= 16): the
  // launch takes only what its row count needs, since a larger carve-out takes L1 from the
  // matrix-vector routines.
  int64_t gemmBytes = 0, gemvBytes = 0;
  if (mmaOk) {
    gemmBytes = 4 * std::max(int64_t(::chitu::gemm_smem_floats(int(widest))),
                             bigTiles ? int64_t(::chitu::gemm_mma_smem_floats()) : 0);
    // Only as much as keeps 16 rows resident: a larger carve-out that still needs rounds only
    // takes L1 away from every batch size (measured: 8B decode b1 6.33 -> 6.77 ms at 96 KiB).
    int64_t mmaBytes = 0;
    if (K.isConstant()) {
      int64_t resident = int64_t(::chitu::kMmaRows) * ::chitu::mma_row_stride(K.getConstant()) * 2;
      if (resident <= kMmaSmemBytes)
        mmaBytes = resident;
    }
    gemvBytes = std::max(int64_t(::chitu::gemv_smem_floats()) * 4, mmaBytes);
    launch_.sharedBytes = unsigned(std::max(gemmBytes, gemvBytes));
    line("extern __shared__ __align__(16) float smem[];");
    // What the matrix-vector routines may use (gemv_a_resident): their launch's size.
    line("constexpr int smem_floats = " + std::to_string(gemvBytes / 4) + ";");
  } else {
    line("__shared__ __align__(16) float smem[chitu::gemm_smem_floats(" + std::to_string(widest) +
         ") > chitu::gemv_smem_floats() ? chitu::gemm_smem_floats(" + std::to_string(widest) +
         ") : chitu::gemv_smem_floats()];");
    line("constexpr int smem_floats = chitu::gemv_smem_floats();");
  }
  line(std::string("constexpr bool mma_ok = ") + (mmaOk ? "true" : "false") + ";");
  // With the matrix-vector routines the kernel is compiled twice (see LaunchRule::tilesWhen):
  // each function holds only the routines of its row counts, so the tile routines' registers
  // and shared memory do not shape the decode code.
  // Many rows may run the products on a GEMM library (LaunchRule::library): 16-bit products
  // of weights given as kernel inputs, whose results depend on A only through them (the
  // epilogue then needs no prologue), each product's result of B's type (the library writes
  // it in that type).
  // Dequantized weights take the route too: the B function writes them as A's type into the
  // workspace (library_b*) before the library reads them (the tiles would run on CUDA cores).
  library_ = mmaOk && widest <= 2;
  {
    llvm::SmallPtrSet<Operation *, 8> prologue;
    SmallVector<Value> work{shape.lhs};
    while (!work.empty())
      if (Operation *def = work.pop_back_val().getDefiningOp(); def && prologue.insert(def).second)
        llvm::append_range(work, def->getOperands());
    for (unsigned i = 0; i < shape.matmuls.size(); ++i) {
      MatmulOp mm = shape.matmuls[i];
      library_ &= elementType(mm.getResult()) == mmaType &&
                  (inputPtr_.count(mm.getRhs()) || shape.rhsDequantize[i]);
    }
    for (Value r : results_) {
      work.assign({r});
      while (!work.empty() && library_) {
        Value v = work.pop_back_val();
        Operation *def = v.getDefiningOp();
        if (!def || isa<MatmulOp>(def))
          continue;
        library_ &= !prologue.contains(def);
        llvm::append_range(work, def->getOperands());
      }
    }
  }
  line(std::string("constexpr bool few_rows = ") +
       (gemv ? "kRoute == chitu::kRouteFewRows" : "false") + ";");
  if (library_)
    line("constexpr long long tile_m = kRoute == chitu::kRouteLibraryA ? chitu::kLibraryARows : " +
         std::to_string(tileRows) + ";");
  else
    line("constexpr long long tile_m = " + std::to_string(tileRows) + ";");
  line("const long long row0 = (long long)blockIdx.y * tile_m;");
  rowBase_ = "row0";
  if (library_ && quantized) {
    // The B function: each dequantized product's weights as A's type, [N, K] rows, as the
    // dequantize op computes them (so the library's products equal the unfused ones).
    line("if constexpr (kRoute == chitu::kRouteLibraryB) {");
    ++indent_;
    for (unsigned i = 0; i < shape.matmuls.size(); ++i) {
      if (!shape.rhsDequantize[i])
        continue;
      MatmulOp mm = shape.matmuls[i];
      std::string n = sizeVar(shapes_.dims(mm.getResult())[1], "N");
      DequantizeOp dq = shape.rhsDequantize[i];
      if (std::optional<uint64_t> group = dq.getGroupSize()) {
        // int4 groups: 32 weights (one group's piece) a thread and step.
        auto values = pointerOf(mm, dq.getValues()), scales = pointerOf(mm, dq.getScales());
        FailureOr<std::string> zeros = std::string("nullptr");
        if (dq.getZeros())
          zeros = pointerOf(mm, dq.getZeros());
        if (failed(values) || failed(scales) || failed(zeros))
          return failure();
        line("chitu::library_dequantize_int4(reinterpret_cast<const chitu::int4x2 *>(" + *values +
             "), " + *scales + ", " + *zeros + ", " + std::to_string(llvm::Log2_64(*group)) + ", " +
             n + ", " + k + ", library_b" + std::to_string(i) + ");");
        continue;
      }
      if (K.isConstant() && K.getConstant() % 16 == 0) {
        // 16 weights a thread and step (the op's rounding, so the same bits).
        auto values = pointerOf(mm, dq.getValues()), scales = pointerOf(mm, dq.getScales());
        if (failed(values) || failed(scales))
          return failure();
        line("chitu::library_dequantize_rows(" + *values + ", " + *scales + ", " + n + ", " + k +
             ", library_b" + std::to_string(i) + ");");
        continue;
      }
      line("for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < " + n + " * " +
           k + "; i += (long long)gridDim.x * blockDim.x) {");
      ++indent_;
      line("const long long bn = i / " + k + ", bk = i - bn * " + k + ";");
      pushScope();
      auto w = value(mm.getRhs(), {"bn", "bk"});
      if (failed(w))
        return failure();
      line("library_b" + std::to_string(i) + "[i] = chitu::from_float<" + storageType(mmaType) +
           ">(" + *w + ");");
      popScope();
      --indent_;
      line("}");
    }
    line("return;");
    --indent_;
    line("}");
  }
  if (RmsNormOp norm = shape.prologueNorm) {
    // The norm's row scales for the tile's rows, summed as the rms_norm kernel sums them.
    includes_.insert("reduce.cuh");
    std::string epsText = floatLiteral(norm.getEps().convertToFloat());
    std::string len = sizeVar(shapes_.dims(norm.getInput()).back(), "d");
    line("__shared__ float row_scale[tile_m];");
    // The library epilogue reads the products only: no row scales.
    line(std::string("for (int r = threadIdx.x >> 5; ") +
         (library_ ? "kRoute != chitu::kRouteLibraryEpilogue && " : "") +
         "r < tile_m; r += " + std::to_string(kBlockThreads / 32) + ") {");
    ++indent_;
    line("const long long m = row0 + r;");
    line("if (m >= " + m + ") break;");
    auto scale = emitRmsScale(norm.getInput(), {"m"}, len, epsText);
    if (failed(scale))
      return failure();
    line("if ((threadIdx.x & 31) == 0) row_scale[r] = " + *scale + ";");
    --indent_;
    line("}");
    line("__syncthreads();");
    rowScale_[norm.getOperation()] = "row_scale";
  }
  if (failed(emitValueLambda("load_a", shape.lhs)))
    return failure();

  // The matrix-vector routine's blocks loop over column blocks (gridDim.x of them at a time)
  // so that A, staged once in shared memory when it fits, serves all of them; the tiled
  // routine runs one tile per block.
  // Each group's columns per matrix-vector block iteration (a multiple of kGemvCols, fixed
  // here because N is: see gemvColumnBlocksPerGroup).
  // Where the tensor-core routines (decode and tiles) may read A's rows 8 values at a time (ARows
  // in kernels/matmul.cuh): A itself, or the input of its rms-norm prologue, when that is a kernel
  // input of B's 16-bit type laid out as A's rows (reshapes keep the row-major order; a norm
  // must produce A directly, so that its row scales are A's rows').
  std::string aRowsInit = "{}";
  if (mmaOk) {
    auto rowsOf = [&](Value v) -> std::string {
      auto it = inputPtr_.find(throughReshapes(v));
      return it != inputPtr_.end() && elementType(it->first) == mmaType ? it->second : "";
    };
    RmsNormOp norm = shape.prologueNorm;
    if (std::string x = rowsOf(shape.lhs); !x.empty()) {
      aRowsInit = "{" + x + ", nullptr, nullptr, 0}";
    } else if (norm && shape.lhs == norm.getResult() && rowScale_.count(norm.getOperation()) &&
               elementType(norm.getResult()) == mmaType) {
      std::string x = rowsOf(norm.getInput());
      auto gamma = inputPtr_.find(norm.getWeight());
      if (!x.empty() && gamma != inputPtr_.end() && elementType(norm.getWeight()) == mmaType)
        aRowsInit = "{" + x + ", " + gamma->second + ", row_scale, row0}";
    }
  }

  if (library_) {
    LibraryRule rule;
    rule.when = SymExpr::min(SymExpr::constant(1),
                             SymExpr::floorDiv(M, SymExpr::constant(::chitu::kLibraryMinRows)));
    rule.m = M;
    rule.k = K;
    rule.f16 = mmaType.isF16();
    if (auto it = inputIndex_.find(throughReshapes(shape.lhs));
        it != inputIndex_.end() && elementType(shape.lhs) == rhsType)
      rule.aInput = int(it->second);
    rule.aGrid[0] = SymExpr::constant(1);
    rule.aGrid[1] = SymExpr::ceilDiv(M, SymExpr::constant(::chitu::kLibraryARows));
    rule.aGrid[2] = SymExpr::constant(1);
    // The library writes the outputs that are products themselves unless some result needs
    // the epilogue; then every product goes to the workspace. An output updated in place
    // (aliasing an input) always takes the epilogue, so the library never writes over an
    // operand it reads.
    bool direct = !kernel_->hasAttr("chitu.in_place");
    for (unsigned o = 0; o < results_.size(); ++o)
      direct &= results_[o].getDefiningOp<MatmulOp>() && !kernel_.getTiedInput(o);
    for (MatmulOp mm : shape.matmuls)
      direct &= llvm::is_contained(results_, mm.getResult());
    rule.epilogue = !direct;
    for (unsigned i = 0; i < shape.matmuls.size(); ++i) {
      MatmulOp mm = shape.matmuls[i];
      LibraryRule::Product p{inputIndex_.lookup(storedWeights(i)), shapes_.dims(mm.getResult())[1],
                             -1};
      p.dequantized = bool(shape.rhsDequantize[i]);
      if (direct)
        p.output = int(llvm::find(results_, mm.getResult()) - results_.begin());
      rule.products.push_back(p);
    }
    for (int d = 0; d < 3; ++d)
      rule.bGrid[d] = SymExpr::constant(d == 0 ? ::chitu::kLibraryBBlocks : 1);
    if (rule.aInput < 0) {
      line("if constexpr (kRoute == chitu::kRouteLibraryA) {");
      ++indent_;
      line("chitu::library_store_a(row0, tile_m, " + m + ", " + k + ", library_a, load_a);");
      line("return;");
      --indent_;
      line("}");
    }
    launch_.library = std::move(rule);
  }

  // Columns per iteration of the matrix-vector routine, one layout for tensor-core rows
  // (2..16) and one for CUDA-core rows (1, or all without them), fixed here because N is (see
  // gemvColumnBlocksPerIteration); the kernel picks the layout from M at run time.
  SymExpr totalTiles = SymExpr::constant(0), totalRowsMma = SymExpr::constant(0),
          totalRowsVector = SymExpr::constant(0);
  SmallVector<int64_t> groupColumns;
  for (unsigned g = 0; g < numGroups; ++g) {
    MatmulOp lead = shape.matmuls[groupProducts[g].front()];
    SymExpr N = shapes_.dims(lead.getResult())[1];
    if (N.isConstant())
      groupColumns.push_back(N.getConstant());
  }
  const bool columnsKnown = groupColumns.size() == numGroups;
  const int64_t mmaColumns =
      kGemvCols * (columnsKnown ? gemvColumnBlocksPerIteration(groupColumns, widest, true) : 1);
  const int64_t vectorColumns =
      kGemvCols * (columnsKnown ? gemvColumnBlocksPerIteration(groupColumns, widest, false) : 1);
  for (unsigned g = 0; g < numGroups; ++g) {
    MatmulOp lead = shape.matmuls[groupProducts[g].front()];
    SymExpr N = shapes_.dims(lead.getResult())[1];
    totalTiles =
        totalTiles + SymExpr::ceilDiv(N, SymExpr::constant(tileCols(groupProducts[g].size())));
    totalRowsMma = totalRowsMma + SymExpr::ceilDiv(N, SymExpr::constant(mmaColumns));
    totalRowsVector = totalRowsVector + SymExpr::ceilDiv(N, SymExpr::constant(vectorColumns));
  }
  // Iterations of the matrix-vector routine, for the grid: the larger layout's count (equal
  // when N is not known: one column block per iteration in both).
  SymExpr totalGemv = totalRowsVector;
  if (totalRowsMma.isConstant() && totalRowsVector.isConstant() &&
      totalRowsMma.getConstant() > totalRowsVector.getConstant())
    totalGemv = totalRowsMma;
  std::string columnBlocks;
  if (gemv) {
    // A's type on tensor cores (the routines' template argument; unused on CUDA cores).
    std::string tb = storageType(mmaType);
    line("const bool mma_rows = few_rows && chitu::gemv_uses_mma<" + tb + ", " + rhsStorage + ">(" +
         m + ", " + k + ", mma_ok);");
    line("const long long gemv_cols = mma_rows ? " + std::to_string(mmaColumns) + " : " +
         std::to_string(vectorColumns) + ";");
    columnBlocks = fresh("iterations");
    line("const long long " + columnBlocks + " = mma_rows ? " + sizeVar(totalRowsMma, "cols") +
         " : " + sizeVar(totalRowsVector, "cols") + ";");
    line("const chitu::ARows<" + tb + "> a_rows" + aRowsInit + ";");
    line("const bool a_resident = few_rows && chitu::gemv_a_resident<" + tb + ", " + rhsStorage +
         ">(" + m + ", " + k + ", mma_ok, smem_floats, " + columnBlocks + ", gridDim.x);");
    line("if (a_resident) {");
    ++indent_;
    line("chitu::gemv_stage_a<" + tb + ", " + rhsStorage + ">(" + m + ", " + k +
         ", mma_ok, smem, load_a);");
    line("__syncthreads();");
    --indent_;
    line("}");
  }
  line("const long long tile_end = " +
       (gemv ? "few_rows ? " + columnBlocks + " : " : std::string()) +
       "(long long)blockIdx.x + 1;");
  line("for (long long t = blockIdx.x; t < tile_end; t += gridDim.x) {");
  ++indent_;
  line("long long tile = t;");
  for (unsigned g = 0; g < numGroups; ++g) {
    MatmulOp lead = shape.matmuls[groupProducts[g].front()];
    SymExpr N = shapes_.dims(lead.getResult())[1];
    std::string n = sizeVar(N, "N");
    const int64_t cols = tileCols(groupProducts[g].size());
    SymExpr tiles = SymExpr::ceilDiv(N, SymExpr::constant(cols));
    std::string count = fresh("blocks");
    if (gemv)
      line("const long long " + count + " = !few_rows ? " + sizeVar(tiles, "tiles") +
           " : mma_rows ? " + sizeVar(SymExpr::ceilDiv(N, SymExpr::constant(mmaColumns)), "cols") +
           " : " + sizeVar(SymExpr::ceilDiv(N, SymExpr::constant(vectorColumns)), "cols") + ";");
    else
      line("const long long " + count + " = " + sizeVar(tiles, "tiles") + ";");
    line("if (tile < " + count + ") {");
    ++indent_;
    // B of each product of the group: rhs is [N, K] with transpose_rhs, else [K, N].
    line("auto load_b = [&](int j, long long bk, long long bn) -> float {");
    ++indent_;
    for (size_t j = 0; j < groupProducts[g].size(); ++j) {
      MatmulOp mm = shape.matmuls[groupProducts[g][j]];
      line("if (j == " + std::to_string(j) + ") {");
      ++indent_;
      if (shape.rhsDequantize[groupProducts[g][j]]) {
        // The dequantized weight, as the op computes it (B is [N, K]).
        pushScope();
        auto w = value(mm.getRhs(), {"bn", "bk"});
        if (failed(w))
          return failure();
        line("return " + *w + ";");
        popScope();
      } else {
        auto ptr = pointerOf(mm, mm.getRhs());
        if (failed(ptr))
          return failure();
        std::string index = mm.getTransposeRhs() ? "bn * " + k + " + bk" : "bk * " + n + " + bn";
        line("return chitu::to_float(" + *ptr + "[" + index + "]);");
      }
      --indent_;
      line("}");
    }
    line("return 0.0f;");
    --indent_;
    line("};");
    line("auto epilogue = [&](long long em, long long en, const float *acc) {");
    ++indent_;
    pushScope();
    for (size_t j = 0; j < groupProducts[g].size(); ++j) {
      MatmulOp mm = shape.matmuls[groupProducts[g][j]];
      std::string var = fresh("v");
      line("const float " + var + " = " +
           roundTo(elementType(mm.getResult()), "acc[" + std::to_string(j) + "]") + ";");
      define(mm.getResult(), {"em", "en"}, var);
    }
    for (unsigned o : groupResults[g]) {
      auto v = value(results_[o], {"em", "en"});
      if (failed(v))
        return failure();
      emitStore(o, "em * " + n + " + en", *v);
    }
    popScope();
    --indent_;
    line("};");
    if (library_ && launch_.library->epilogue) {
      std::string products;
      for (unsigned j : groupProducts[g])
        products += (products.empty() ? "" : ", ") + std::string("library_c") + std::to_string(j);
      line("if constexpr (kRoute == chitu::kRouteLibraryEpilogue) {");
      ++indent_;
      line("const " + storageType(mmaType) + " *const products[] = {" + products + "};");
      line("chitu::library_epilogue<" + std::to_string(groupProducts[g].size()) +
           ">(row0, tile * " + std::to_string(cols) + ", tile_m, " + std::to_string(cols) + ", " +
           m + ", " + n + ", products, epilogue);");
      line("continue;");
      --indent_;
      line("}");
    }
    if (gemv) {
      std::string pointers, scalePointers, zeroPointers;
      int64_t group = 0;
      for (unsigned j : groupProducts[g]) {
        MatmulOp mm = shape.matmuls[j];
        auto ptr = pointerOf(mm, storedWeights(j));
        if (failed(ptr))
          return failure();
        pointers += (pointers.empty() ? "" : ", ") +
                    (int4 ? "reinterpret_cast<const chitu::int4x2 *>(" + *ptr + ")" : *ptr);
        std::string scale = "nullptr", zero = "nullptr";
        if (DequantizeOp dq = shape.rhsDequantize[j]) {
          auto s = pointerOf(mm, dq.getScales());
          if (failed(s))
            return failure();
          scale = *s;
          if (dq.getZeros()) {
            auto z = pointerOf(mm, dq.getZeros());
            if (failed(z))
              return failure();
            zero = *z;
          }
          group = int64_t(groupOf(j)); // one for all (the gemv condition)
        }
        scalePointers += (scalePointers.empty() ? "" : ", ") + scale;
        zeroPointers += (zeroPointers.empty() ? "" : ", ") + zero;
      }
      // `if (condition) { routine(...); continue; }`: the routine takes this tile.
      auto takeTile = [&](const std::string &condition, const std::string &call) {
        line("if (" + condition + ") {");
        ++indent_;
        line(call);
        line("continue;");
        --indent_;
        line("}");
      };
      std::string nb = std::to_string(groupProducts[g].size());
      line("const " + rhsStorage + " *const weights[] = {" + pointers + "};");
      if (quantized)
        line("const float *const scales[] = {" + scalePointers + "};");
      if (int4)
        line("const float *const zeros[] = {" + zeroPointers + "};");
      takeTile("few_rows",
               "chitu::gemv_fused<" + nb + ", " + std::to_string(mmaColumns / kGemvCols) + ", " +
                   std::to_string(vectorColumns / kGemvCols) + ">(tile * gemv_cols, " + m + ", " +
                   n + ", " + k + ", smem, a_resident, mma_ok, load_a, a_rows, weights, " +
                   (quantized ? "scales" : "nullptr") + ", epilogue" +
                   (int4 ? ", chitu::Int4Groups{zeros, " +
                               std::to_string(llvm::Log2_64(uint64_t(group))) + "}"
                         : "") +
                   ");");
      if (bigTiles)
        takeTile("chitu::gemm_uses_mma<" + storageType(rhsType) + ">(" + k + ", mma_ok)",
                 "chitu::gemm_tile_mma<" + nb + ">(row0, tile * " + std::to_string(cols) + ", " +
                     m + ", " + n + ", " + k + ", smem, load_a, a_rows, weights, epilogue);");
    }
    std::string nb = std::to_string(groupProducts[g].size());
    if (bigTiles)
      line("chitu::gemm_tiles_fused<" + nb + ">(row0, tile * " + std::to_string(cols) +
           ", tile_m, " + std::to_string(cols) + ", " + m + ", " + n + ", " + k +
           ", smem, load_a, load_b, epilogue);");
    else
      line("chitu::gemm_tile_fused<" + nb + ">(row0, tile * chitu::kGemmBN, " + m + ", " + n +
           ", " + k + ", smem, load_a, load_b, epilogue);");
    line("continue;");
    --indent_;
    line("}");
    line("tile -= " + count + ";");
  }
  --indent_;
  line("}");
  launch_.block[0] = kBlockThreads;
  // Blocks of the matrix-vector routine (at most kGemvGridBlocks) when M <= kGemvMaxRows,
  // tiles otherwise: tiles + (blocks - tiles) * [M <= kGemvMaxRows], the indicator being
  // 1 - min(1, M floordiv (kGemvMaxRows + 1)).
  SymExpr fewRows =
      SymExpr::constant(1) -
      SymExpr::min(SymExpr::constant(1), SymExpr::floorDiv(M, SymExpr::constant(kGemvMaxRows + 1)));
  SymExpr gemvBlocks = SymExpr::min(totalGemv, SymExpr::constant(kGemvGridBlocks));
  launch_.grid[0] = gemv ? totalTiles + (gemvBlocks - totalTiles) * fewRows : totalTiles;
  if (gemv)
    launch_.tilesWhen = SymExpr::constant(1) - fewRows;
  if (gemmBytes != gemvBytes)
    launch_.sharedBytesExpr =
        SymExpr::constant(gemmBytes) + SymExpr::constant(gemvBytes - gemmBytes) * fewRows;
  launch_.grid[1] = SymExpr::ceilDiv(M, SymExpr::constant(tileRows));
  launch_.grid[2] = SymExpr::constant(1);
  return success();
}

LogicalResult KernelEmitter::emitValueLambda(const std::string &name, Value v) {
  line("auto " + name + " = [&](long long am, long long ak) -> float {");
  ++indent_;
  pushScope();
  auto x = value(v, {"am", "ak"});
  if (failed(x))
    return failure();
  line("return " + *x + ";");
  popScope();
  --indent_;
  line("};");
  return success();
}

LogicalResult KernelEmitter::emitMatmul(MatmulOp op) {
  includes_.insert("matmul.cuh");
  Value lhs = op.getLhs(), rhs = op.getRhs();
  if (!inputPtr_.count(lhs) || !inputPtr_.count(rhs))
    return op.emitOpError("operands must be kernel inputs (no fused prologue yet)");
  ArrayRef<SymExpr> a = shapes_.dims(lhs), b = shapes_.dims(rhs), c = shapes_.dims(op.getResult());
  size_t ra = a.size(), rc = c.size();
  bool ta = op.getTransposeLhs(), tb = op.getTransposeRhs();
  SymExpr M = c[rc - 2], N = c[rc - 1], K = ta ? a[ra - 2] : a[ra - 1];
  std::string m = sizeVar(M, "M"), n = sizeVar(N, "N"), k = sizeVar(K, "K");
  // Batch: walk the result's batch dims, mapping each to A's and B's batch offsets
  // (a size-1 or missing batch dim of an operand is broadcast).
  std::vector<std::string> batchDims;
  SymExpr batches = SymExpr::constant(1);
  for (size_t d = 0; d + 2 < rc; ++d) {
    batchDims.push_back(sizeVar(c[d], "b"));
    batches = batches * c[d];
  }
  std::string numBatches = sizeVar(batches, "nb");
  line("for (long long batch = blockIdx.z; batch < " + numBatches + "; batch += gridDim.z) {");
  ++indent_;
  std::vector<std::string> bc = delinearize("batch", batchDims);
  auto operandOffset = [&](ArrayRef<SymExpr> dims, const std::string &matrix) {
    std::string off = "0LL";
    size_t nb = dims.size() - 2, lead = (rc - 2) - nb;
    for (size_t d = 0; d < nb; ++d) {
      std::string dim = sizeVar(dims[d], "d");
      bool one = dims[d].isConstant() && dims[d].getConstant() == 1;
      off = "(" + off + ") * " + dim + " + " + (one ? "0LL" : bc[lead + d]);
    }
    return "(" + off + ") * " + matrix;
  };
  line("const long long a_off = " + operandOffset(a, "(" + m + " * " + k + ")") + ";");
  line("const long long b_off = " + operandOffset(b, "(" + k + " * " + n + ")") + ";");
  std::string sam = ta ? "1LL" : k, sak = ta ? m : "1LL";
  std::string sbk = tb ? "1LL" : n, sbn = tb ? k : "1LL";
  line("chitu::gemm_tile_64x64(" + inputPtr_[lhs] + " + a_off, " + inputPtr_[rhs] + " + b_off, " +
       outputs_[0] + " + batch * " + m + " * " + n + ", " + m + ", " + n + ", " + k + ", " + sam +
       ", " + sak + ", " + sbk + ", " + sbn + ");");
  line("__syncthreads();");
  --indent_;
  line("}");
  launch_.block[0] = kBlockThreads;
  launch_.grid[0] = SymExpr::ceilDiv(N, SymExpr::constant(64));
  launch_.grid[1] = SymExpr::ceilDiv(M, SymExpr::constant(64));
  launch_.grid[2] = SymExpr::min(batches, SymExpr::constant(kMaxGridZ));
  return success();
}

LogicalResult KernelEmitter::emitKvWriteStore(KvWriteOp op, unsigned output,
                                              const std::vector<std::string> &idx,
                                              const std::vector<std::string> &dims) {
  // The output is the cache itself (updated in place): write only the new rows.
  ArrayRef<SymExpr> cache = shapes_.dims(op.getCache());
  std::string row = "(" + dims[1] + " * " + dims[2] + ")";
  std::string slotsTotal = sizeVar(cache[0] * cache[1], "nslots");
  auto slot = value(op.getSlots(), {idx[0]});
  auto v = value(op.getValues(), idx);
  if (failed(slot) || failed(v))
    return failure();
  std::string s = fresh("slot");
  line("const long long " + s + " = (long long)" + *slot + ";");
  line("if (" + s + " >= " + slotsTotal +
       ") chitu::report_error(status, "
       "chitu::kErrorIndexOutOfRange);");
  line("else if (" + s + " >= 0) " + outputs_[output] + "[" + s + " * " + row + " + (" + idx[1] +
       ") * " + dims[2] + " + " + idx[2] + "] = " + storeExpr(elementType(op.getResult()), *v) +
       ";");
  launch_.usesStatus = true;
  return success();
}

LogicalResult KernelEmitter::emitPagedAttention(PagedAttentionOp op) {
  includes_.insert("llm.cuh");
  ArrayRef<SymExpr> q = shapes_.dims(op.getQuery());
  ArrayRef<SymExpr> kc = shapes_.dims(op.getKeyCache());
  ArrayRef<SymExpr> tables = shapes_.dims(op.getBlockTables());
  if (!q[2].isConstant() || q[2].getConstant() > 256 || q[2].getConstant() < 1)
    return op.emitOpError("needs a static head dimension of at most 256");
  int64_t headDim = q[2].getConstant();
  constexpr int kWarps = kAttentionWarps;
  auto operandPtrs = operandPointers(op);
  if (failed(operandPtrs))
    return failure();
  const std::vector<std::string> &ptrs = *operandPtrs;
  std::string tokens = sizeVar(q[0], "T"), heads = sizeVar(q[1], "H");
  std::string scale = floatLiteral(op.getScale().convertToFloat());
  // One shared array serves the per-(token, head) routine and, for prefill, the flash tiles
  // (chitu::paged_attention_all picks per call); 16-byte aligned for cp.async and ldmatrix.
  // Dynamic: the flash tiles' footprint (queries and two key stages, ~140 KiB at D = 128) is
  // taken only by launches of kFlashMinTokens tokens or more.
  std::string d = std::to_string(headDim);
  // Query heads per block in batched decode (GQA): up to 4 heads of one KV head (each lane
  // keeps a query and an accumulator row per head in registers).
  int64_t headsPerBlock = 1;
  if (q[1].isConstant() && kc[2].isConstant() && kc[2].getConstant() > 0 &&
      q[1].getConstant() % kc[2].getConstant() == 0) {
    int64_t group = q[1].getConstant() / kc[2].getConstant();
    headsPerBlock = group % 4 == 0 ? 4 : group % 2 == 0 ? 2 : 1;
  }
  const int64_t scratchBytes =
      int64_t(::chitu::paged_attention_smem_floats(int(headDim), kWarps, int(headsPerBlock))) * 4;
  const bool flash = ::chitu::flash_attention_supported(
      int(headDim), int(elementType(op.getQuery()).getIntOrFloatBitWidth() / 8));
  const int64_t flashBytes = flash ? ::chitu::flash_smem_bytes(int(headDim)) : 0;
  line("extern __shared__ __align__(16) float scratch[];");
  launch_.sharedBytes = unsigned(std::max(scratchBytes, flashBytes));
  if (flashBytes > scratchBytes)
    launch_.sharedBytesExpr =
        SymExpr::constant(scratchBytes) +
        SymExpr::constant(flashBytes - scratchBytes) *
            SymExpr::min(SymExpr::constant(1),
                         SymExpr::floorDiv(q[0], SymExpr::constant(::chitu::kFlashMinTokens)));
  // Grouped heads and few tokens (decode): the keys split over blocks, which merge through
  // a global scratch (chitu::paged_attention_split): kSplitMaxParts blocks per (token, group).
  const bool split = headsPerBlock > 1;
  line("chitu::paged_attention_all<" + d + ", " + std::to_string(kWarps) + ", " +
       std::to_string(headsPerBlock) + ">(" + ptrs[0] + ", " + ptrs[1] + ", " + ptrs[2] + ", " +
       ptrs[3] + ", " + ptrs[4] + ", " + ptrs[5] + ", " + outputs_[0] + ", " + tokens + ", " +
       heads + ", " + sizeVar(kc[2], "kvh") + ", " + sizeVar(kc[1], "bs") + ", " +
       sizeVar(kc[0], "nb") + ", " + sizeVar(tables[0], "ns") + ", " + sizeVar(tables[1], "mb") +
       ", " + scale + ", " + std::to_string(int64_t(op.getWindow())) + "LL, status, scratch" +
       (split ? ", kernel_scratch" : "") + ");");
  launch_.usesStatus = true;
  launch_.block[0] = 32 * kWarps;
  // A block per (token, head), or with split keys kSplitMaxParts per (token, group).
  SymExpr blocks = q[0] * q[1];
  if (split) {
    const int64_t groups = q[1].getConstant() / headsPerBlock;
    blocks = q[0] * SymExpr::constant(
                        std::max(q[1].getConstant(), groups * ::chitu::kSplitMaxParts));
    launch_.scratchBytes = SymExpr::min(q[0], SymExpr::constant(::chitu::kSplitMaxTokens)) *
                           SymExpr::constant(::chitu::split_scratch_bytes_per_token(
                               q[1].getConstant(), groups, int(headDim)));
  }
  launch_.grid[0] = SymExpr::min(blocks, SymExpr::constant(kAttentionMaxBlocks));
  launch_.grid[1] = launch_.grid[2] = SymExpr::constant(1);
  return success();
}

LogicalResult KernelEmitter::emitAttention(AttentionOp op) {
  includes_.insert("llm.cuh");
  ArrayRef<SymExpr> q = shapes_.dims(op.getQuery()), k = shapes_.dims(op.getKey()),
                    v = shapes_.dims(op.getValue());
  const size_t rank = q.size();
  for (const SymExpr &d : {q[rank - 1], v[rank - 1]})
    if (!d.isConstant() || d.getConstant() < 1 || d.getConstant() > ::chitu::kDenseMaxDim)
      return op.emitOpError("needs static head and value dimensions of 1 to ")
             << ::chitu::kDenseMaxDim;
  const int64_t headDim = q[rank - 1].getConstant(), valueDim = v[rank - 1].getConstant();
  auto operandPtrs = operandPointers(op);
  if (failed(operandPtrs))
    return failure();
  const std::vector<std::string> &ptrs = *operandPtrs;
  SymExpr batch = SymExpr::constant(1);
  for (size_t d = 0; d + 2 < rank; ++d)
    batch = batch * q[d];
  std::string batchVar = sizeVar(batch, "B"), sq = sizeVar(q[rank - 2], "Sq"),
              sk = sizeVar(k[rank - 2], "Sk");
  std::string maskRow =
      "[&](long long) { return (const " + storageType(elementType(op.getQuery())) + " *)nullptr; }";
  std::string rowStride = "0LL", colStride = "0LL";
  if (Value mask = op.getMask()) {
    // The mask's strides over the scores' dimensions (its own, right-aligned; 0 where it
    // broadcasts), and its offset for batch element b from b's coordinates.
    ArrayRef<SymExpr> m = shapes_.dims(mask);
    std::vector<SymExpr> strides(rank, SymExpr::constant(0));
    SymExpr stride = SymExpr::constant(1);
    for (size_t i = m.size(); i-- > 0;) {
      size_t d = rank - m.size() + i;
      if (m[i] != SymExpr::constant(1))
        strides[d] = stride;
      stride = stride * m[i];
    }
    rowStride = sizeVar(strides[rank - 2], "ms");
    colStride = sizeVar(strides[rank - 1], "ms");
    std::string body = "long long rest = b, off = 0; ";
    for (size_t d = rank - 2; d-- > 0;) {
      std::string dim = sizeVar(q[d], "bd"), s = sizeVar(strides[d], "ms");
      body += "off += rest % " + dim + " * " + s + "; rest /= " + dim + "; ";
    }
    maskRow = "[&](long long b) { " + body + "return " + ptrs[3] + " + off; }";
  }
  // 16-bit types with a head dimension the tensor-core tiles take: the flash routine; else
  // the CUDA-core one (f32, other dimensions).
  const bool flash = ::chitu::dense_flash_supported(
      int(headDim), int(valueDim), int(elementType(op.getQuery()).getIntOrFloatBitWidth() / 8));
  line("extern __shared__ __align__(16) float smem[];");
  line(std::string(flash ? "chitu::dense_flash_attention<" + std::to_string(headDim)
                         : "chitu::dense_attention<" + std::to_string(headDim) + ", " +
                               std::to_string(valueDim)) +
       ">(" + ptrs[0] + ", " + ptrs[1] + ", " + ptrs[2] + ", " + outputs_[0] + ", " + batchVar +
       ", " + sq + ", " + sk + ", " + floatLiteral(op.getScale().convertToFloat()) + ", " +
       maskRow + ", " + rowStride + ", " + colStride + ", smem);");
  launch_.block[0] = 32 * (flash ? ::chitu::kDenseFlashWarps : ::chitu::kDenseWarps);
  launch_.sharedBytes =
      flash ? unsigned(::chitu::dense_flash_smem_bytes(int(headDim)))
            : unsigned(::chitu::dense_attention_smem_floats(int(headDim), int(valueDim)) * 4);
  const int rowsPerBlock = flash ? ::chitu::kDenseFlashRows : ::chitu::kDenseRows;
  launch_.grid[0] =
      SymExpr::min(batch * SymExpr::ceilDiv(q[rank - 2], SymExpr::constant(rowsPerBlock)),
                   SymExpr::constant(kMaxGridX));
  launch_.grid[1] = launch_.grid[2] = SymExpr::constant(1);
  return success();
}

LogicalResult KernelEmitter::emitSamplingProbs(SamplingProbsOp op) {
  includes_.insert("llm.cuh");
  auto operandPtrs = operandPointers(op);
  if (failed(operandPtrs))
    return failure();
  const std::vector<std::string> &ptrs = *operandPtrs;
  ArrayRef<SymExpr> logits = shapes_.dims(op.getLogits());
  std::string rows = sizeVar(logits[0], "rows"), vocab = sizeVar(logits[1], "V");
  std::string hist = sizeVar(shapes_.dims(op.getHistory())[1], "H");
  line("__shared__ float scratch[32];");
  line(gridStride(rows, "r", true));
  ++indent_;
  line("chitu::sampling_probs_row(" + ptrs[0] + " + r * " + vocab + ", " + outputs_[0] + " + r * " +
       vocab + ", " + vocab + ", " + ptrs[1] + "[r], " + ptrs[2] + "[r], " + ptrs[3] + "[r], " +
       ptrs[4] + "[r], " + ptrs[5] + "[r], " + ptrs[6] + " + r * " + hist + ", " + hist +
       ", scratch);");
  --indent_;
  line("}");
  launch_.block[0] = kRowBlockThreads;
  launch_.grid[0] = SymExpr::min(logits[0], SymExpr::constant(kMaxGridX));
  launch_.grid[1] = launch_.grid[2] = SymExpr::constant(1);
  return success();
}

LogicalResult KernelEmitter::emitMultinomial(MultinomialOp op) {
  includes_.insert("llm.cuh");
  auto probs = pointerOf(op, op.getProbs());
  auto seeds = pointerOf(op, op.getSeeds());
  if (failed(probs) || failed(seeds))
    return failure();
  ArrayRef<SymExpr> dims = shapes_.dims(op.getProbs());
  std::string rows = sizeVar(dims[0], "rows"), n = sizeVar(dims[1], "n");
  line("__shared__ float scratch[32];");
  line(gridStride(rows, "r", true));
  ++indent_;
  line("const int pick = chitu::multinomial_row(" + *probs + " + r * " + n + ", " + n + ", " +
       *seeds + "[r], status, scratch);");
  line("if (threadIdx.x == 0) " + outputs_[0] + "[r] = pick;");
  line("__syncthreads();");
  --indent_;
  line("}");
  launch_.usesStatus = true;
  launch_.block[0] = kRowBlockThreads;
  launch_.grid[0] = SymExpr::min(dims[0], SymExpr::constant(kMaxGridX));
  launch_.grid[1] = launch_.grid[2] = SymExpr::constant(1);
  return success();
}

FailureOr<KernelSource> KernelEmitter::run() {
  Block &block = kernel_.getBodyBlock();
  auto yield = cast<YieldOp>(block.getTerminator());
  results_.assign(yield.getValues().begin(), yield.getValues().end());
  if (results_.empty())
    return kernel_.emitOpError("has no results");

  // Parameters: outputs, then tensor inputs. A result updated in place aliases an input,
  // so such kernels promise no `__restrict__`.
  bool inPlace = kernel_->hasAttr("chitu.in_place"); // planned by chitu-plan-memory
  for (unsigned i = 0; i < results_.size(); ++i)
    inPlace |= kernel_.getTiedInput(i).has_value();
  const std::string restrict = inPlace ? " *" : " *__restrict__ ";
  std::vector<std::string> params;
  for (auto [i, r] : llvm::enumerate(results_)) {
    outputs_.push_back("out" + std::to_string(i));
    params.push_back(storageType(elementType(r)) + restrict + outputs_.back());
  }
  unsigned numIn = 0;
  for (BlockArgument arg : block.getArguments()) {
    if (!isa<RankedTensorType>(arg.getType()))
      continue; // sizes are folded into the expressions
    inputIndex_[arg] = numIn;
    std::string name = "in" + std::to_string(numIn++);
    inputPtr_[arg] = name;
    params.push_back("const " + storageType(elementType(arg)) + restrict + name);
  }
  pushScope();
  // Input dims as named constants, used by their loads.
  for (BlockArgument arg : block.getArguments())
    if (isa<RankedTensorType>(arg.getType()))
      inputDims_[arg] = dimVars(arg);

  KernelShape shape = classifyKernel(kernel_);
  LogicalResult ok = success();
  switch (shape.kind) {
  case KernelKind::Unsupported:
    return kernel_.emitOpError("is not a kernel code generation supports: ") << shape.reason;
  case KernelKind::Elemental:
    ok = emitElementalKernel();
    break;
  case KernelKind::Matmul:
    ok = emitFusedMatmul(shape);
    break;
  case KernelKind::Reduction:
  case KernelKind::Single:
    ok = llvm::TypeSwitch<Operation *, LogicalResult>(shape.anchor)
             .Case<ReduceSumOp, ReduceMaxOp, ReduceMeanOp>([&](auto o) {
               return emitReduction(o, o.getInput(), o.getAxes(), o.getKeepDims());
             })
             .Case([&](SoftmaxOp o) { return emitSoftmax(o); })
             .Case<RmsNormOp, LayerNormOp>([&](auto o) { return emitNorm(o); })
             .Case([&](MatmulOp o) { return emitMatmul(o); })
             .Case([&](PagedAttentionOp o) { return emitPagedAttention(o); })
             .Case([&](AttentionOp o) { return emitAttention(o); })
             .Case([&](SamplingProbsOp o) { return emitSamplingProbs(o); })
             .Case([&](MultinomialOp o) { return emitMultinomial(o); })
             .Default([&](Operation *o) { return o->emitOpError("has no CUDA code generation"); });
    break;
  }
  if (failed(ok))
    return failure();

  KernelSource out;
  out.name = kernel_.getName().str();
  if (launch_.usesStatus)
    params.push_back("unsigned *__restrict__ status");
  // Symbols become parameters named by position (sym0, sym1, ...), not by their id in the
  // function: the attention and rope kernels of every layer differ only in the symbol of
  // their layer's KV cache size, and with positional names they are one kernel (one cubin,
  // one module load) instead of one per layer.
  std::map<std::string, std::string> positional;
  for (int64_t s : usedSymbols_) {
    std::string name = "sym" + std::to_string(launch_.scalarSymbols.size());
    positional["s" + std::to_string(s)] = name;
    params.push_back("const long long " + name);
    launch_.scalarSymbols.push_back(s);
  }
  body_ = renameSymbols(body_, positional);
  if (launch_.scratchBytes)
    params.push_back("unsigned char *__restrict__ kernel_scratch");
  std::string src = "// chitu kernel:";
  for (Operation &op : block.without_terminator())
    src += " " + op.getName().getStringRef().str();
  src += "\n";
  for (const std::string &inc : includes_)
    src += "#include \"" + inc + "\"\n";
  std::string signature = "(";
  for (size_t i = 0; i < params.size(); ++i)
    signature += (i ? ",\n    " : "") + params[i];
  signature += ") {\n" + body_ + "}\n";
  char symbol[32];
  std::snprintf(symbol, sizeof symbol, "chitu_%016llx",
                (unsigned long long)::chitu::fnv1a64(src + signature));
  out.symbol = symbol;
  // `extern "C" __global__` with launch bounds (threads, and blocks per SM when > 0).
  auto global = [&](const std::string &name, int minBlocks) {
    return "\nextern \"C\" __global__ void __launch_bounds__(" + std::to_string(launch_.block[0]) +
           (minBlocks ? ", " + std::to_string(minBlocks) : std::string()) + ")\n" + name;
  };
  if (launch_.tilesWhen) {
    // The body once, as a template on the routes (chitu::ProductRoute), and a function for
    // each: rows, tiles, and the library routes' A and epilogue functions, which take the
    // workspace pointers after the kernel's parameters.
    std::vector<std::string> libraryParams;
    if (library_) {
      std::string t = launch_.library->f16 ? "chitu::f16" : "chitu::bf16";
      libraryParams.push_back(t + " *__restrict__ library_a");
      for (size_t j = 0; j < launch_.library->products.size(); ++j)
        libraryParams.push_back("const " + t + " *__restrict__ library_c" + std::to_string(j));
      if (launch_.library->dequantizes())
        for (size_t j = 0; j < launch_.library->products.size(); ++j)
          libraryParams.push_back(t + " *__restrict__ library_b" + std::to_string(j));
    }
    auto join = [](const std::vector<std::string> &list, bool names) {
      std::string text;
      for (const std::string &p : list)
        text += (text.empty() ? ""
                 : names      ? ", "
                              : ",\n    ") +
                (names ? p.substr(p.find_last_of(" *") + 1) : p);
      return text;
    };
    std::vector<std::string> bodyParams = params;
    llvm::append_range(bodyParams, libraryParams);
    std::string args = join(params, true);
    std::string declaration = signature.substr(0, signature.find(") {") + 1);
    std::string libraryNulls;
    for (size_t j = 0; j < libraryParams.size(); ++j)
      libraryNulls += ", nullptr";
    auto call = [&](const char *route, bool withLibrary) {
      std::string callArgs = args + (withLibrary ? ", " + join(libraryParams, true) : libraryNulls);
      std::string decl = withLibrary ? "(" + join(bodyParams, false) + ")" : declaration;
      return decl + " {\n  " + out.symbol + "_body<chitu::" + route + ">(" + callArgs + ");\n}\n";
    };
    out.tilesSymbol = out.symbol + "_tiles";
    src += "\ntemplate <int kRoute>\n__device__ __forceinline__ void " + out.symbol + "_body(" +
           join(bodyParams, false) + ") {\n" + body_ + "}\n";
    src += global(out.symbol, 0) + call("kRouteFewRows", false);
    // Two tile blocks per SM, as the tiles' 40 KiB of shared memory allow: without the bound
    // ptxas gave the o_proj tiles 174 registers (one block per SM, 51 vs 76 TFLOP/s).
    src += global(out.tilesSymbol, 2) + call("kRouteTiles", false);
    if (library_) {
      if (launch_.library->aInput < 0) {
        out.libraryASymbol = out.symbol + "_library_a";
        src += global(out.libraryASymbol, 0) + call("kRouteLibraryA", true);
      }
      if (launch_.library->epilogue) {
        out.libraryEpilogueSymbol = out.symbol + "_library_epilogue";
        src += global(out.libraryEpilogueSymbol, 0) + call("kRouteLibraryEpilogue", true);
      }
      if (launch_.library->dequantizes()) {
        out.libraryBSymbol = out.symbol + "_library_b";
        src += global(out.libraryBSymbol, 0) + call("kRouteLibraryB", true);
      }
    }
  } else {
    src += global(out.symbol, 0) + signature;
  }
  out.source = std::move(src);
  out.launch = launch_;
  return out;
}

} // namespace

FailureOr<KernelSource> mlir::chitu::generateCudaKernel(KernelOp kernel,
                                                        const ShapeAnalysis &shapes) {
  return KernelEmitter(kernel, shapes).run();
}
