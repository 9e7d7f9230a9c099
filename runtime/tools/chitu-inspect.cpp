// chitu-inspect: show what a .cbin holds (targets, entries, kernels, tensors, weights, sizes).
#include "ToolArgs.h"
#include "core/Model.h"
#include "support/CbinQuantization.h"
#include "support/Expr.h"
#include "support/Format.h"
#include "support/Json.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

using namespace chitu;
using namespace chitu::rt;

static const char *kUsage =
    R"(usage: chitu-inspect MODEL.cbin [--json] [--weights DIR] [--symbols s0=N,...]

Describes a compiled chitu model: targets, entry functions (inputs, outputs, symbols,
checks, steps), kernels (ops, launch rule, binaries per architecture), tensors (dtype,
symbolic shape, arena offset), weights (embedded or external) and sizes; and, for given
values of the symbols, each entry's memory: the planned arena against the peak of the
activations live at once and the sum of all intermediates.

options:
  --json              print one JSON object instead of text
  --weights DIR       also check external weight files, looking in DIR first
  --symbols s0=N,...  symbol values for the memory figures (others: 1)
  --help              show this help
)";

namespace {

// The weight file an external weight was found in at compile time; none for a config-only
// compile (the loader finds the tensor by name in --weights).
const cbin::WeightFile *weightFile(const cbin::Artifact &a, const cbin::Weight *w) {
  if (w->file() == kUnresolvedWeightFile || !a.weight_files() ||
      w->file() >= a.weight_files()->size())
    return nullptr;
  return a.weight_files()->Get(w->file());
}

std::string exprText(const cbin::Expr *e, const cbin::Entry *entry) {
  return exprToString(e->code()->data(), e->code()->size(), [&](int64_t i) {
    if (entry && entry->symbols() && uint64_t(i) < entry->symbols()->size())
      return entry->symbols()->Get(uint32_t(i))->name()->str();
    return "s" + std::to_string(i);
  });
}

std::vector<std::string> dimsText(const cbin::Tensor &t, const cbin::Entry *entry) {
  std::vector<std::string> out;
  for (const cbin::Expr *d : *t.dims())
    out.push_back(exprText(d, entry));
  return out;
}

std::string joined(const std::vector<std::string> &parts) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i)
    s += (i ? ", " : "") + parts[i];
  return s;
}

std::string tensorType(const cbin::Tensor &t, const cbin::Entry *entry) {
  return std::string(dtypeName(toDType(t.dtype()))) + "[" + joined(dimsText(t, entry)) + "]";
}

const cbin::Entry *entryOfTensor(const cbin::Artifact &a, uint32_t tensor) {
  // Tensors belong to the entry that uses them (weights to none in particular).
  for (const cbin::Entry *e : *a.entries()) {
    for (uint32_t t : *e->inputs())
      if (t == tensor)
        return e;
    for (uint32_t t : *e->outputs())
      if (t == tensor)
        return e;
    for (const cbin::Step *s : *e->steps()) {
      for (uint32_t t : *s->inputs())
        if (t == tensor)
          return e;
      for (uint32_t t : *s->outputs())
        if (t == tensor)
          return e;
    }
  }
  return nullptr;
}

// Memory of an entry for given symbol values: the planned arena; the most bytes live at
// once (tensors sharing memory, views and in-place results, counted once), the lower bound
// any plan needs; and the sum of every intermediate (what no reuse at all would need).
struct Memory {
  uint64_t arena = 0, peakLive = 0, intermediates = 0;
  std::string error;
};

using SymbolValues = std::map<std::string, int64_t>;

