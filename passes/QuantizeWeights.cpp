//===- QuantizeWeights.cpp - chitu-quantize-weights -----------------------===//
//
// Precision assignment for the weights of linear layers: int8 values with per-row scales,
// read through chitu.dequantize, for the weights the policy picks: the precision rules
// (first match), else weight-dtype unless `exclude` matches (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "chitu/Passes/Passes.h"
#include "support/Quantize.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/YAMLParser.h"

#include <map>
#include <optional>

namespace mlir::chitu {
#define GEN_PASS_DEF_QUANTIZEWEIGHTS
#include "chitu/Passes/Passes.h.inc"
} // namespace mlir::chitu

using namespace mlir;
using namespace mlir::chitu;

namespace {

/// What a weight becomes: int8 or fp8 (e4m3) rows, int4 groups (symmetric or with zero
/// points), or kept as imported.
enum class WeightFormat { Keep, Int8, Fp8, Int4, Int4Asym };

bool isInt4(WeightFormat format) {
  return format == WeightFormat::Int4 || format == WeightFormat::Int4Asym;
}

std::optional<WeightFormat> parseFormat(StringRef name) {
  if (name == "int8")
    return WeightFormat::Int8;
  if (name == "fp8")
    return WeightFormat::Fp8;
  if (name == "int4")
    return WeightFormat::Int4;
  if (name == "int4_asym")
    return WeightFormat::Int4Asym;
  if (name == "keep")
    return WeightFormat::Keep;
  return std::nullopt;
}

struct Rule {
  std::string where; // "rule N (file:line)" for messages
  std::string weightsPattern, opsPattern;
  std::optional<llvm::Regex> weights, ops;
  WeightFormat format = WeightFormat::Keep;
  std::optional<int64_t> groupSize; // int4: this rule's group size (else the default)
  unsigned matches = 0;             // weights (uses) its patterns match
  unsigned decided = 0;             // of those, where it was the first rule to match
};

/// A precision rule file: `weight_dtype` (optional default) and `rules` (a list of
/// {weights, ops, weight_dtype}). JSON is YAML, so one parser reads both.
struct RuleFile {
  std::optional<WeightFormat> defaultFormat;
  std::optional<int64_t> defaultGroupSize;
  std::vector<Rule> rules;
};

class RuleFileParser {
public:
  explicit RuleFileParser(StringRef path) : path_(path) {}

  /// The parsed file, or failure with `error` set (file:line:col: message).
  FailureOr<RuleFile> parse(std::string &error) {
    auto buffer = llvm::MemoryBuffer::getFile(path_);
    if (!buffer) {
      error = path_ + ": cannot read the precision rules: " + buffer.getError().message();
      return failure();
    }
    text_ = (*buffer)->getBuffer().str();
    // Syntax first (the parser reports through the source manager), then the contents.
    std::string syntaxError;
    sm_.setDiagHandler(
        [](const llvm::SMDiagnostic &d, void *out) {
          auto &message = *static_cast<std::string *>(out);
          if (message.empty())
            message = std::to_string(d.getLineNo()) + ":" + std::to_string(d.getColumnNo() + 1) +
                      ": " + d.getMessage().str();
        },
        &syntaxError);
    {
      llvm::yaml::Stream syntax(text_, sm_, /*ShowColors=*/false);
      for (llvm::yaml::Document &d : syntax)
        d.skip();
      if (syntax.failed() || !syntaxError.empty()) {
        error = path_ + ":" + syntaxError + " (not JSON or YAML)";
        return failure();
      }
    }
    llvm::yaml::Stream stream(text_, sm_, /*ShowColors=*/false);
    llvm::yaml::document_iterator doc = stream.begin();
    if (doc == stream.end() || !doc->getRoot())
      return fail(nullptr, "empty precision rules", error);
    auto *top = dyn_cast<llvm::yaml::MappingNode>(doc->getRoot());
    if (stream.failed())
      return fail(nullptr, "not JSON or YAML", error);
    if (!top)
      return fail(doc->getRoot(), "expected a mapping with 'rules' (and 'weight_dtype')", error);
    RuleFile file;
    bool sawRules = false;
    for (llvm::yaml::KeyValueNode &kv : *top) {
      std::string key;
      if (failed(scalar(kv.getKey(), key, error)))
        return failure();
      if (key == "weight_dtype") {
        std::string value;
        if (failed(scalar(kv.getValue(), value, error)))
          return failure();
        file.defaultFormat = parseFormat(value);
        if (!file.defaultFormat)
          return fail(kv.getValue(), unknownType(value), error);
      } else if (key == "group_size") {
        auto group = groupSize(kv.getValue(), error);
        if (failed(group))
          return failure();
        file.defaultGroupSize = *group;
      } else if (key == "rules") {
        sawRules = true;
        auto *list = dyn_cast_or_null<llvm::yaml::SequenceNode>(kv.getValue());
        if (!list)
          return fail(kv.getValue(), "'rules' must be a list", error);
        for (llvm::yaml::Node &item : *list) {
          auto rule = parseRule(&item, unsigned(file.rules.size()) + 1, error);
          if (failed(rule))
            return failure();
          file.rules.push_back(std::move(*rule));
        }
      } else {
        return fail(kv.getKey(),
                    "unknown key '" + key + "' (keys: rules, weight_dtype, group_size)", error);
      }
    }
    if (stream.failed())
      return fail(nullptr, "not JSON or YAML", error);
    if (!sawRules && !file.defaultFormat)
      return fail(top, "no 'rules' and no 'weight_dtype'", error);
    return file;
  }

private:
  FailureOr<Rule> parseRule(llvm::yaml::Node *node, unsigned index, std::string &error) {
    auto *map = dyn_cast<llvm::yaml::MappingNode>(node);
    if (!map)
      return fail(node, "a rule must be a mapping (weights, ops, weight_dtype)", error);
    Rule rule;
    rule.where = "rule " + std::to_string(index) + " (" + location(node) + ")";
    bool sawType = false;
    for (llvm::yaml::KeyValueNode &kv : *map) {
      std::string key, value;
      if (failed(scalar(kv.getKey(), key, error)))
        return failure();
      if (key == "group_size") {
        auto group = groupSize(kv.getValue(), error);
        if (failed(group))
          return failure();
        rule.groupSize = *group;
        continue;
      }
      if (failed(scalar(kv.getValue(), value, error)))
        return failure();
      if (key == "weights" || key == "ops") {
        llvm::Regex re(value);
        std::string why;
        if (!re.isValid(why))
          return fail(kv.getValue(), "'" + value + "' is not a regular expression: " + why, error);
        (key == "weights" ? rule.weightsPattern : rule.opsPattern) = value;
        (key == "weights" ? rule.weights : rule.ops) = std::move(re);
      } else if (key == "weight_dtype") {
        auto format = parseFormat(value);
        if (!format)
          return fail(kv.getValue(), unknownType(value), error);
        rule.format = *format;
        sawType = true;
      } else {
        return fail(kv.getKey(),
                    "unknown key '" + key + "' (keys: weights, ops, weight_dtype, group_size)",
                    error);
      }
    }
    if (!rule.weights && !rule.ops)
      return fail(node, "a rule needs 'weights' or 'ops' (regular expressions)", error);
    if (!sawType)
      return fail(node, "a rule needs 'weight_dtype'", error);
    if (rule.groupSize && !isInt4(rule.format))
      return fail(node, "'group_size' applies to int4 and int4_asym rules only", error);
    return rule;
  }

