#include "Model.h"

#include "support/CbinQuantization.h"

#include "support/Expr.h"

#include "support/Json.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <dirent.h>
#include <map>

#include <set>

namespace chitu::rt {
namespace {

std::string str(const flatbuffers::String *s) { return s ? s->str() : std::string(); }

std::string shapeText(const std::vector<int64_t> &dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// The .safetensors files of a checkpoint directory: those named by
// model.safetensors.index.json when it exists, else every *.safetensors file.
StatusOr<std::vector<std::string>> listSafetensors(const std::string &dir) {
  std::vector<std::string> files;
  std::string index = joinPath(dir, "model.safetensors.index.json");
  if (fileExists(index)) {
    auto text = readFile(index);
    if (!text.isOk())
      return text.status();
    auto json = parseJson(*text);
    const JsonValue *map = json.isOk() ? json->find("weight_map") : nullptr;
    if (!map || !map->isObject())
      return invalidArgument(index + " has no weight_map");
    std::set<std::string> names;
    for (const auto &[tensor, file] : map->members())
      if (file.isString())
        names.insert(file.asString());
    for (const std::string &n : names) {
      if (n.find('/') != std::string::npos)
        return invalidArgument(index + " names a file outside the directory: " + n);
      std::string path = joinPath(dir, n);
      if (!fileExists(path))
        return Status(StatusCode::NotFound, "shard " + path + " named by " + index + " is missing");
      files.push_back(path);
    }
    return files;
  }
  DIR *d = opendir(dir.c_str());
  if (!d)
    return ioError("cannot list " + dir);
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0)
      files.push_back(joinPath(dir, n));
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

// The FlatBuffers verifier checks the alignment of a vector's length, not of its elements:
// vectors of 8-byte scalars are checked here before anything reads them.
template <typename T> bool aligned(const flatbuffers::Vector<T> *v) {
  return !v || v->size() == 0 || reinterpret_cast<uintptr_t>(v->data()) % alignof(T) == 0;
}

Status validateExprField(const cbin::Expr *e, size_t numSymbols, const std::string &what) {
  if (!e || !e->code())
    return invalidArtifact(what + ": missing size expression");
  if (!aligned(e->code()))
    return invalidArtifact(what + ": misaligned size expression");
  return validateExpr(e->code()->data(), e->code()->size(), numSymbols).withContext(what);
}

Status validateDims(const flatbuffers::Vector<flatbuffers::Offset<cbin::Expr>> *dims,
                    size_t numSymbols, const std::string &what) {
  if (!dims)
    return invalidArtifact(what + ": missing dims");
  if (dims->size() > kMaxRank)
    return invalidArtifact(what + ": rank " + std::to_string(dims->size()) + " exceeds " +
                           std::to_string(kMaxRank));
  for (uint32_t i = 0; i < dims->size(); ++i)
    CHITU_RETURN_IF_ERROR(
        validateExprField(dims->Get(i), numSymbols, what + " dim " + std::to_string(i)));
  return Status::ok();
}

bool validDType(cbin::DType t) { return isValidDType(int(t)); }

Status validateTensor(const cbin::Artifact &a, uint32_t index, size_t numSymbols) {
  if (!a.tensors() || index >= a.tensors()->size())
    return invalidArtifact("tensor index " + std::to_string(index) + " out of range");
  const cbin::Tensor *t = a.tensors()->Get(index);
  std::string what = "tensor " + std::to_string(index) + " ('" + str(t->name()) + "')";
  if (!t->name())
    return invalidArtifact(what + ": missing name");
  if (!validDType(t->dtype()))
    return invalidArtifact(what + ": unknown dtype");
  CHITU_RETURN_IF_ERROR(validateDims(t->dims(), numSymbols, what));
  switch (t->storage()) {
  case cbin::StorageKind::ARENA:
    return validateExprField(t->arena_offset(), numSymbols, what + " arena offset");
  case cbin::StorageKind::STATE:
    return Status::ok();
  case cbin::StorageKind::WEIGHT: {
    if (!a.weights() || t->weight() >= a.weights()->size())
      return invalidArtifact(what + ": weight index out of range");
    const cbin::Weight *w = a.weights()->Get(t->weight());
    if (w->dtype() != t->dtype() || !w->dims() || w->dims()->size() != t->dims()->size())
      return invalidArtifact(what + ": does not match its weight's dtype or rank");
    return Status::ok();
  }
  }
  return invalidArtifact(what + ": unknown storage kind");
}

Status validateWeights(const cbin::Artifact &a) {
  size_t numFiles = a.weight_files() ? a.weight_files()->size() : 0;
  for (size_t i = 0; i < numFiles; ++i) {
    const cbin::WeightFile *f = a.weight_files()->Get(i);
    std::string name = str(f->name());
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      return invalidArtifact("weight file " + std::to_string(i) + " has an invalid name '" + name +
                             "'");
  }
  if (!a.weights())
    return Status::ok();
  for (uint32_t i = 0; i < a.weights()->size(); ++i) {
    const cbin::Weight *w = a.weights()->Get(i);
    std::string what = "weight " + std::to_string(i) + " ('" + str(w->name()) + "')";
    if (!w->name())
      return invalidArtifact(what + ": missing name");
    if (!validDType(w->dtype()))
      return invalidArtifact(what + ": unknown dtype");
    if (!w->dims() || w->dims()->size() > kMaxRank || !aligned(w->dims()))
      return invalidArtifact(what + ": bad shape");
    uint64_t bytes = dtypeSize(toDType(w->dtype()));
    for (int64_t d : *w->dims()) {
      if (d < 0 || __builtin_mul_overflow(bytes, uint64_t(d), &bytes))
        return invalidArtifact(what + ": bad shape");
    }
    if (bytes != w->byte_size())
      return invalidArtifact(what + ": byte size " + std::to_string(w->byte_size()) +
                             " does not match its shape (" + std::to_string(bytes) + ")");
    if (w->embedded()) {
      uint64_t end;
      if (w->offset() % kSegmentAlignment != 0 ||
          __builtin_add_overflow(w->offset(), w->byte_size(), &end) || end > a.segment_size())
        return invalidArtifact(what + ": embedded bytes lie outside the weight segment");
    } else {
      if (w->file() >= numFiles && w->file() != kUnresolvedWeightFile)
        return invalidArtifact(what + ": weight file index out of range");
      if (!w->tensor_name())
        return invalidArtifact(what + ": missing tensor name");
    }
    if (w->quantization() != cbin::Quantization::NONE) {
      auto q = decodeQuantization(w->quantization());
      if (!q)
        return invalidArtifact(what + ": unknown quantization");
      const auto [scheme, part] = *q;
      const bool int4 = isInt4(scheme);
      if (int4 && !isInt4GroupSize(int64_t(w->group_size())))
        return invalidArtifact(what + ": int4 weights need group size 32, 64 or 128");
      const cbin::DType valueType =
          scheme == WeightScheme::Fp8Rows ? cbin::DType::F8E4M3 : cbin::DType::I8;
      if (w->dims()->size() != 2)
        return invalidArtifact(what + ": a quantized weight part must be a matrix");
      if (part == WeightPart::Values && w->dtype() != valueType)
        return invalidArtifact(what + ": " + schemeName(scheme) + " values must be " +
                               (valueType == cbin::DType::I8 ? "i8" : "f8E4M3FN"));
      if (part != WeightPart::Values &&
          (w->dtype() != cbin::DType::F32 || (!int4 && w->dims()->Get(1) != 1)))
        return invalidArtifact(what + ": " + schemeName(scheme) + " " + partName(part) +
                               " must be f32" + (int4 ? "" : " [rows, 1]"));
    }
  }
  return Status::ok();
}

// Attribute counts each op kind needs that do not depend on operand ranks; rank-dependent
// checks happen when the CPU executor runs the op.
Status validateOp(const cbin::Op &op, uint32_t numValuesBefore, size_t numSymbols,
                  const std::string &what) {
  auto kind = uint32_t(op.kind());
  if (kind > uint32_t(cbin::OpKind::MAX))
    return invalidArtifact(what + ": unknown op kind " + std::to_string(kind));
  if (!validDType(op.dtype()))
    return invalidArtifact(what + ": unknown dtype");
  size_t numOperands = op.operands() ? op.operands()->size() : 0;
  if (numOperands == 0 && op.kind() != cbin::OpKind::IOTA && op.kind() != cbin::OpKind::FROM_SIZES)
    return invalidArtifact(what + ": no operands");
  if (!aligned(op.ints()) || !aligned(op.floats()))
    return invalidArtifact(what + ": misaligned attributes");
  if (op.operands())
    for (uint32_t v : *op.operands())
      if (v >= numValuesBefore)
        return invalidArtifact(what + ": operand refers to a value not yet defined");
  CHITU_RETURN_IF_ERROR(validateDims(op.dims(), numSymbols, what));
  if (op.params())
    for (uint32_t i = 0; i < op.params()->size(); ++i)
      CHITU_RETURN_IF_ERROR(validateExprField(op.params()->Get(i), numSymbols, what));
  size_t numInts = op.ints() ? op.ints()->size() : 0;
  size_t numFloats = op.floats() ? op.floats()->size() : 0;
  auto need = [&](bool ok, const char *why) {
    return ok ? Status::ok() : invalidArtifact(what + ": " + why);
  };
  switch (op.kind()) {
  case cbin::OpKind::ADD:
  case cbin::OpKind::SUB:
  case cbin::OpKind::MUL:
  case cbin::OpKind::DIV:
  case cbin::OpKind::MAXIMUM:
  case cbin::OpKind::MINIMUM:
  case cbin::OpKind::POW:
    return need(numOperands == 2, "binary op needs 2 operands");
  case cbin::OpKind::COMPARE:
    return need(numOperands == 2 && numInts == 1 && op.ints()->Get(0) >= 0 &&
                    op.ints()->Get(0) <= 5,
                "compare needs 2 operands and a predicate in [0, 5]");
  case cbin::OpKind::SELECT:
    return need(numOperands == 3, "select needs 3 operands");
  case cbin::OpKind::GATHER_ELEMENTS:
    return need(numOperands == 2 && numInts == 1, "gather_elements needs 2 operands and an axis");
  case cbin::OpKind::IOTA:
    return need(numOperands == 0 && numFloats == 2 && op.dims()->size() == 1,
                "iota needs no operands, start and step, and a 1-D result");
  case cbin::OpKind::FROM_SIZES: // (the element count is checked when the op runs)
    return need(numOperands == 0 && op.params() && op.params()->size() > 0 &&
                    op.dims()->size() <= 1,
                "from_sizes needs its sizes and a result of rank <= 1");
  case cbin::OpKind::CUMSUM:
    return need(numOperands == 1 && numInts == 3, "cumsum needs an axis and two flags");
  case cbin::OpKind::MATMUL:
    return need(numOperands == 2 && numInts == 2, "matmul needs 2 operands and 2 flags");
  case cbin::OpKind::REDUCE_SUM:
  case cbin::OpKind::REDUCE_MAX:
  case cbin::OpKind::REDUCE_MEAN:
    return need(numOperands == 1 && numInts >= 1, "reduction needs keep_dims and axes");
  case cbin::OpKind::SOFTMAX:
    return need(numOperands == 1 && numInts == 1, "softmax needs an axis");
  case cbin::OpKind::RMS_NORM:
    return need(numOperands == 2 && numFloats == 1, "rms_norm needs 2 operands and eps");
  case cbin::OpKind::LAYER_NORM:
    return need(numFloats == 1 && numInts == 1 &&
                    numOperands == size_t(2 + (op.ints()->Get(0) ? 1 : 0)),
                "layer_norm needs eps, has_bias and matching operands");
  case cbin::OpKind::SLICE:
    return need(numOperands == 1 && op.params() && op.params()->size() == op.dims()->size() &&
                    numInts == op.dims()->size(),
                "slice needs one offset and one stride per dimension");
  case cbin::OpKind::TRANSPOSE:
    return need(numOperands == 1 && numInts == op.dims()->size(),
                "transpose needs a full permutation");
  case cbin::OpKind::CONCAT:
    return need(numInts == 1, "concat needs an axis");
  case cbin::OpKind::GATHER:
    return need(numOperands == 2 && numInts == 1, "gather needs 2 operands and an axis");
  case cbin::OpKind::ROPE:
  case cbin::OpKind::KV_WRITE:
    return need(numOperands == 3, "op needs 3 operands");
  case cbin::OpKind::DEQUANTIZE:
    return need((numOperands == 2 && numInts == 0) ||
                    (numInts == 1 && (numOperands == 2 || numOperands == 3)),
                "dequantize needs values and scales (int4 groups: a group size, and optionally "
                "zero points)");
  case cbin::OpKind::ATTENTION:
    return need((numOperands == 3 || numOperands == 4) && numFloats == 1,
                "attention needs query, key, value, an optional mask and a scale");
  case cbin::OpKind::PAGED_ATTENTION:
    return need(numOperands == 6 && numFloats == 1 && numInts == 1,
                "paged_attention needs 6 operands, a scale and a window");
  case cbin::OpKind::SAMPLING_PROBS:
    return need(numOperands == 7, "sampling_probs needs 7 operands");
  case cbin::OpKind::MULTINOMIAL:
    return need(numOperands == 2, "multinomial needs 2 operands");
  default: // unary ops, cast, reshape
    return need(numOperands == 1, "op needs 1 operand");
  }
}

Status validateKernel(const cbin::Artifact &a, uint32_t index) {
  const cbin::Kernel *k = a.kernels()->Get(index);
  std::string what = "kernel " + std::to_string(index) + " ('" + str(k->name()) + "')";
  if (!k->name())
    return invalidArtifact(what + ": missing name");
  if (!a.entries() || k->entry() >= a.entries()->size())
    return invalidArtifact(what + ": entry index out of range");
  const cbin::Entry *e = a.entries()->Get(k->entry());
  size_t numSymbols = e->symbols() ? e->symbols()->size() : 0;
  uint32_t numValues = k->num_inputs();
  if (!k->ops() || k->ops()->size() == 0)
    return invalidArtifact(what + ": no ops");
  for (uint32_t j = 0; j < k->ops()->size(); ++j) {
    CHITU_RETURN_IF_ERROR(
        validateOp(*k->ops()->Get(j), numValues, numSymbols, what + " op " + std::to_string(j)));
    ++numValues;
  }
  if (!k->results() || k->results()->size() == 0)
    return invalidArtifact(what + ": no results");
  for (uint32_t r : *k->results())
    if (r < k->num_inputs() || r >= numValues)
      return invalidArtifact(what + ": result refers to no op");
  const cbin::Launch *l = k->launch();
  if (!l || !l->grid() || l->grid()->size() != 3 || !l->block() || l->block()->size() != 3)
    return invalidArtifact(what + ": launch rule needs 3 grid and 3 block dims");
  uint64_t threads = 1;
  for (uint32_t b : *l->block()) {
    if (b == 0 || b > 1024)
      return invalidArtifact(what + ": bad block size");
    threads *= b;
  }
  if (threads > 1024)
    return invalidArtifact(what + ": more than 1024 threads per block");
  for (uint32_t i = 0; i < 3; ++i)
    CHITU_RETURN_IF_ERROR(validateExprField(l->grid()->Get(i), numSymbols, what + " grid"));
  if (l->scalar_args())
    for (uint32_t i = 0; i < l->scalar_args()->size(); ++i)
      CHITU_RETURN_IF_ERROR(
          validateExprField(l->scalar_args()->Get(i), numSymbols, what + " scalar"));
  if (l->shared_bytes_expr())
    CHITU_RETURN_IF_ERROR(validateExprField(l->shared_bytes_expr(), numSymbols, what + " shared"));
  if (l->scratch_bytes())
    CHITU_RETURN_IF_ERROR(validateExprField(l->scratch_bytes(), numSymbols, what + " scratch"));
  if (!k->tiles_symbol() != !k->tiles_when())
    return invalidArtifact(what + ": tiles_symbol and tiles_when come together");
  if (k->tiles_when())
    CHITU_RETURN_IF_ERROR(validateExprField(k->tiles_when(), numSymbols, what + " tiles_when"));
  if (const cbin::LibraryGemm *lib = k->library()) {
    const std::string w = what + " library";
    if (!lib->when() || !lib->m() || !lib->k() || !lib->products() || lib->products()->size() == 0)
      return invalidArtifact(w + ": needs when, m, k and products");
    if (lib->dtype() != cbin::DType::BF16 && lib->dtype() != cbin::DType::F16)
      return invalidArtifact(w + ": the library route takes bf16 or f16 products");
    for (const cbin::Expr *x : {lib->when(), lib->m(), lib->k()})
      CHITU_RETURN_IF_ERROR(validateExprField(x, numSymbols, w));
    if (lib->a_input() >= int64_t(k->num_inputs()) ||
        (lib->a_input() < 0 && (!lib->a_symbol() || !lib->a_grid() || lib->a_grid()->size() != 3)))
      return invalidArtifact(w + ": A is neither a kernel input nor written by an A function");
    if (lib->a_grid())
      for (const cbin::Expr *x : *lib->a_grid())
        CHITU_RETURN_IF_ERROR(validateExprField(x, numSymbols, w + " A grid"));
    bool direct = true;
    for (const cbin::LibraryProduct *p : *lib->products()) {
      if (p->weight_input() >= k->num_inputs() || !p->n() ||
          p->output() >= int64_t(k->results()->size()))
        return invalidArtifact(w + ": a product names no kernel input or output");
      CHITU_RETURN_IF_ERROR(validateExprField(p->n(), numSymbols, w + " N"));
      direct &= p->output() >= 0;
      if (p->dequantized() && (!lib->b_symbol() || !lib->b_grid() || lib->b_grid()->size() != 3))
        return invalidArtifact(w + ": a dequantized product needs a B function and its grid");
    }
    if (lib->b_grid())
      for (const cbin::Expr *x : *lib->b_grid())
        CHITU_RETURN_IF_ERROR(validateExprField(x, numSymbols, w + " B grid"));
    if (!direct && !lib->epilogue_symbol())
      return invalidArtifact(w + ": products written to the workspace need an epilogue");
  }
  if (k->binaries())
    for (uint32_t i = 0; i < k->binaries()->size(); ++i) {
      const cbin::Binary *b = k->binaries()->Get(i);
      if (!b->arch() || !b->cubin() || b->cubin()->size() == 0)
        return invalidArtifact(what + ": empty binary");
    }
  return Status::ok();
}

Status validateEntry(const cbin::Artifact &a, uint32_t index, std::set<std::string> &names) {
  const cbin::Entry *e = a.entries()->Get(index);
  std::string what = "entry " + std::to_string(index) + " ('" + str(e->name()) + "')";
  if (!e->name() || !names.insert(e->name()->str()).second)
    return invalidArtifact(what + ": missing or duplicate name");
  size_t numSymbols = e->symbols() ? e->symbols()->size() : 0;
  if (!e->inputs() || !e->outputs() || !e->steps())
    return invalidArtifact(what + ": missing inputs, outputs or steps");
  std::set<std::string> ioNames;
  for (uint32_t t : *e->inputs()) {
    CHITU_RETURN_IF_ERROR(validateTensor(a, t, numSymbols).withContext(what));
    const cbin::Tensor *tensor = a.tensors()->Get(t);
    if (tensor->storage() == cbin::StorageKind::WEIGHT)
      return invalidArtifact(what + ": an input is a weight");
    if (!tensor->name() || !ioNames.insert("in:" + tensor->name()->str()).second)
      return invalidArtifact(what + ": inputs need distinct names");
  }
  for (uint32_t t : *e->outputs()) {
    CHITU_RETURN_IF_ERROR(validateTensor(a, t, numSymbols).withContext(what));
    const cbin::Tensor *tensor = a.tensors()->Get(t);
    if (!tensor->name() || !ioNames.insert("out:" + tensor->name()->str()).second)
      return invalidArtifact(what + ": outputs need distinct names");
  }
  for (uint32_t s = 0; s < numSymbols; ++s) {
    const cbin::Symbol *sym = e->symbols()->Get(s);
    if (!sym->name())
      return invalidArtifact(what + ": symbol without a name");
    if (sym->input() >= e->inputs()->size())
      return invalidArtifact(what + ": symbol bound to a missing input");
    const cbin::Tensor *in = a.tensors()->Get(e->inputs()->Get(sym->input()));
    if (sym->dim() >= in->dims()->size())
      return invalidArtifact(what + ": symbol bound to a missing dimension");
  }
  if (e->checks())
    for (uint32_t i = 0; i < e->checks()->size(); ++i) {
      const cbin::Check *c = e->checks()->Get(i);
      if (c->kind() != cbin::CheckKind::EQ && c->kind() != cbin::CheckKind::LE)
        return invalidArtifact(what + ": unknown check kind");
      CHITU_RETURN_IF_ERROR(validateExprField(c->lhs(), numSymbols, what + " check"));
      CHITU_RETURN_IF_ERROR(validateExprField(c->rhs(), numSymbols, what + " check"));
    }
  CHITU_RETURN_IF_ERROR(validateExprField(e->arena_size(), numSymbols, what + " arena"));
  for (uint32_t s = 0; s < e->steps()->size(); ++s) {
    const cbin::Step *step = e->steps()->Get(s);
    std::string swhat = what + " step " + std::to_string(s);
    if (!a.kernels() || step->kernel() >= a.kernels()->size())
      return invalidArtifact(swhat + ": kernel index out of range");
    const cbin::Kernel *k = a.kernels()->Get(step->kernel());
    if (k->entry() != index)
      return invalidArtifact(swhat + ": kernel belongs to another entry");
    if (!step->inputs() || !step->outputs() || step->inputs()->size() != k->num_inputs() ||
        step->outputs()->size() != k->results()->size())
      return invalidArtifact(swhat + ": bindings do not match the kernel");
    for (uint32_t t : *step->inputs())
      CHITU_RETURN_IF_ERROR(validateTensor(a, t, numSymbols).withContext(swhat));
    for (uint32_t t : *step->outputs()) {
      CHITU_RETURN_IF_ERROR(validateTensor(a, t, numSymbols).withContext(swhat));
      if (a.tensors()->Get(t)->storage() == cbin::StorageKind::WEIGHT)
        return invalidArtifact(swhat + ": writes to a weight");
    }
  }
  // Slices, when present, cover the steps in order.
  if (e->slices()) {
    uint64_t next = 0;
    for (uint32_t s = 0; s < e->slices()->size(); ++s) {
      const cbin::Slice *slice = e->slices()->Get(s);
      std::string swhat = what + " slice " + std::to_string(s);
      if (slice->first_step() != next || slice->num_steps() == 0)
        return invalidArtifact(swhat + ": slices must cover the steps in order");
      next += slice->num_steps();
      for (auto *list : {slice->weights(), slice->inputs(), slice->outputs()})
        if (list)
          for (uint32_t t : *list)
            CHITU_RETURN_IF_ERROR(validateTensor(a, t, numSymbols).withContext(swhat));
      if (slice->weights())
        for (uint32_t t : *slice->weights())
          if (a.tensors()->Get(t)->storage() != cbin::StorageKind::WEIGHT)
            return invalidArtifact(swhat + ": lists a tensor that is not a weight as a weight");
    }
    if (next != e->steps()->size())
      return invalidArtifact(what + ": slices must cover the steps in order");
  }
  return Status::ok();
}

} // namespace

Status validateArtifact(const cbin::Artifact &a, uint64_t fileSize, uint64_t flatbufferEnd) {
  if (a.schema_version() != kSchemaVersion)
    return Status(StatusCode::Unsupported,
                  "artifact schema version " + std::to_string(a.schema_version()) +
                      ", this runtime reads version " + std::to_string(kSchemaVersion) +
                      ": recompile the model with a matching chitu-compile");
  uint64_t segEnd;
  if (a.segment_size() > 0 &&
      (a.segment_offset() < flatbufferEnd || a.segment_offset() % kSegmentAlignment != 0 ||
       __builtin_add_overflow(a.segment_offset(), a.segment_size(), &segEnd) || segEnd > fileSize))
    return invalidArtifact("weight segment [" + std::to_string(a.segment_offset()) + ", +" +
                           std::to_string(a.segment_size()) + ") lies outside the file (" +
                           std::to_string(fileSize) + " bytes): truncated?");
  if (a.targets())
    for (uint32_t i = 0; i < a.targets()->size(); ++i)
      if (!a.targets()->Get(i))
        return invalidArtifact("missing target name");
  if (!a.entries() || a.entries()->size() == 0)
    return invalidArtifact("no entry functions");
  if (!a.tensors())
    return invalidArtifact("missing tensor table");
  CHITU_RETURN_IF_ERROR(validateWeights(a));
  if (a.kernels())
    for (uint32_t k = 0; k < a.kernels()->size(); ++k)
      CHITU_RETURN_IF_ERROR(validateKernel(a, k));
  std::set<std::string> names;
  for (uint32_t e = 0; e < a.entries()->size(); ++e)
    CHITU_RETURN_IF_ERROR(validateEntry(a, e, names));
  return Status::ok();
}

StatusOr<std::shared_ptr<Model>> Model::load(const std::string &path, const LoadOptions &options) {
  auto file = MappedFile::open(path);
  if (!file.isOk())
    return file.status();
  auto model = fromMapping(*file, options);
  if (!model.isOk())
    return model.status().withContext(path);
  return model;
}

StatusOr<std::shared_ptr<Model>> Model::loadFromMemory(const void *data, size_t size,
                                                       const LoadOptions &options) {
  return fromMapping(MappedFile::wrap(data, size), options);
}

StatusOr<std::shared_ptr<Model>> Model::fromMapping(std::shared_ptr<MappedFile> file,
                                                    const LoadOptions &options) {
  const uint8_t *data = file->data();
  uint64_t size = file->size();
  if (size < 12)
    return invalidArtifact("not a .cbin file: only " + std::to_string(size) + " bytes");
  if (!flatbuffers::BufferHasIdentifier(data, cbin::ArtifactIdentifier(),
                                        /*size_prefixed=*/true))
    return invalidArtifact("not a .cbin file (identifier 'CBIN' missing)");
  uint32_t fbSize = flatbuffers::ReadScalar<uint32_t>(data);
  uint64_t fbEnd = uint64_t(fbSize) + sizeof(uint32_t);
  if (fbEnd > size)
    return invalidArtifact("truncated .cbin: the header claims " + std::to_string(fbEnd) +
                           " bytes, the file has " + std::to_string(size));
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0)
    return invalidArtifact("artifact memory must be 8-byte aligned");
  flatbuffers::Verifier verifier(data, fbEnd, /*max_depth=*/64,
                                 /*max_tables=*/10'000'000);
  if (!cbin::VerifySizePrefixedArtifactBuffer(verifier))
    return invalidArtifact("corrupt .cbin: the flatbuffer fails verification");
  const cbin::Artifact *artifact = cbin::GetSizePrefixedArtifact(data);
  CHITU_RETURN_IF_ERROR(validateArtifact(*artifact, size, fbEnd));