Memory memoryOf(const cbin::Artifact &a, const cbin::Entry &e, const SymbolValues &given) {
  Memory mem;
  std::vector<int64_t> sym;
  if (e.symbols())
    for (const cbin::Symbol *s : *e.symbols()) {
      auto it = given.find(s->name()->str());
      sym.push_back(it == given.end() ? 1 : it->second);
    }
  auto eval = [&](const cbin::Expr *x) -> int64_t {
    auto v = evalExpr(x->code()->data(), x->code()->size(), sym.data(), sym.size());
    if (!v.isOk()) {
      mem.error = v.status().message();
      return 0;
    }
    return *v;
  };
  mem.arena = uint64_t(eval(e.arena_size()));
  struct Life {
    int64_t offset = 0, bytes = 0;
    int64_t first = 0, last = 0;
  };
  std::map<uint32_t, Life> lives;
  const int64_t end = int64_t(e.steps()->size());
  auto note = [&](uint32_t t, int64_t at, bool defines) {
    const cbin::Tensor *tensor = a.tensors()->Get(t);
    if (tensor->storage() != cbin::StorageKind::ARENA)
      return;
    auto [it, inserted] = lives.try_emplace(t);
    Life &l = it->second;
    if (inserted) {
      int64_t n = 1;
      for (const cbin::Expr *d : *tensor->dims())
        n *= eval(d);
      l.bytes = n * int64_t(dtypeSize(toDType(tensor->dtype())));
      l.offset = eval(tensor->arena_offset());
      l.first = l.last = at;
    }
    if (defines)
      l.first = std::min(l.first, at);
    l.last = std::max(l.last, at);
  };
  for (uint32_t t : *e.inputs())
    note(t, -1, true);
  for (int64_t s = 0; s < end; ++s) {
    const cbin::Step *step = e.steps()->Get(uint32_t(s));
    for (uint32_t t : *step->inputs())
      note(t, s, false);
    for (uint32_t t : *step->outputs())
      note(t, s, true);
  }
  for (uint32_t t : *e.outputs())
    note(t, end, false);
  for (const auto &[t, l] : lives)
    if (a.tensors()->Get(t)->name()->str().rfind("view:", 0) != 0)
      mem.intermediates += uint64_t(l.bytes);
  for (int64_t s = -1; s <= end; ++s) {
    std::vector<std::pair<int64_t, int64_t>> spans;
    for (const auto &[t, l] : lives)
      if (l.first <= s && s <= l.last && l.bytes > 0)
        spans.push_back({l.offset, l.offset + l.bytes});
    std::sort(spans.begin(), spans.end());
    int64_t covered = 0, reach = INT64_MIN;
    for (auto [b, e2] : spans) {
      if (b > reach)
        reach = b;
      if (e2 > reach) {
        covered += e2 - reach;
        reach = e2;
      }
    }
    mem.peakLive = std::max(mem.peakLive, uint64_t(covered));
  }
  return mem;
}

std::string symbolText(const cbin::Entry &e, const SymbolValues &given) {
  std::vector<std::string> parts;
  if (e.symbols())
    for (const cbin::Symbol *s : *e.symbols()) {
      auto it = given.find(s->name()->str());
      parts.push_back(s->name()->str() + "=" + std::to_string(it == given.end() ? 1 : it->second));
    }
  return parts.empty() ? "no symbols" : joined(parts);
}

struct Totals {
  uint64_t embedded = 0, external = 0, binaries = 0;
};

Totals totals(const cbin::Artifact &a) {
  Totals t;
  if (a.weights())
    for (const cbin::Weight *w : *a.weights())
      (w->embedded() ? t.embedded : t.external) += w->byte_size();
  // Kernels with the same code share one stored binary: count each once.
  std::set<const void *> seen;
  if (a.kernels())
    for (const cbin::Kernel *k : *a.kernels())
      if (k->binaries())
        for (const cbin::Binary *b : *k->binaries())
          if (seen.insert(b).second)
            t.binaries += b->cubin()->size();
  return t;
}

// What a weight is: its format when quantized, else its dtype ("bf16", "int8_rows values").
std::string weightFormat(const cbin::Weight &w) {
  auto q = decodeQuantization(w.quantization());
  if (!q)
    return dtypeName(toDType(w.dtype()));
  std::string format = schemeName(q->first);
  if (isInt4(q->first))
    format += " g" + std::to_string(w.group_size());
  return format + " " + partName(q->second);
}