  static std::string unknownType(StringRef value) {
    return "unknown weight dtype '" + value.str() +
           "' (supported: int8, fp8, int4, int4_asym, keep)";
  }

  FailureOr<int64_t> groupSize(llvm::yaml::Node *node, std::string &error) {
    std::string value;
    if (failed(scalar(node, value, error)))
      return failure();
    int64_t group = 0;
    if (StringRef(value).getAsInteger(10, group) || !::chitu::isInt4GroupSize(group))
      return fail(node, "group_size must be 32, 64 or 128, not '" + value + "'", error);
    return group;
  }

  LogicalResult scalar(llvm::yaml::Node *node, std::string &out, std::string &error) {
    auto *s = dyn_cast_or_null<llvm::yaml::ScalarNode>(node);
    if (!s)
      return fail(node, "expected a string", error);
    SmallString<64> storage;
    out = s->getValue(storage).str();
    return success();
  }

  std::string location(llvm::yaml::Node *node) {
    if (!node)
      return path_;
    auto [line, col] = sm_.getLineAndColumn(node->getSourceRange().Start);
    return path_ + ":" + std::to_string(line) + ":" + std::to_string(col);
  }

  LogicalResult fail(llvm::yaml::Node *node, const std::string &message, std::string &error) {
    error = location(node) + ": " + message;
    return failure();
  }

  std::string path_, text_;
  llvm::SourceMgr sm_;
};

struct QuantizeWeightsPass : mlir::chitu::impl::QuantizeWeightsBase<QuantizeWeightsPass> {
  using QuantizeWeightsBase::QuantizeWeightsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](const Twine &message) {
      module.emitError("chitu-quantize-weights: ") << message;
      signalPassFailure();
    };
    std::optional<WeightFormat> defaultFormat = WeightFormat::Keep;
    if (!weightDtype.empty())
      defaultFormat = parseFormat(weightDtype);
    if (!defaultFormat || weightDtype == "keep")
      return fail("unknown weight dtype '" + weightDtype +
                  "' (supported: int8, fp8, int4, int4_asym)");
    int64_t defaultGroup = groupSize;
    RuleFile rules;
    if (!rulesFile.empty()) {
      std::string error;
      auto parsed = RuleFileParser(rulesFile).parse(error);
      if (failed(parsed))
        return fail(error);
      rules = std::move(*parsed);
      if (rules.defaultFormat)
        defaultFormat = rules.defaultFormat;
      if (rules.defaultGroupSize)
        defaultGroup = *rules.defaultGroupSize;
    }
    if (!::chitu::isInt4GroupSize(defaultGroup))
      return fail("group size " + Twine(defaultGroup) + " is not supported (32, 64 or 128)");
    llvm::Regex keep(exclude);
    std::string regexError;
    if (!exclude.empty() && !keep.isValid(regexError))
      return fail("exclude pattern '" + exclude + "' is not a regular expression: " + regexError);

