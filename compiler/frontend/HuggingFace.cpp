//===- HuggingFace.cpp - Hugging Face decoder checkpoints -----------------===//

#include "frontend/HuggingFace.h"

#include "chitu/Dialect/ChituOps.h"
#include "support/Json.h"
#include "support/MappedFile.h"
#include "support/Safetensors.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/ScopeExit.h"

#include <cmath>
#include <dirent.h>
#include <map>
#include <set>
#include <sys/stat.h>

using namespace mlir;
using namespace mlir::chitu;
using ::chitu::DType;
using ::chitu::JsonValue;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

const char *kSupported = "LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM";

// Config keys that carry no meaning for inference (or that the import reads).
const std::set<std::string> kKnownKeys = {"_name_or_path",
                                          "architectures",
                                          "model_type",
                                          "torch_dtype",
                                          "dtype",
                                          "transformers_version",
                                          "use_cache",
                                          "attention_dropout",
                                          "initializer_range",
                                          "pad_token_id",
                                          "bos_token_id",
                                          "eos_token_id",
                                          "hidden_size",
                                          "intermediate_size",
                                          "num_hidden_layers",
                                          "num_attention_heads",
                                          "num_key_value_heads",
                                          "head_dim",
                                          "rms_norm_eps",
                                          "rope_theta",
                                          "rope_scaling",
                                          "rope_parameters",
                                          "max_position_embeddings",
                                          "vocab_size",
                                          "tie_word_embeddings",
                                          "hidden_act",
                                          "attention_bias",
                                          "mlp_bias",
                                          "pretraining_tp",
                                          "sliding_window",
                                          "use_sliding_window",
                                          "max_window_layers",
                                          "layer_types",
                                          "output_attentions",
                                          "output_hidden_states",
                                          "return_dict",
                                          "is_encoder_decoder",
                                          "chunk_size_feed_forward",
                                          "id2label",
                                          "label2id",
                                          "problem_type",
                                          "tokenizer_class",
                                          "prefix",
                                          "sep_token_id",
                                          "decoder_start_token_id",
                                          "task_specific_params",
                                          "torchscript",
                                          "use_bfloat16",
                                          "tf_legacy_loss",
                                          "pruned_heads",
                                          "bad_words_ids",
                                          "finetuning_task",
                                          "cross_attention_hidden_size",
                                          "add_cross_attention",
                                          "is_decoder",
                                          "tie_encoder_decoder",
                                          "quantization_config"};

struct Error {
  std::string message;
};

class Config {
public:
  Config(const JsonValue &root, std::string path) : root_(root), path_(std::move(path)) {}

  const JsonValue *get(const char *key) const {
    const JsonValue *v = root_.find(key);
    return v && !v->isNull() ? v : nullptr;
  }
  int64_t integer(const char *key, std::optional<int64_t> fallback = std::nullopt) const {
    const JsonValue *v = get(key);
    if (!v) {
      if (fallback)
        return *fallback;
      throw Error{path_ + ": the field '" + std::string(key) + "' is missing"};
    }
    if (!v->isInteger() || v->asInt() < 0)
      throw Error{path_ + ": the field '" + std::string(key) + "' must be a non-negative integer"};
    return v->asInt();
  }
  double number(const JsonValue &obj, const char *key, std::optional<double> fallback) const {
    const JsonValue *v = obj.find(key);
    if (!v || v->isNull()) {
      if (fallback)
        return *fallback;
      throw Error{path_ + ": the field '" + std::string(key) + "' is missing"};
    }
    if (!v->isNumber())
      throw Error{path_ + ": the field '" + std::string(key) + "' must be a number"};
    return v->asDouble();
  }
  double number(const char *key, std::optional<double> fallback = std::nullopt) const {
    return number(root_, key, fallback);
  }
  bool boolean(const char *key, bool fallback) const {
    const JsonValue *v = get(key);
    if (!v)
      return fallback;
    if (!v->isBool())
      throw Error{path_ + ": the field '" + std::string(key) + "' must be true or false"};
    return v->asBool();
  }
  std::string string(const char *key, const std::string &fallback = "") const {
    const JsonValue *v = get(key);
    return v && v->isString() ? v->asString() : fallback;
  }
  const JsonValue &root() const { return root_; }
  const std::string &path() const { return path_; }

private:
  const JsonValue &root_;
  std::string path_;
};