// Bytes of weights per format, in first-seen order.
std::vector<std::pair<std::string, uint64_t>> bytesByFormat(const cbin::Artifact &a) {
  std::vector<std::pair<std::string, uint64_t>> out;
  if (a.weights())
    for (const cbin::Weight *w : *a.weights()) {
      std::string f = weightFormat(*w);
      auto it = std::find_if(out.begin(), out.end(), [&](const auto &p) { return p.first == f; });
      if (it == out.end())
        out.emplace_back(f, w->byte_size());
      else
        it->second += w->byte_size();
    }
  return out;
}

void printText(const Model &m, const SymbolValues &symbols) {
  const cbin::Artifact &a = m.artifact();
  Totals tot = totals(a);
  std::printf("%s: %s, schema %u, produced by %s\n", m.path().c_str(),
              humanBytes(m.fileSize()).c_str(), a.schema_version(),
              a.producer() ? a.producer()->c_str() : "?");
  std::vector<std::string> targets;
  if (a.targets())
    for (const auto *t : *a.targets())
      targets.push_back(t->str());
  std::printf("targets: %s\n", targets.empty() ? "(none: CPU only)" : joined(targets).c_str());
  std::printf("sizes: kernel binaries %s, embedded weights %s, external weights %s\n",
              humanBytes(tot.binaries).c_str(), humanBytes(tot.embedded).c_str(),
              humanBytes(tot.external).c_str());
  std::vector<std::string> formats;
  for (const auto &[format, bytes] : bytesByFormat(a))
    formats.push_back(format + " " + humanBytes(bytes));
  std::printf("weights by format: %s\n", formats.empty() ? "(none)" : joined(formats).c_str());

  for (const cbin::Entry *e : *a.entries()) {
    std::printf("\nentry '%s': %u steps, arena %s bytes\n", e->name()->c_str(), e->steps()->size(),
                exprText(e->arena_size(), e).c_str());
    Memory mem = memoryOf(a, *e, symbols);
    if (mem.error.empty())
      std::printf("  memory at %s: arena %s, peak live activations %s (arena/peak %.2f), "
                  "all intermediates %s\n",
                  symbolText(*e, symbols).c_str(), humanBytes(mem.arena).c_str(),
                  humanBytes(mem.peakLive).c_str(),
                  mem.peakLive ? double(mem.arena) / double(mem.peakLive) : 1.0,
                  humanBytes(mem.intermediates).c_str());
    else
      std::printf("  memory at %s: %s\n", symbolText(*e, symbols).c_str(), mem.error.c_str());
    if (e->symbols() && e->symbols()->size()) {
      std::printf("  symbols:\n");
      for (const cbin::Symbol *s : *e->symbols())
        std::printf("    %s = dim %u of input '%s'\n", s->name()->c_str(), s->dim(),
                    a.tensors()->Get(e->inputs()->Get(s->input()))->name()->c_str());
    }
    if (e->checks() && e->checks()->size()) {
      std::printf("  checks:\n");
      for (const cbin::Check *c : *e->checks())
        std::printf("    %s %s %s  (%s)\n", exprText(c->lhs(), e).c_str(),
                    c->kind() == cbin::CheckKind::EQ ? "==" : "<=", exprText(c->rhs(), e).c_str(),
                    c->message() ? c->message()->c_str() : "");
    }
    std::printf("  inputs:\n");
    for (uint32_t t : *e->inputs())
      std::printf("    %s: %s\n", a.tensors()->Get(t)->name()->c_str(),
                  tensorType(*a.tensors()->Get(t), e).c_str());
    std::printf("  outputs:\n");
    for (uint32_t t : *e->outputs())
      std::printf("    %s: %s\n", a.tensors()->Get(t)->name()->c_str(),
                  tensorType(*a.tensors()->Get(t), e).c_str());
    std::printf("  steps:\n");
    for (uint32_t s = 0; s < e->steps()->size(); ++s) {
      const cbin::Step *step = e->steps()->Get(s);
      std::vector<std::string> ins, outs;
      for (uint32_t t : *step->inputs())
        ins.push_back(a.tensors()->Get(t)->name()->str());
      for (uint32_t t : *step->outputs())
        outs.push_back(a.tensors()->Get(t)->name()->str() + ": " +
                       tensorType(*a.tensors()->Get(t), e));
      std::printf("    %u: %s(%s) -> %s\n", s, a.kernels()->Get(step->kernel())->name()->c_str(),
                  joined(ins).c_str(), joined(outs).c_str());
    }
    if (e->slices()) {
      std::printf("  slices (%u):\n", e->slices()->size());
      for (uint32_t i = 0; i < e->slices()->size(); ++i) {
        const cbin::Slice *s = e->slices()->Get(i);
        std::printf(
            "    %u: steps %u-%u, weights %s (%u tensors), activations %s, %u in / %u out\n", i,
            s->first_step(), s->first_step() + s->num_steps() - 1,
            humanBytes(s->weight_bytes()).c_str(), s->weights() ? s->weights()->size() : 0,
            humanBytes(s->activation_bytes()).c_str(), s->inputs() ? s->inputs()->size() : 0,
            s->outputs() ? s->outputs()->size() : 0);
      }
    }
  }

  std::printf("\nkernels (%u):\n", a.kernels() ? a.kernels()->size() : 0);
  if (a.kernels())
    for (const cbin::Kernel *k : *a.kernels()) {
      const cbin::Entry *e = a.entries()->Get(k->entry());
      std::vector<std::string> ops, grid, bins;
      for (const cbin::Op *op : *k->ops())
        ops.push_back(cbin::EnumNameOpKind(op->kind()));
      for (const cbin::Expr *g : *k->launch()->grid())
        grid.push_back(exprText(g, e));
      if (k->binaries())
        for (const cbin::Binary *b : *k->binaries())
          bins.push_back(b->arch()->str() + " " + humanBytes(b->cubin()->size()));
      std::string shared = std::to_string(k->launch()->shared_bytes()) + " B";
      if (k->tiles_when())
        grid.back() += ") tiles when (" + exprText(k->tiles_when(), e);
      if (const cbin::Expr *s = k->launch()->shared_bytes_expr())
        shared = exprText(s, e) + " B (at most " + shared + ")";
      if (const cbin::Expr *s = k->launch()->scratch_bytes())
        shared += ", global scratch " + exprText(s, e) + " B";
      std::printf("  %s: ops [%s]\n    grid (%s) block (%u, %u, %u) shared %s\n"
                  "    binaries: %s\n",
                  k->name()->c_str(), joined(ops).c_str(), joined(grid).c_str(),
                  k->launch()->block()->Get(0), k->launch()->block()->Get(1),
                  k->launch()->block()->Get(2), shared.c_str(),
                  bins.empty() ? "none" : joined(bins).c_str());
      if (const cbin::LibraryGemm *lib = k->library())
        std::printf("    library GEMM when (%s): %u product(s), A %s, %s\n",
                    exprText(lib->when(), e).c_str(), lib->products()->size(),
                    lib->a_input() >= 0 ? ("input " + std::to_string(lib->a_input())).c_str()
                                        : "written by the prologue",
                    lib->epilogue_symbol() ? "then the epilogue" : "into the outputs");
    }

  std::printf("\ntensors (%u):\n", a.tensors()->size());
  for (uint32_t i = 0; i < a.tensors()->size(); ++i) {
    const cbin::Tensor *t = a.tensors()->Get(i);
    const cbin::Entry *e = entryOfTensor(a, i);
    if (t->storage() == cbin::StorageKind::ARENA)
      std::printf("  %s: %s at arena offset %s\n", t->name()->c_str(), tensorType(*t, e).c_str(),
                  exprText(t->arena_offset(), e).c_str());
    else if (t->storage() == cbin::StorageKind::STATE)
      std::printf("  %s: %s in state '%s'\n", t->name()->c_str(), tensorType(*t, e).c_str(),
                  e ? a.tensors()->Get(e->inputs()->Get(t->state_input()))->name()->c_str() : "?");
    else
      std::printf("  %s: %s = weight '%s'\n", t->name()->c_str(), tensorType(*t, e).c_str(),
                  a.weights()->Get(t->weight())->name()->c_str());
  }

  std::printf("\nweights (%u):\n", a.weights() ? a.weights()->size() : 0);
  if (a.weights())
    for (const cbin::Weight *w : *a.weights()) {
      std::vector<std::string> dims;
      for (int64_t d : *w->dims())
        dims.push_back(std::to_string(d));
      std::string where = w->embedded()
                              ? "embedded at segment offset " + std::to_string(w->offset())
                              : "external: '" + w->tensor_name()->str() + "' " +
                                    (weightFile(a, w) ? "in " + weightFile(a, w)->name()->str()
                                                      : std::string("found by name at load"));
      std::printf("  %s: %s[%s]%s, %s, %s\n", w->name()->c_str(), dtypeName(toDType(w->dtype())),
                  joined(dims).c_str(),
                  w->quantization() == cbin::Quantization::NONE
                      ? ""
                      : (" (" + weightFormat(*w) + ")").c_str(),
                  humanBytes(w->byte_size()).c_str(), where.c_str());
    }
}

