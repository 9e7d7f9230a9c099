//===- Raise.cpp - chitu-raise --------------------------------------------===//
//
// Recognises op sequences that spell out an operation the dialect has as one op (the
// way exporters decompose GELU, RMS norm and layer norm) and replaces them by it, so
// that fusion and the kernels see the fused op (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "chitu/Passes/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::chitu {
#define GEN_PASS_DEF_RAISE
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

/// The value of a constant whose elements are all equal (a scalar in effect), and how
/// closely its type can hold a formula's constant (half its unit in the last place).
std::optional<double> splatValue(Value v, double *precision = nullptr) {
  auto c = v.getDefiningOp<ConstantOp>();
  if (!c)
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
  if (!dense || !dense.isSplat() || !isa<FloatType>(dense.getElementType()))
    return std::nullopt;
  if (precision) {
    Type t = dense.getElementType();
    *precision = t.isBF16() ? 4e-3 : t.isF16() ? 5e-4 : 1e-4;
  }
  return dense.getSplatValue<APFloat>().convertToDouble();
}

/// True if `v` is a splat constant equal to `want` up to its type's rounding (at least a
/// relative 1e-4: exporters print these formulas' constants with few digits).
bool isConstant(Value v, double want) {
  double precision = 1e-4;
  auto got = splatValue(v, &precision);
  return got && std::fabs(*got - want) <= precision * std::fabs(want);
}

/// The factors of a product tree of chitu.mul ops.
void collectFactors(Value v, SmallVectorImpl<Value> &out, int depth = 0) {
  if (auto mul = v.getDefiningOp<MulOp>(); mul && depth < 3) {
    collectFactors(mul.getLhs(), out, depth + 1);
    collectFactors(mul.getRhs(), out, depth + 1);
    return;
  }
  out.push_back(v);
}

/// `a + b` in either order where one side is the constant `c`: the other side.
Value addOfConstant(Value v, double c) {
  auto add = v.getDefiningOp<AddOp>();
  if (!add)
    return {};
  if (isConstant(add.getRhs(), c))
    return add.getLhs();
  if (isConstant(add.getLhs(), c))
    return add.getRhs();
  return {};
}

/// `x * c` (either order) or `x / (1 / c)`: x.
Value scaledBy(Value v, double c) {
  if (auto mul = v.getDefiningOp<MulOp>()) {
    if (isConstant(mul.getRhs(), c))
      return mul.getLhs();
    if (isConstant(mul.getLhs(), c))
      return mul.getRhs();
  }
  if (auto div = v.getDefiningOp<DivOp>(); div && isConstant(div.getRhs(), 1.0 / c))
    return div.getLhs();
  return {};
}

bool sameShapeAndType(Value a, Value b) { return a.getType() == b.getType(); }

/// x * x * x, however associated, or pow(x, 3): x.
Value cubeOf(Value v) {
  if (auto pow = v.getDefiningOp<PowOp>(); pow && isConstant(pow.getRhs(), 3.0))
    return pow.getLhs();
  SmallVector<Value> f;
  collectFactors(v, f);
  if (f.size() == 3 && f[0] == f[1] && f[1] == f[2])
    return f[0];
  return {};
}

/// x * x or pow(x, 2): x.
Value squareOf(Value v) {
  if (auto pow = v.getDefiningOp<PowOp>(); pow && isConstant(pow.getRhs(), 2.0))
    return pow.getLhs();
  if (auto mul = v.getDefiningOp<MulOp>(); mul && mul.getLhs() == mul.getRhs())
    return mul.getLhs();
  return {};
}