  std::shared_ptr<Model> model(new Model());
  model->file_ = std::move(file);
  model->artifact_ = artifact;
  CHITU_RETURN_IF_ERROR(model->resolveWeights(options));
  return model;
}

Status Model::resolveWeights(const LoadOptions &options) {
  const cbin::Artifact &a = *artifact_;
  size_t numWeights = a.weights() ? a.weights()->size() : 0;
  weightData_.assign(numWeights, nullptr);
  for (uint32_t i = 0; i < numWeights; ++i)
    if (a.weights()->Get(i)->embedded())
      weightData_[i] = file_->data() + a.segment_offset() + a.weights()->Get(i)->offset();
  if (!options.resolveExternalWeights)
    return Status::ok();
  return mapExternalWeights(options);
}

Status Model::mapExternalWeights(const LoadOptions &options) {
  const cbin::Artifact &a = *artifact_;
  std::string cbinDir = file_->path() == "<memory>" ? "" : dirName(file_->path());
  size_t numFiles = a.weight_files() ? a.weight_files()->size() : 0;
  for (size_t i = 0; i < numFiles; ++i) {
    const cbin::WeightFile *wf = a.weight_files()->Get(i);
    std::string name = wf->name()->str();
    std::vector<std::string> candidates;
    if (!options.weightsDir.empty())
      candidates.push_back(joinPath(options.weightsDir, name));
    if (!cbinDir.empty())
      candidates.push_back(joinPath(cbinDir, name));
    if (wf->compile_dir() && wf->compile_dir()->size())
      candidates.push_back(joinPath(wf->compile_dir()->str(), name));
    std::string found;
    for (const auto &c : candidates)
      if (fileExists(c)) {
        found = c;
        break;
      }
    if (found.empty()) {
      std::string looked;
      for (const auto &c : candidates)
        looked += "\n  " + c;
      return Status(StatusCode::NotFound, "weight file '" + name + "' not found; looked in:" +
                                              looked + "\n(pass its directory with --weights DIR)");
    }
    auto st = SafetensorsFile::open(found);
    if (!st.isOk())
      return st.status();
    if ((*st)->fileSize() != wf->size() || (*st)->headerChecksum() != wf->header_checksum())
      return Status(StatusCode::InvalidArgument,
                    "weight file " + found +
                        " changed since the model was compiled (size or header checksum "
                        "differs): recompile, or point --weights at the original files");
    weightFiles_.push_back(*st);
  }

  // Weights compiled without files are found by tensor name in the weight directory.
  std::map<std::string, const SafetensorsFile *> byName;
  bool needByName = false;
  for (uint32_t i = 0; i < weightData_.size(); ++i)
    needByName |=
        !a.weights()->Get(i)->embedded() && a.weights()->Get(i)->file() == kUnresolvedWeightFile;
  if (needByName) {
    std::string dir = !options.weightsDir.empty() ? options.weightsDir : cbinDir;
    auto files = listSafetensors(dir);
    if (!files.isOk())
      return files.status();
    if (files->empty())
      return Status(StatusCode::NotFound,
                    "the model was compiled without weight files and " + dir +
                        " holds no .safetensors files (pass the checkpoint directory with "
                        "--weights DIR)");
    for (const std::string &path : *files) {
      auto st = SafetensorsFile::open(path);
      if (!st.isOk())
        return st.status();
      weightFiles_.push_back(*st);
      for (const auto &[name, t] : (*st)->tensors())
        byName.emplace(name, weightFiles_.back().get());
    }
  }

  for (uint32_t i = 0; i < weightData_.size(); ++i) {
    const cbin::Weight *w = a.weights()->Get(i);
    if (w->embedded())
      continue;
    std::string tensorName = w->tensor_name()->str();
    const SafetensorsFile *file = nullptr;
    if (w->file() == kUnresolvedWeightFile) {
      auto it = byName.find(tensorName);
      if (it == byName.end())
        return Status(StatusCode::NotFound,
                      "weight '" + tensorName +
                          "' is in none of the checkpoint's .safetensors files");
      file = it->second;
    } else {
      file = weightFiles_[w->file()].get();
    }
    const SafetensorsFile &f = *file;
    const SafetensorsTensor *t = f.find(tensorName);
    std::string what =
        "weight '" + str(w->name()) + "' (tensor '" + tensorName + "' of " + f.path() + ")";
    if (!t)
      return Status(StatusCode::NotFound, what + " is missing");
    DType source =
        isValidDType(int(w->source_dtype())) ? toDType(w->source_dtype()) : toDType(w->dtype());
    if (w->quantization() != cbin::Quantization::NONE) {
      CHITU_RETURN_IF_ERROR(quantizeAtLoad(i, *t, f, what));
      continue;
    }
    uint64_t sourceBytes = w->byte_size() / dtypeSize(toDType(w->dtype())) * dtypeSize(source);
    if (!t->dtype || *t->dtype != source || t->shape.size() != w->dims()->size() ||
        t->end - t->begin != sourceBytes)
      return invalidArtifact(what + " is " + t->dtypeName + " " + shapeText(t->shape) +
                             ", the model expects " + safetensorsDTypeName(source) + " " +
                             shapeText({w->dims()->begin(), w->dims()->end()}));
    for (size_t d = 0; d < t->shape.size(); ++d)
      if (t->shape[d] != w->dims()->Get(uint32_t(d)))
        return invalidArtifact(what + " has shape " + shapeText(t->shape) + ", the model expects " +
                               shapeText({w->dims()->begin(), w->dims()->end()}));
    if (source == toDType(w->dtype())) {
      weightData_[i] = f.data(*t);
      continue;
    }
    // Compiled for another precision than the checkpoint's: convert once, here.
    if (!isFloat(source) || !isFloat(toDType(w->dtype())))
      return invalidArtifact(what + ": only float weights can change precision");
    converted_.emplace_back(w->byte_size());
    convertFloats(f.data(*t), source, converted_.back().data(), toDType(w->dtype()),
                  w->byte_size() / dtypeSize(toDType(w->dtype())));
    weightData_[i] = converted_.back().data();
  }
  return Status::ok();
}

Status Model::quantizeAtLoad(uint32_t i, const SafetensorsTensor &t, const SafetensorsFile &f,
                             const std::string &what) {
  const cbin::Weight *w = artifact_->weights()->Get(i);
  const int64_t rows = w->dims()->Get(0);
  const auto [scheme, part] = *decodeQuantization(w->quantization()); // validated at open
  const int64_t group = int64_t(w->group_size());
  // The source's columns the part's own shape implies (int8 / fp8 scales: any).
  const int64_t partCols = w->dims()->Get(1);
  const int64_t cols = !isInt4(scheme)              ? (part == WeightPart::Values ? partCols : -1)
                       : part == WeightPart::Values ? partCols * 2
                                                    : partCols * group;
  if (!t.dtype || !isFloat(*t.dtype) || t.shape.size() != 2 || t.shape[0] != rows ||
      (cols >= 0 && t.shape[1] != cols))
    return invalidArtifact(what + " is " + t.dtypeName + " " + shapeText(t.shape) +
                           ", the model quantizes a float matrix of " + std::to_string(rows) +
                           " rows" +
                           (cols >= 0 ? " and " + std::to_string(cols) + " columns" : ""));
  const std::string key =
      f.path() + "\n" + t.name + "\n" + schemeName(scheme) + "\n" + std::to_string(group);
  auto it = quantized_.find(key);
  if (it == quantized_.end()) {
    QuantizedWeight parts;
    int64_t badRow = 0;
    if (!quantizeWeight(scheme, group, f.data(t), *t.dtype, rows, t.shape[1], parts, badRow))
      return invalidArgument(what + ": row " + std::to_string(badRow) +
                             " holds a NaN or an infinity and cannot be quantized");
    it = quantized_.emplace(key, std::move(parts)).first;
  }
  const QuantizedWeight &parts = it->second;
  if (parts.bytes(part) != w->byte_size())
    return invalidArtifact(what + ": quantized to " + std::to_string(parts.bytes(part)) +
                           " bytes, the model expects " + std::to_string(w->byte_size()));
  weightData_[i] = static_cast<const uint8_t *>(parts.data(part));
  return Status::ok();
}

int Model::findEntry(const std::string &name) const {
  const auto *entries = artifact_->entries();
  for (uint32_t i = 0; i < entries->size(); ++i)
    if (entries->Get(i)->name()->str() == name)
      return int(i);
  return -1;
}

const cbin::Tensor &Model::inputTensor(int entry, int index) const {
  const cbin::Entry *e = artifact_->entries()->Get(entry);
  return *artifact_->tensors()->Get(e->inputs()->Get(index));
}

const cbin::Tensor &Model::outputTensor(int entry, int index) const {
  const cbin::Entry *e = artifact_->entries()->Get(entry);
  return *artifact_->tensors()->Get(e->outputs()->Get(index));
}

int Model::findInput(int entry, const std::string &name) const {
  const cbin::Entry *e = artifact_->entries()->Get(entry);
  for (uint32_t i = 0; i < e->inputs()->size(); ++i)
    if (inputTensor(entry, int(i)).name()->str() == name)
      return int(i);
  return -1;
}

int Model::findOutput(int entry, const std::string &name) const {
  const cbin::Entry *e = artifact_->entries()->Get(entry);
  for (uint32_t i = 0; i < e->outputs()->size(); ++i)
    if (outputTensor(entry, int(i)).name()->str() == name)
      return int(i);
  return -1;
}

std::vector<int64_t> Model::declaredDims(const cbin::Tensor &t) const {
  std::vector<int64_t> dims;
  for (uint32_t i = 0; i < t.dims()->size(); ++i) {
    const auto *code = t.dims()->Get(i)->code();
    if (code->size() == 2 && code->Get(0) == int64_t(ExprOpcode::PushConst))
      dims.push_back(code->Get(1));
    else
      dims.push_back(-1);
  }
  return dims;
}

} // namespace chitu::rt