std::optional<DType> dtypeFromConfigName(const std::string &name) {
  if (name == "float32")
    return DType::F32;
  if (name == "bfloat16")
    return DType::BF16;
  if (name == "float16")
    return DType::F16;
  return std::nullopt;
}

struct RopeSpec {
  double theta = 10000.0;
  std::string type = "default";
  double factor = 1.0, lowFreqFactor = 1.0, highFreqFactor = 4.0;
  double originalMax = 8192.0;
};

RopeSpec readRope(const Config &c) {
  RopeSpec r;
  // transformers 5 writes `rope_parameters`; older configs `rope_theta` + `rope_scaling`.
  const JsonValue *params = c.get("rope_parameters");
  const JsonValue *scaling = c.get("rope_scaling");
  const JsonValue *spec = params ? params : scaling;
  r.theta = c.number("rope_theta", 10000.0);
  if (params && params->isObject())
    r.theta = c.number(*params, "rope_theta", r.theta);
  if (!spec)
    return r;
  if (!spec->isObject())
    throw Error{c.path() + ": rope scaling must be an object"};
  const JsonValue *type = spec->find("rope_type");
  if (!type || type->isNull())
    type = spec->find("type");
  r.type = type && type->isString() ? type->asString() : "default";
  if (r.type == "default")
    return r;
  if (r.type != "linear" && r.type != "llama3")
    throw Error{c.path() + ": rope scaling of type '" + r.type +
                "' is not supported (supported: default, linear, llama3)"};
  r.factor = c.number(*spec, "factor", std::nullopt);
  if (r.type == "llama3") {
    r.lowFreqFactor = c.number(*spec, "low_freq_factor", std::nullopt);
    r.highFreqFactor = c.number(*spec, "high_freq_factor", std::nullopt);
    r.originalMax = c.number(*spec, "original_max_position_embeddings", std::nullopt);
  }
  return r;
}