/// 0.5 * x * (1 + erf(x / sqrt(2))) and 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715
/// * x^3))), in any association and order of the product.
struct RaiseGelu : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp root, PatternRewriter &rewriter) const override {
    SmallVector<Value> factors;
    collectFactors(root.getResult(), factors);
    if (factors.size() != 3)
      return failure();
    for (int half = 0; half < 3; ++half) {
      if (!isConstant(factors[half], 0.5))
        continue;
      for (int other = 0; other < 3; ++other) {
        if (other == half)
          continue;
        Value x = factors[3 - half - other];
        Value inner = addOfConstant(factors[other], 1.0);
        if (!inner || !sameShapeAndType(x, root.getResult()))
          continue;
        if (auto erf = inner.getDefiningOp<ErfOp>()) {
          if (scaledBy(erf.getInput(), 1.0 / std::sqrt(2.0)) == x) {
            rewriter.replaceOpWithNewOp<GeluOp>(root, x.getType(), x);
            return success();
          }
        }
        if (auto tanh = inner.getDefiningOp<TanhOp>()) {
          Value poly = scaledBy(tanh.getInput(), std::sqrt(2.0 / M_PI));
          auto sum = poly ? poly.getDefiningOp<AddOp>() : AddOp();
          if (!sum)
            continue;
          for (auto [a, b] :
               {std::pair(sum.getLhs(), sum.getRhs()), std::pair(sum.getRhs(), sum.getLhs())}) {
            Value cube = scaledBy(b, 0.044715);
            if (a == x && cube && cubeOf(cube) == x) {
              rewriter.replaceOpWithNewOp<GeluTanhOp>(root, x.getType(), x);
              return success();
            }
          }
        }
      }
    }
    return failure();
  }
};

/// mean(v, last axis, kept) where v is given: the reduced value's operand.
Value meanOverLastAxis(Value v) {
  auto mean = v.getDefiningOp<ReduceMeanOp>();
  if (!mean || !mean.getKeepDims())
    return {};
  int64_t rank = mean.getInput().getType().getRank();
  if (mean.getAxes().size() != 1 || mean.getAxes()[0] != rank - 1)
    return {};
  return mean.getInput();
}

/// `num / sqrt(s + eps)` or `num * rsqrt(s + eps)`: (num, s, eps).
struct Normalized {
  Value numerator, meanSquare;
  double eps = 0;
};
std::optional<Normalized> matchNormalized(Value v) {
  Normalized n;
  Value root;
  if (auto div = v.getDefiningOp<DivOp>()) {
    auto sqrt = div.getRhs().getDefiningOp<SqrtOp>();
    if (!sqrt)
      return std::nullopt;
    n.numerator = div.getLhs();
    root = sqrt.getInput();
  } else if (auto mul = v.getDefiningOp<MulOp>()) {
    for (auto [a, b] :
         {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())})
      if (auto rsqrt = b.getDefiningOp<RsqrtOp>()) {
        n.numerator = a;
        root = rsqrt.getInput();
      }
    if (!root)
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  auto add = root.getDefiningOp<AddOp>();
  if (!add)
    return std::nullopt;
  for (auto [a, b] : {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())})
    if (auto eps = splatValue(b); eps && *eps >= 0 && *eps < 1e-2) {
      n.meanSquare = a;
      n.eps = *eps;
      return n;
    }
  return std::nullopt;
}

/// A 1-D weight of the last dimension's size, multiplied in (either order).
std::pair<Value, Value> splitWeight(MulOp mul) {
  for (auto [a, b] :
       {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())}) {
    auto w = dyn_cast<RankedTensorType>(b.getType());
    auto x = dyn_cast<RankedTensorType>(a.getType());
    if (w && x && w.getRank() == 1 && x.getRank() >= 1 && !w.isDynamicDim(0) &&
        w.getDimSize(0) == x.getShape().back() && w.getElementType() == x.getElementType())
      return {a, b};
  }
  return {};
}

/// `normalized * w` with w a weight of the last dimension: (weight, normalization).
struct WeightedNorm {
  Value weight;
  Normalized norm;
};
std::optional<WeightedNorm> matchWeightedNorm(MulOp root) {
  auto [normed, weight] = splitWeight(root);
  if (!normed)
    return std::nullopt;
  auto n = matchNormalized(normed);
  if (!n)
    return std::nullopt;
  return WeightedNorm{weight, *n};
}