void printJson(const Model &m, const SymbolValues &symbols) {
  const cbin::Artifact &a = m.artifact();
  Totals tot = totals(a);
  JsonWriter j;
  j.beginObject();
  j.key("file").value(m.path());
  j.key("file_bytes").value(uint64_t(m.fileSize()));
  j.key("schema_version").value(uint64_t(a.schema_version()));
  j.key("producer").value(a.producer() ? a.producer()->str() : "");
  j.key("targets").beginArray();
  if (a.targets())
    for (const auto *t : *a.targets())
      j.value(t->str());
  j.endArray();
  j.key("sizes").beginObject();
  j.key("kernel_binaries").value(tot.binaries);
  j.key("embedded_weights").value(tot.embedded);
  j.key("external_weights").value(tot.external);
  j.key("weight_segment").value(uint64_t(a.segment_size()));
  j.key("weights_by_format").beginObject();
  for (const auto &[format, bytes] : bytesByFormat(a))
    j.key(format).value(bytes);
  j.endObject();
  j.endObject();

  j.key("entries").beginArray();
  for (const cbin::Entry *e : *a.entries()) {
    j.beginObject();
    j.key("name").value(e->name()->str());
    j.key("arena_bytes").value(exprText(e->arena_size(), e));
    Memory mem = memoryOf(a, *e, symbols);
    j.key("memory").beginObject();
    j.key("symbols").value(symbolText(*e, symbols));
    if (mem.error.empty()) {
      j.key("arena_bytes").value(mem.arena);
      j.key("peak_live_bytes").value(mem.peakLive);
      j.key("intermediate_bytes").value(mem.intermediates);
    } else {
      j.key("error").value(mem.error);
    }
    j.endObject();
    j.key("symbols").beginArray();
    if (e->symbols())
      for (const cbin::Symbol *s : *e->symbols()) {
        j.beginObject();
        j.key("name").value(s->name()->str());
        j.key("input").value(a.tensors()->Get(e->inputs()->Get(s->input()))->name()->str());
        j.key("dim").value(uint64_t(s->dim()));
        j.endObject();
      }
    j.endArray();
    j.key("checks").beginArray();
    if (e->checks())
      for (const cbin::Check *c : *e->checks()) {
        j.beginObject();
        j.key("lhs").value(exprText(c->lhs(), e));
        j.key("op").value(c->kind() == cbin::CheckKind::EQ ? "==" : "<=");
        j.key("rhs").value(exprText(c->rhs(), e));
        j.key("message").value(c->message() ? c->message()->str() : "");
        j.endObject();
      }
    j.endArray();
    auto tensorList = [&](const char *key, const flatbuffers::Vector<uint32_t> *ts) {
      j.key(key).beginArray();
      for (uint32_t t : *ts) {
        const cbin::Tensor *tensor = a.tensors()->Get(t);
        j.beginObject();
        j.key("name").value(tensor->name()->str());
        j.key("dtype").value(dtypeName(toDType(tensor->dtype())));
        j.key("dims").beginArray();
        for (const auto &d : dimsText(*tensor, e))
          j.value(d);
        j.endArray();
        j.endObject();
      }
      j.endArray();
    };
    tensorList("inputs", e->inputs());
    tensorList("outputs", e->outputs());
    j.key("steps").beginArray();
    for (const cbin::Step *s : *e->steps()) {
      j.beginObject();
      j.key("kernel").value(a.kernels()->Get(s->kernel())->name()->str());
      j.key("inputs").beginArray();
      for (uint32_t t : *s->inputs())
        j.value(a.tensors()->Get(t)->name()->str());
      j.endArray();
      j.key("outputs").beginArray();
      for (uint32_t t : *s->outputs())
        j.value(a.tensors()->Get(t)->name()->str());
      j.endArray();
      j.endObject();
    }
    j.endArray();
    j.endObject();
  }
  j.endArray();

  // chitu-slice's slices of every entry: their steps' kernels, weights and boundary tensors.
  j.key("slices").beginArray();
  for (const cbin::Entry *e : *a.entries()) {
    if (!e->slices())
      continue;
    for (const cbin::Slice *s : *e->slices()) {
      j.beginObject();
      j.key("entry").value(e->name()->str());
      j.key("weight_bytes").value(uint64_t(s->weight_bytes()));
      j.key("activation_bytes").value(uint64_t(s->activation_bytes()));
      j.key("ops").beginArray();
      for (uint32_t st = s->first_step(); st < s->first_step() + s->num_steps(); ++st)
        j.value(a.kernels()->Get(e->steps()->Get(st)->kernel())->name()->str());
      j.endArray();
      for (auto [key, list] : {std::pair{"weights", s->weights()}, std::pair{"inputs", s->inputs()},
                               std::pair{"outputs", s->outputs()}}) {
        j.key(key).beginArray();
        if (list)
          for (uint32_t t : *list)
            j.value(a.tensors()->Get(t)->name()->str());
        j.endArray();
      }
      j.endObject();
    }
  }
  j.endArray();

  j.key("kernels").beginArray();
  if (a.kernels())
    for (const cbin::Kernel *k : *a.kernels()) {
      const cbin::Entry *e = a.entries()->Get(k->entry());
      j.beginObject();
      j.key("name").value(k->name()->str());
      j.key("entry").value(e->name()->str());
      if (k->symbol())
        j.key("symbol").value(k->symbol()->str()); // kernels with one symbol share a binary
      if (k->tiles_symbol()) {
        j.key("tiles_symbol").value(k->tiles_symbol()->str());
        j.key("tiles_when").value(exprText(k->tiles_when(), e));
      }
      if (const cbin::LibraryGemm *lib = k->library()) {
        j.key("library").beginObject();
        j.key("when").value(exprText(lib->when(), e));
        j.key("products").value(int64_t(lib->products()->size()));
        j.key("a_input").value(int64_t(lib->a_input()));
        j.key("epilogue").value(lib->epilogue_symbol() != nullptr);
        j.endObject();
      }
      j.key("ops").beginArray();
      for (const cbin::Op *op : *k->ops())
        j.value(cbin::EnumNameOpKind(op->kind()));
      j.endArray();
      j.key("grid").beginArray();
      for (const cbin::Expr *g : *k->launch()->grid())
        j.value(exprText(g, e));
      j.endArray();
      j.key("block").beginArray();
      for (uint32_t b : *k->launch()->block())
        j.value(uint64_t(b));
      j.endArray();
      j.key("shared_bytes").value(uint64_t(k->launch()->shared_bytes()));
      if (const cbin::Expr *s = k->launch()->shared_bytes_expr())
        j.key("shared_bytes_expr").value(exprText(s, e));
      if (const cbin::Expr *s = k->launch()->scratch_bytes())
        j.key("scratch_bytes").value(exprText(s, e));
      j.key("binaries").beginArray();
      if (k->binaries())
        for (const cbin::Binary *b : *k->binaries()) {
          j.beginObject();
          j.key("arch").value(b->arch()->str());
          j.key("bytes").value(uint64_t(b->cubin()->size()));
          j.endObject();
        }
      j.endArray();
      j.endObject();
    }
  j.endArray();

  j.key("tensors").beginArray();
  for (uint32_t i = 0; i < a.tensors()->size(); ++i) {
    const cbin::Tensor *t = a.tensors()->Get(i);
    const cbin::Entry *e = entryOfTensor(a, i);
    j.beginObject();
    j.key("name").value(t->name()->str());
    j.key("dtype").value(dtypeName(toDType(t->dtype())));
    j.key("dims").beginArray();
    for (const auto &d : dimsText(*t, e))
      j.value(d);
    j.endArray();
    if (t->storage() == cbin::StorageKind::ARENA) {
      j.key("storage").value("arena");
      j.key("arena_offset").value(exprText(t->arena_offset(), e));
    } else if (t->storage() == cbin::StorageKind::STATE) {
      j.key("storage").value("state");
      if (e)
        j.key("state").value(a.tensors()->Get(e->inputs()->Get(t->state_input()))->name()->str());
    } else {
      j.key("storage").value("weight");
      j.key("weight").value(a.weights()->Get(t->weight())->name()->str());
    }
    j.endObject();
  }
  j.endArray();

  j.key("weights").beginArray();
  if (a.weights())
    for (const cbin::Weight *w : *a.weights()) {
      j.beginObject();
      j.key("name").value(w->name()->str());
      j.key("dtype").value(dtypeName(toDType(w->dtype())));
      j.key("shape").beginArray();
      for (int64_t d : *w->dims())
        j.value(d);
      j.endArray();
      j.key("bytes").value(uint64_t(w->byte_size()));
      j.key("format").value(weightFormat(*w));
      j.key("embedded").value(w->embedded());
      if (!w->embedded()) {
        if (const cbin::WeightFile *f = weightFile(a, w))
          j.key("file").value(f->name()->str());
        else
          j.key("file").null();
        j.key("tensor_name").value(w->tensor_name()->str());
      }
      j.endObject();
    }
  j.endArray();
  j.endObject();
  std::printf("%s\n", j.str().c_str());
}

} // namespace