// The rotary frequencies, as transformers computes them (done in double, stored in f32).
std::vector<float> inverseFrequencies(const RopeSpec &r, int64_t headDim) {
  std::vector<float> out;
  for (int64_t i = 0; i < headDim; i += 2) {
    double f = 1.0 / std::pow(r.theta, double(i) / double(headDim));
    if (r.type == "linear") {
      f /= r.factor;
    } else if (r.type == "llama3") {
      double lowWave = r.originalMax / r.lowFreqFactor;
      double highWave = r.originalMax / r.highFreqFactor;
      double wave = 2 * M_PI / f;
      if (wave > lowWave) {
        f /= r.factor;
      } else if (!(wave < highWave)) { // medium frequencies: interpolate
        double smooth =
            (r.originalMax / wave - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
        f = (1 - smooth) * f / r.factor + smooth * f;
      }
    }
    out.push_back(float(f));
  }
  return out;
}

std::vector<std::string> listWeightFiles(const std::string &dir) {
  std::string index = ::chitu::joinPath(dir, "model.safetensors.index.json");
  std::vector<std::string> files;
  if (::chitu::fileExists(index)) {
    auto text = ::chitu::readFile(index);
    if (!text.isOk())
      throw Error{text.status().message()};
    auto json = ::chitu::parseJson(*text);
    const JsonValue *map = json.isOk() ? json->find("weight_map") : nullptr;
    if (!map || !map->isObject())
      throw Error{index + " has no weight_map"};
    std::set<std::string> shards;
    for (const auto &[tensor, file] : map->members())
      if (file.isString())
        shards.insert(file.asString());
    for (const std::string &s : shards) {
      std::string path = ::chitu::joinPath(dir, s);
      if (s.find('/') != std::string::npos || !::chitu::fileExists(path))
        throw Error{"the shard " + path + " named by " + index + " is missing"};
      files.push_back(path);
    }
    return files;
  }
  DIR *d = opendir(dir.c_str());
  if (!d)
    throw Error{"cannot list " + dir};
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0)
      files.push_back(::chitu::joinPath(dir, n));
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

// Builds the `forward` function op by op.
class DecoderBuilder {
public:
  DecoderBuilder(MLIRContext &ctx, ModuleOp module, Type dtype)
      : ctx_(ctx), b_(&ctx), loc_(UnknownLoc::get(&ctx)), dtype_(dtype) {
    b_.setInsertionPointToEnd(module.getBody());
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type et) {
    return RankedTensorType::get(shape, et);
  }
  Value weight(const std::string &name, ArrayRef<int64_t> shape) {
    return WeightOp::create(b_, loc_, tensor(shape, dtype_), name);
  }
  static ArrayRef<int64_t> shapeOf(Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  }
  // x [.., K] times w [N, K] transposed: [.., N]
  Value linear(Value x, Value w) {
    SmallVector<int64_t> shape(shapeOf(x));
    shape.back() = shapeOf(w)[0];
    return MatmulOp::create(b_, loc_, tensor(shape, dtype_), x, w, /*transpose_lhs=*/false,
                            /*transpose_rhs=*/true);
  }
  Value add(Value a, Value c) { return AddOp::create(b_, loc_, a.getType(), a, c); }
  Value mul(Value a, Value c) { return MulOp::create(b_, loc_, a.getType(), a, c); }
  Value silu(Value a) { return SiluOp::create(b_, loc_, a); }
  Value rmsNorm(Value x, Value w, float eps) {
    return RmsNormOp::create(b_, loc_, x.getType(), x, w, b_.getF32FloatAttr(eps));
  }
  Value dim(Value x, int64_t i) { return DimOp::create(b_, loc_, x, b_.getI64IntegerAttr(i)); }
  // [T, H*Dh] <-> [T, H, Dh]
  Value reshape(Value x, Value rows, ArrayRef<int64_t> rest) {
    SmallVector<int64_t> shape = {kDyn};
    shape.append(rest.begin(), rest.end());
    auto et = cast<RankedTensorType>(x.getType()).getElementType();
    SmallVector<int64_t> staticShape = shape;
    return ReshapeOp::create(b_, loc_, tensor(shape, et), x, ValueRange{rows},
                             b_.getDenseI64ArrayAttr(staticShape));
  }

  OpBuilder &b() { return b_; }
  Location loc() const { return loc_; }
  Type dtype() const { return dtype_; }

private:
  MLIRContext &ctx_;
  OpBuilder b_;
  Location loc_;
  Type dtype_;
};

Type mlirType(MLIRContext &ctx, DType t) {
  switch (t) {
  case DType::F16:
    return Float16Type::get(&ctx);
  case DType::BF16:
    return BFloat16Type::get(&ctx);
  default:
    return Float32Type::get(&ctx);
  }
}

} // namespace

bool mlir::chitu::isHuggingFaceDirectory(const std::string &dir) {
  return ::chitu::fileExists(::chitu::joinPath(dir, "config.json"));
}