/// x / sqrt(mean(x^2) + eps) * w (or x * rsqrt(...) * w) over the last axis: rms_norm.
struct RaiseRmsNorm : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp root, PatternRewriter &rewriter) const override {
    auto m = matchWeightedNorm(root);
    if (!m)
      return failure();
    Value x = m->norm.numerator;
    Value squared = meanOverLastAxis(m->norm.meanSquare);
    if (!squared || squareOf(squared) != x || x.getType() != root.getType())
      return failure();
    rewriter.replaceOpWithNewOp<RmsNormOp>(root, x.getType(), x, m->weight,
                                           rewriter.getF32FloatAttr(float(m->norm.eps)));
    return success();
  }
};

/// (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * w [+ b] over the last axis.
struct RaiseLayerNorm : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp root, PatternRewriter &rewriter) const override {
    auto m = matchWeightedNorm(root);
    if (!m)
      return failure();
    Value weight = m->weight;
    const Normalized *n = &m->norm;
    auto centered = n->numerator.getDefiningOp<SubOp>();
    if (!centered || meanOverLastAxis(centered.getRhs()) != centered.getLhs())
      return failure();
    Value x = centered.getLhs();
    Value squared = meanOverLastAxis(n->meanSquare);
    if (!squared || squareOf(squared) != centered.getResult() || x.getType() != root.getType())
      return failure();
    // A bias added to the product alone joins the op.
    Value bias;
    Operation *replaced = root;
    if (root->hasOneUse())
      if (auto add = dyn_cast<AddOp>(*root->getUsers().begin()))
        for (Value b : {add.getLhs(), add.getRhs()})
          if (b != root.getResult() && b.getType() == weight.getType() &&
              add.getType() == root.getType()) {
            bias = b;
            replaced = add;
          }
    rewriter.setInsertionPoint(replaced);
    Value y = LayerNormOp::create(rewriter, root.getLoc(), x.getType(), x, weight, bias,
                                  rewriter.getF32FloatAttr(float(n->eps)));
    rewriter.replaceOp(replaced, y);
    return success();
  }
};

/// `x * c`, `c * x` or `x / c` with c a splat constant, repeated: (x, the product of the
/// factors). Only values used once are looked through (the product is rebuilt elsewhere).
std::pair<Value, double> stripScale(Value v) {
  double scale = 1.0;
  for (int depth = 0; depth < 3 && v.hasOneUse(); ++depth) {
    Value inner;
    if (auto mul = v.getDefiningOp<MulOp>()) {
      if (auto c = splatValue(mul.getRhs()); c && mul.getLhs().getType() == v.getType())
        inner = mul.getLhs(), scale *= *c;
      else if (auto c = splatValue(mul.getLhs()); c && mul.getRhs().getType() == v.getType())
        inner = mul.getRhs(), scale *= *c;
    } else if (auto div = v.getDefiningOp<DivOp>()) {
      if (auto c = splatValue(div.getRhs()); c && *c != 0 && div.getLhs().getType() == v.getType())
        inner = div.getLhs(), scale /= *c;
    }
    if (!inner)
      break;
    v = inner;
  }
  return {v, scale};
}

/// Scaled `q . k^T` products: q, k as [..., len, head_dim] and the scale.
struct ScaledScores {
  Value query, keyTransposed, key; // keyTransposed: [..., head_dim, len] when key is unset
  double scale = 1.0;
};
std::optional<ScaledScores> matchScaledScores(Value v) {
  auto [scores, scale] = stripScale(v);
  auto product = scores.getDefiningOp<MatmulOp>();
  if (!product || product.getTransposeLhs() || !scores.hasOneUse())
    return std::nullopt;
  ScaledScores s;
  // Exports of scaled_dot_product_attention scale q and k^T by sqrt(scale) each.
  auto [q, qScale] = stripScale(product.getLhs());
  auto [k, kScale] = stripScale(product.getRhs());
  s.query = q;
  (product.getTransposeRhs() ? s.key : s.keyTransposed) = k;
  s.scale = scale * qScale * kScale;
  return s;
}