int main(int argc, char **argv) {
  tools::Args args(argc, argv);
  std::string path, weightsDir, symbolList;
  SymbolValues symbols;
  bool json = false, checkWeights = false;
  while (!args.done()) {
    if (args.flag("--help") || args.flag("-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (args.flag("--json")) {
      json = true;
    } else if (args.option("--weights", weightsDir)) {
      checkWeights = true;
    } else if (args.option("--symbols", symbolList)) {
      for (size_t pos = 0; pos < symbolList.size();) {
        size_t comma = symbolList.find(',', pos);
        std::string item =
            symbolList.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        size_t eq = item.find('=');
        char *endp = nullptr;
        long long v = eq == std::string::npos ? -1 : std::strtoll(item.c_str() + eq + 1, &endp, 10);
        if (eq == std::string::npos || eq == 0 || !endp || *endp || v < 0)
          args.usageError("--symbols takes NAME=N pairs separated by commas, got '" + item + "'");
        symbols[item.substr(0, eq)] = v;
        if (comma == std::string::npos)
          break;
        pos = comma + 1;
      }
    } else {
      args.positional(path);
    }
  }
  if (path.empty())
    args.usageError("no model given");
  LoadOptions options;
  options.weightsDir = weightsDir;
  options.resolveExternalWeights = checkWeights;
  auto model = Model::load(path, options);
  if (!model.isOk())
    tools::fatal(args.tool(), model.status().message());
  if (json)
    printJson(**model, symbols);
  else
    printText(**model, symbols);
  return 0;
}