FailureOr<HfModel> mlir::chitu::importHuggingFace(MLIRContext &context, const std::string &dir,
                                                  const HfImportOptions &options,
                                                  std::string &error) {
  try {
    std::string configPath = ::chitu::joinPath(dir, "config.json");
    auto text = ::chitu::readFile(configPath);
    if (!text.isOk())
      throw Error{text.status().message()};
    auto json = ::chitu::parseJson(*text);
    if (!json.isOk())
      throw Error{configPath + ": " + json.status().message()};
    if (!json->isObject())
      throw Error{configPath + " is not a JSON object"};
    Config c(*json, configPath);

    // --- architecture and configuration -------------------------------------------
    const JsonValue *archs = c.get("architectures");
    std::string arch =
        archs && archs->isArray() && !archs->items().empty() && archs->items()[0].isString()
            ? archs->items()[0].asString()
            : "";
    if (arch != "LlamaForCausalLM" && arch != "Qwen2ForCausalLM" && arch != "MistralForCausalLM")
      throw Error{configPath + ": architecture '" + (arch.empty() ? "(none)" : arch) +
                  "' is not supported (supported: " + kSupported + ")"};
    bool qwen2 = arch == "Qwen2ForCausalLM", mistral = arch == "MistralForCausalLM";
    std::string act = c.string("hidden_act", "silu");
    if (act != "silu")
      throw Error{configPath + ": hidden_act '" + act + "' is not supported (supported: silu)"};
    if (c.integer("pretraining_tp", 1) != 1)
      throw Error{configPath + ": pretraining_tp other than 1 is not supported"};
    if (qwen2 && c.boolean("use_sliding_window", false))
      throw Error{configPath + ": Qwen2 sliding-window layers (use_sliding_window) are not "
                               "supported"};
    if (const JsonValue *types = c.get("layer_types"))
      for (const JsonValue &t : types->items())
        if (!t.isString() || t.asString() != "full_attention")
          if (!(mistral && t.isString() && t.asString() == "sliding_attention"))
            throw Error{configPath + ": layer type '" +
                        (t.isString() ? t.asString() : std::string("?")) +
                        "' is not supported (supported: full_attention)"};
    if (c.get("quantization_config"))
      throw Error{configPath + ": quantized checkpoints are not supported yet"};

    int64_t hidden = c.integer("hidden_size"), inter = c.integer("intermediate_size");
    int64_t layers = c.integer("num_hidden_layers"), heads = c.integer("num_attention_heads");
    int64_t kvHeads = c.integer("num_key_value_heads", heads);
    int64_t vocab = c.integer("vocab_size");
    int64_t headDim = c.integer("head_dim", heads ? hidden / heads : 0);
    int64_t maxPos = c.integer("max_position_embeddings", 4096);
    if (!hidden || !heads || !kvHeads || !layers || !vocab || !inter || !headDim)
      throw Error{configPath + ": sizes must be positive"};
    if (heads % kvHeads != 0)
      throw Error{configPath + ": num_attention_heads must be a multiple of num_key_value_heads"};
    if (headDim % 2 != 0 || headDim > 256)
      throw Error{configPath + ": head_dim " + std::to_string(headDim) +
                  " is not supported (even, at most 256)"};
    float eps = float(c.number("rms_norm_eps", 1e-6));
    bool tied = c.boolean("tie_word_embeddings", false);
    bool qkvBias = qwen2 || c.boolean("attention_bias", false);
    bool oBias = !qwen2 && c.boolean("attention_bias", false);
    bool mlpBias = c.boolean("mlp_bias", false);
    int64_t window = mistral ? c.integer("sliding_window", int64_t(0)) : 0;
    RopeSpec rope = readRope(c);
    std::vector<std::string> warnings;
    for (const auto &[key, value] : c.root().members())
      if (!kKnownKeys.count(key))
        warnings.push_back(key);

    // --- weights -------------------------------------------------------------------
    HfModel model;
    model.weightFiles = listWeightFiles(dir);
    std::map<std::string, ::chitu::SafetensorsTensor> tensors;
    for (const std::string &f : model.weightFiles) {
      auto st = ::chitu::SafetensorsFile::open(f);
      if (!st.isOk())
        throw Error{st.status().message()};
      for (const auto &[name, t] : (*st)->tensors())
        tensors.emplace(name, t);
    }
    std::optional<DType> configDType =
        dtypeFromConfigName(c.string("torch_dtype", c.string("dtype", "")));
    if (!tensors.empty()) {
      const ::chitu::SafetensorsTensor &any = tensors.begin()->second;
      if (!any.dtype || !::chitu::isFloat(*any.dtype))
        throw Error{"the checkpoint's weights are " + any.dtypeName +
                    " (supported: F32, F16, BF16)"};
      model.checkpointDType = *any.dtype;
    } else {
      model.checkpointDType = configDType.value_or(DType::F32);
    }
    DType precision = options.precision.value_or(model.checkpointDType);
    Type dt = mlirType(context, precision);

    auto expect = [&](const std::string &name, std::vector<int64_t> shape) {
      if (tensors.empty())
        return; // compiled from the configuration: checked when the model is loaded
      auto it = tensors.find(name);
      if (it == tensors.end())
        throw Error{"the checkpoint has no tensor '" + name + "' (is a shard missing?)"};
      if (it->second.shape != shape) {
        std::string got, want;
        for (int64_t d : it->second.shape)
          got += (got.empty() ? "" : "x") + std::to_string(d);
        for (int64_t d : shape)
          want += (want.empty() ? "" : "x") + std::to_string(d);
        throw Error{"tensor '" + name + "' has shape " + got + ", the configuration implies " +
                    want};
      }
      if (!it->second.dtype || !::chitu::isFloat(*it->second.dtype))
        throw Error{"tensor '" + name + "' is " + it->second.dtypeName +
                    " (supported: F32, F16, BF16)"};
    };

    // --- the forward function ------------------------------------------------------
    model.module = ModuleOp::create(FileLineColLoc::get(&context, configPath, 1, 1));
    DecoderBuilder g(context, *model.module, dt);
    OpBuilder &b = g.b();
    Type i32 = b.getI32Type(), i64 = b.getI64Type(), f32 = b.getF32Type();
    int64_t bs = options.kvBlockSize;
    auto cacheType = g.tensor({kDyn, bs, kvHeads, headDim}, dt);
    SmallVector<std::pair<std::string, Type>> args = {{"tokens", g.tensor({kDyn}, i32)},
                                                      {"positions", g.tensor({kDyn}, i32)},
                                                      {"sequence_ids", g.tensor({kDyn}, i32)},
                                                      {"kv_slots", g.tensor({kDyn}, i32)},
                                                      {"block_tables", g.tensor({kDyn, kDyn}, i32)},
                                                      {"logits_index", g.tensor({kDyn}, i32)},
                                                      {"temperature", g.tensor({kDyn}, f32)},
                                                      {"top_k", g.tensor({kDyn}, i32)},
                                                      {"top_p", g.tensor({kDyn}, f32)},
                                                      {"min_p", g.tensor({kDyn}, f32)},
                                                      {"repetition_penalty", g.tensor({kDyn}, f32)},
                                                      {"history", g.tensor({kDyn, kDyn}, i32)},
                                                      {"seeds", g.tensor({kDyn}, i64)}};
    size_t numPlain = args.size();
    for (int64_t l = 0; l < layers; ++l) {
      args.push_back({"k_cache_" + std::to_string(l), cacheType});
      args.push_back({"v_cache_" + std::to_string(l), cacheType});
    }
    SmallVector<Type> argTypes;
    for (auto &a : args)
      argTypes.push_back(a.second);
    SmallVector<Type> resultTypes = {g.tensor({kDyn, vocab}, f32), g.tensor({kDyn}, i32)};
    auto func =
        func::FuncOp::create(b, g.loc(), "forward", b.getFunctionType(argTypes, resultTypes));
    for (auto [i, a] : llvm::enumerate(args)) {
      func.setArgAttr(unsigned(i), "chitu.name", b.getStringAttr(a.first));
      if (i >= numPlain)
        func.setArgAttr(unsigned(i), "chitu.state", b.getUnitAttr());
    }
    func.setResultAttr(0, "chitu.name", b.getStringAttr("logits"));
    func.setResultAttr(1, "chitu.name", b.getStringAttr("next_tokens"));
    Block *body = func.addEntryBlock();
    b.setInsertionPointToStart(body);
    auto arg = [&](const std::string &name) {
      for (auto [i, a] : llvm::enumerate(args))
        if (a.first == name)
          return body->getArgument(unsigned(i));
      llvm_unreachable("unknown argument");
    };

    Value tokens = arg("tokens"), positions = arg("positions");
    Value numTokens = g.dim(tokens, 0);
    std::vector<float> freqs = inverseFrequencies(rope, headDim);
    auto freqType = g.tensor({headDim / 2}, f32);
    Value invFreq = ConstantOp::create(b, g.loc(), freqType,
                                       DenseElementsAttr::get(freqType, ArrayRef<float>(freqs)));
    float scale = float(1.0 / std::sqrt(double(headDim)));

    expect("model.embed_tokens.weight", {vocab, hidden});
    Value embed = g.weight("model.embed_tokens.weight", {vocab, hidden});
    Value h = GatherOp::create(b, g.loc(), g.tensor({kDyn, hidden}, dt), embed, tokens,
                               b.getI64IntegerAttr(0));
    for (int64_t l = 0; l < layers; ++l) {
      // Every op of the layer gets `chitu.layer` (kernel statistics per decoder layer).
      Operation *beforeLayer = &body->back();
      llvm::scope_exit tagLayer([&, l] {
        for (Operation *op = beforeLayer->getNextNode(); op; op = op->getNextNode())
          op->setAttr("chitu.layer", b.getI64IntegerAttr(l));
      });
      std::string p = "model.layers." + std::to_string(l) + ".";
      auto w = [&](const std::string &name, std::vector<int64_t> shape) {
        expect(p + name, shape);
        return g.weight(p + name, shape);
      };
      Value x = g.rmsNorm(h, w("input_layernorm.weight", {hidden}), eps);
      Value q = g.linear(x, w("self_attn.q_proj.weight", {heads * headDim, hidden}));
      Value k = g.linear(x, w("self_attn.k_proj.weight", {kvHeads * headDim, hidden}));
      Value v = g.linear(x, w("self_attn.v_proj.weight", {kvHeads * headDim, hidden}));
      if (qkvBias) {
        q = g.add(q, w("self_attn.q_proj.bias", {heads * headDim}));
        k = g.add(k, w("self_attn.k_proj.bias", {kvHeads * headDim}));
        v = g.add(v, w("self_attn.v_proj.bias", {kvHeads * headDim}));
      }
      q = g.reshape(q, numTokens, {heads, headDim});
      k = g.reshape(k, numTokens, {kvHeads, headDim});
      v = g.reshape(v, numTokens, {kvHeads, headDim});
      q = RopeOp::create(b, g.loc(), q.getType(), q, positions, invFreq);
      k = RopeOp::create(b, g.loc(), k.getType(), k, positions, invFreq);
      Value kc = KvWriteOp::create(b, g.loc(), cacheType, arg("k_cache_" + std::to_string(l)), k,
                                   arg("kv_slots"));
      Value vc = KvWriteOp::create(b, g.loc(), cacheType, arg("v_cache_" + std::to_string(l)), v,
                                   arg("kv_slots"));
      Value o = PagedAttentionOp::create(b, g.loc(), q.getType(), q, kc, vc, arg("block_tables"),
                                         arg("sequence_ids"), positions, b.getF32FloatAttr(scale),
                                         b.getI64IntegerAttr(window));
      o = g.reshape(o, numTokens, {heads * headDim});
      Value attn = g.linear(o, w("self_attn.o_proj.weight", {hidden, heads * headDim}));
      if (oBias)
        attn = g.add(attn, w("self_attn.o_proj.bias", {hidden}));
      h = g.add(h, attn);
      x = g.rmsNorm(h, w("post_attention_layernorm.weight", {hidden}), eps);
      Value gate = g.linear(x, w("mlp.gate_proj.weight", {inter, hidden}));
      Value up = g.linear(x, w("mlp.up_proj.weight", {inter, hidden}));
      if (mlpBias) {
        gate = g.add(gate, w("mlp.gate_proj.bias", {inter}));
        up = g.add(up, w("mlp.up_proj.bias", {inter}));
      }
      Value down = g.linear(g.mul(g.silu(gate), up), w("mlp.down_proj.weight", {hidden, inter}));
      if (mlpBias)
        down = g.add(down, w("mlp.down_proj.bias", {hidden}));
      h = g.add(h, down);
    }
    // Only the rows whose logits are wanted go through the final norm and the LM head.
    Value picked = GatherOp::create(b, g.loc(), g.tensor({kDyn, hidden}, dt), h,
                                    arg("logits_index"), b.getI64IntegerAttr(0));
    expect("model.norm.weight", {hidden});
    Value normed = g.rmsNorm(picked, g.weight("model.norm.weight", {hidden}), eps);
    Value head = embed;
    if (!tied) {
      expect("lm_head.weight", {vocab, hidden});
      head = g.weight("lm_head.weight", {vocab, hidden});
    }
    Value logits = g.linear(normed, head);
    if (dt != f32)
      logits = CastOp::create(b, g.loc(), g.tensor({kDyn, vocab}, f32), logits);
    Value probs = SamplingProbsOp::create(b, g.loc(), logits.getType(), logits, arg("temperature"),
                                          arg("top_k"), arg("top_p"), arg("min_p"),
                                          arg("repetition_penalty"), arg("history"));
    Value next = MultinomialOp::create(b, g.loc(), g.tensor({kDyn}, i32), probs, arg("seeds"));
    func::ReturnOp::create(b, g.loc(), ValueRange{logits, next});

    // --- metadata --------------------------------------------------------------------
    LlmMetadata &m = model.meta;
    m.architecture = arch;
    m.vocabSize = vocab;
    m.numLayers = layers;
    m.numKvHeads = kvHeads;
    m.headDim = headDim;
    m.kvBlockSize = bs;
    m.maxContext = maxPos;
    m.slidingWindow = window;
    m.cacheDType = precision;
    auto ids = [](const JsonValue *v) {
      std::vector<int64_t> out;
      if (v && v->isInteger())
        out.push_back(v->asInt());
      else if (v && v->isArray())
        for (const JsonValue &x : v->items())
          if (x.isInteger())
            out.push_back(x.asInt());
      return out;
    };
    m.eosTokenIds = ids(c.get("eos_token_id"));
    if (auto bos = ids(c.get("bos_token_id")); !bos.empty())
      m.bosTokenId = bos[0];
    std::string genPath = ::chitu::joinPath(dir, "generation_config.json");
    if (::chitu::fileExists(genPath)) {
      auto gtext = ::chitu::readFile(genPath);
      auto gjson =
          gtext.isOk() ? ::chitu::parseJson(*gtext) : ::chitu::StatusOr<JsonValue>(gtext.status());
      if (!gjson.isOk() || !gjson->isObject())
        throw Error{genPath + " is not a valid JSON object"};
      Config gc(*gjson, genPath);
      if (auto eos = ids(gc.get("eos_token_id")); !eos.empty())
        m.eosTokenIds = eos;
      if (auto bos = ids(gc.get("bos_token_id")); !bos.empty())
        m.bosTokenId = bos[0];
      m.temperature = float(gc.number("temperature", 1.0));
      m.topP = float(gc.number("top_p", 1.0));
      m.topK = gc.integer("top_k", int64_t(0));
      m.repetitionPenalty = float(gc.number("repetition_penalty", 1.0));
      m.doSample = gc.boolean("do_sample", false);
    }
    std::string tokPath = ::chitu::joinPath(dir, "tokenizer.json");
    if (::chitu::fileExists(tokPath)) {
      auto tok = ::chitu::readFile(tokPath);
      if (!tok.isOk())
        throw Error{tok.status().message()};
      m.tokenizerJson = std::move(*tok);
    }
    if (!warnings.empty()) {
      std::string list;
      for (const auto &w : warnings)
        list += (list.empty() ? "" : ", ") + w;
      llvm::errs() << "chitu-compile: warning: " << configPath
                   << ": ignoring fields chitu does not know: " << list << "\n";
    }
    return model;
  } catch (const Error &e) {
    error = e.message;
    return failure();
  }
}