/// Keys as [..., len, head_dim] from their transpose [..., head_dim, len]: the transpose's
/// input when that is the layout, else one transpose (merged into the one that made them).
Value untransposeKeys(PatternRewriter &rewriter, Location loc, Value keyTransposed) {
  auto type = cast<RankedTensorType>(keyTransposed.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> swap = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  std::swap(swap[rank - 2], swap[rank - 1]);
  Value source = keyTransposed;
  SmallVector<int64_t> perm = swap;
  if (auto t = keyTransposed.getDefiningOp<TransposeOp>()) {
    source = t.getInput();
    perm.assign(t.getPerm().begin(), t.getPerm().end());
    std::swap(perm[rank - 2], perm[rank - 1]);
  }
  if (llvm::equal(perm, llvm::seq<int64_t>(0, rank)))
    return source;
  SmallVector<int64_t> shape(type.getShape());
  std::swap(shape[rank - 2], shape[rank - 1]);
  return TransposeOp::create(rewriter, loc, type.clone(shape), source,
                             rewriter.getDenseI64ArrayAttr(perm));
}

/// matmul(softmax(matmul(q, k^T) * s + mask, last axis), v), the way ONNX exports spell
/// attention (the scale as a multiply or divide, on the scores or on q and k^T; the mask
/// added in either order, or absent): chitu.attention. Every intermediate must have no other
/// use, the operands one element type and the same leading (batch, head) dimensions.
struct RaiseAttention : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp root, PatternRewriter &rewriter) const override {
    if (root.getTransposeLhs() || root.getTransposeRhs())
      return failure();
    auto softmax = root.getLhs().getDefiningOp<SoftmaxOp>();
    auto probsType = cast<RankedTensorType>(root.getLhs().getType());
    int64_t rank = probsType.getRank();
    if (!softmax || !softmax->hasOneUse() || int64_t(softmax.getAxis()) != rank - 1 || rank < 2)
      return failure();
    // The softmax's input: scaled scores, plus a mask.
    std::optional<ScaledScores> scores;
    Value mask;
    Value logits = softmax.getInput();
    if (auto add = logits.getDefiningOp<AddOp>(); add && logits.hasOneUse()) {
      for (auto [a, b] :
           {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())})
        if (a.getType() == logits.getType() && (scores = matchScaledScores(a))) {
          mask = b;
          break;
        }
    }
    if (!scores && !(scores = matchScaledScores(logits)))
      return failure();
    Value value = root.getRhs();
    Type element = probsType.getElementType();
    auto sameBatch = [&](Value v) {
      auto t = cast<RankedTensorType>(v.getType());
      return t.getRank() == rank && t.getElementType() == element &&
             t.getShape().drop_back(2) == probsType.getShape().drop_back(2);
    };
    Value keySource = scores->key ? scores->key : scores->keyTransposed;
    if (!sameBatch(scores->query) || !sameBatch(keySource) || !sameBatch(value))
      return failure();
    if (mask) {
      auto m = cast<RankedTensorType>(mask.getType());
      if (m.getElementType() != element || m.getRank() > rank)
        return failure();
    }
    Value key =
        scores->key ? scores->key : untransposeKeys(rewriter, root.getLoc(), scores->keyTransposed);
    rewriter.replaceOpWithNewOp<AttentionOp>(root, root.getType(), scores->query, key, value, mask,
                                             rewriter.getF32FloatAttr(float(scores->scale)));
    return success();
  }
};

struct RaisePass : mlir::chitu::impl::RaiseBase<RaisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseGelu, RaiseRmsNorm, RaiseAttention>(&getContext());
    // Before rms_norm, which would also match (x - mean) normalised without its mean.
    patterns.add<RaiseLayerNorm>(&getContext(), /*benefit=*/2);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