    // The format (and int4 group size) of a linear layer's weight read by `op`: the first
    // matching rule's, else the default unless `exclude` matches.
    auto formatOf = [&](StringRef name, Operation *op) -> std::pair<WeightFormat, int64_t> {
      StringRef kind = op->getName().stripDialect();
      Rule *first = nullptr;
      for (Rule &rule : rules.rules)
        if ((!rule.weights || rule.weights->match(name)) && (!rule.ops || rule.ops->match(kind))) {
          ++rule.matches;
          if (!first)
            first = &rule;
        }
      if (first) {
        ++first->decided;
        return {first->format, first->groupSize.value_or(defaultGroup)};
      }
      if (!exclude.empty() && keep.match(name))
        return {WeightFormat::Keep, 0};
      return {*defaultFormat, defaultGroup};
    };

    // The quantized parts of each weight, made next to it once; a dequantize per product,
    // just before it, so that fusion can fold each into its product's kernel.
    struct Parts {
      Value values, scales, zeros;
    };
    std::map<std::tuple<Operation *, int, int64_t>, Parts> quantized;
    std::string exampleName;
    module.walk([&](MatmulOp matmul) {
      auto weight = matmul.getRhs().getDefiningOp<WeightOp>();
      if (!weight || weight.getQuantize() || !matmul.getTransposeRhs())
        return;
      auto type = cast<RankedTensorType>(weight.getType());
      if (type.getRank() != 2 || !isa<FloatType>(type.getElementType()))
        return;
      if (exampleName.empty())
        exampleName = weight.getName().str();
      auto [format, group] = formatOf(weight.getName(), matmul);
      if (format == WeightFormat::Keep)
        return;
      const int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
      const bool int4 = isInt4(format);
      if (int4 && cols % group != 0) {
        weight.emitWarning("chitu-quantize-weights: '")
            << weight.getName() << "' stays " << type.getElementType() << ": its rows of " << cols
            << " do not divide into int4 groups of " << group;
        return;
      }
      Parts &parts = quantized[{weight, int(format), int4 ? group : 0}];
      if (!parts.values) {
        OpBuilder b(weight);
        b.setInsertionPointAfter(weight);
        Location loc = weight.getLoc();
        const bool fp8 = format == WeightFormat::Fp8;
        StringAttr name = b.getStringAttr(fp8                            ? "fp8_rows"
                                          : format == WeightFormat::Int4 ? "int4_sym"
                                          : int4                         ? "int4_asym"
                                                                         : "int8_rows");
        if (!int4) {
          Type valueType = fp8 ? Type(b.getType<Float8E4M3FNType>()) : Type(b.getI8Type());
          parts.values = WeightOp::create(b, loc, RankedTensorType::get(type.getShape(), valueType),
                                          weight.getNameAttr(), name, IntegerAttr(), StringAttr());
          parts.scales = WeightOp::create(b, loc, RankedTensorType::get({rows, 1}, b.getF32Type()),
                                          weight.getNameAttr(), name, IntegerAttr(), StringAttr());
        } else {
          IntegerAttr groupAttr = b.getI64IntegerAttr(group);
          auto groups = RankedTensorType::get({rows, cols / group}, b.getF32Type());
          parts.values =
              WeightOp::create(b, loc, RankedTensorType::get({rows, cols / 2}, b.getI8Type()),
                               weight.getNameAttr(), name, groupAttr, b.getStringAttr("values"));
          parts.scales = WeightOp::create(b, loc, groups, weight.getNameAttr(), name, groupAttr,
                                          b.getStringAttr("scales"));
          if (format == WeightFormat::Int4Asym)
            parts.zeros = WeightOp::create(b, loc, groups, weight.getNameAttr(), name, groupAttr,
                                           b.getStringAttr("zeros"));
        }
      }
      OpBuilder b(matmul);
      matmul.getRhsMutable().assign(
          DequantizeOp::create(b, weight.getLoc(), type, parts.values, parts.scales, parts.zeros,
                               int4 ? b.getI64IntegerAttr(group) : IntegerAttr()));
    });
    for (const Rule &rule : rules.rules) {
      std::string what = rule.weights ? "weights '" + rule.weightsPattern + "'" : "";
      if (rule.ops)
        what += what.empty() ? "ops '" + rule.opsPattern + "'"
                             : " read by ops '" + rule.opsPattern + "'";
      if (rule.matches == 0)
        return fail(rule.where + ": " + what + " matches no linear layer's weight" +
                    (exampleName.empty() ? std::string(" (the model has none)")
                                         : " (names look like '" + exampleName + "')"));
      if (rule.decided == 0)
        return fail(rule.where + ": " + what +
                    " decides no weight: earlier rules take every weight it matches");
    }
    llvm::SmallPtrSet<Operation *, 16> erased;
    for (auto &[key, parts] : quantized)
      if (Operation *w = std::get<0>(key); w->use_empty() && erased.insert(w).second)
        w->erase();
  }
};

} // namespace
