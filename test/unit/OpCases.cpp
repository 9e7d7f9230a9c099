#include "OpCases.h"

#include "support/Float16.h"
#include "support/MappedFile.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#ifndef CHITU_DEFAULT_OP_CASES
#define CHITU_DEFAULT_OP_CASES ""
#endif

namespace chitu::test {

int64_t NdArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

std::vector<uint8_t> NdArray::toBytes() const {
  std::vector<uint8_t> out(size_t(numel()) * dtypeSize(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    double v = values[i];
    uint8_t *p = out.data() + i * dtypeSize(dtype);
    switch (dtype) {
    case DType::F32: {
      float f = float(v);
      std::memcpy(p, &f, 4);
      break;
    }
    case DType::F16: {
      uint16_t h = floatToF16(float(v));
      std::memcpy(p, &h, 2);
      break;
    }
    case DType::BF16: {
      uint16_t h = floatToBf16(float(v));
      std::memcpy(p, &h, 2);
      break;
    }
    case DType::I32: {
      int32_t x = int32_t(v);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::I64: {
      int64_t x = int64_t(v);
      std::memcpy(p, &x, 8);
      break;
    }
    case DType::BOOL:
      p[0] = v != 0;
      break;
    case DType::I8:
      p[0] = uint8_t(int8_t(v));
      break;
    case DType::F8E4M3:
      p[0] = floatToF8e4m3(float(v));
      break;
    }
  }
  return out;
}

NdArray NdArray::fromBytes(DType dtype, std::vector<int64_t> dims,
                           const std::vector<uint8_t> &bytes) {
  NdArray a;
  a.dtype = dtype;
  a.dims = std::move(dims);
  size_t n = bytes.size() / dtypeSize(dtype);
  a.values.resize(n);
  for (size_t i = 0; i < n; ++i)
    a.values[i] = elementAsDouble(dtype, bytes.data(), i);
  return a;
}

std::string opCasesDir() {
  if (const char *dir = std::getenv("CHITU_OP_CASES"))
    return dir;
  return CHITU_DEFAULT_OP_CASES;
}

std::vector<OpCase> loadOpCases(std::string &error) {
  std::string dir = opCasesDir();
  auto text = readFile(joinPath(dir, "manifest.json"));
  if (!text.isOk()) {
    error = text.status().message() +
            " (generate the cases with test/ops/gen_op_cases.py, or set CHITU_OP_CASES)";
    return {};
  }
  auto json = parseJson(*text);
  if (!json.isOk() || !json->isArray()) {
    error = "manifest.json is not a JSON array";
    return {};
  }
  std::vector<OpCase> cases;
  for (const JsonValue &c : json->items()) {
    OpCase oc;
    oc.name = c.find("name")->asString();
    oc.kind = c.find("kind")->asString();
    oc.op = c.find("op")->asString();
    if (auto dt = parseDTypeName(c.find("dtype")->asString()))
      oc.dtype = *dt;
    oc.cbin = joinPath(dir, c.find("cbin")->asString());
    oc.attrs = *c.find("attrs");
    for (const JsonValue &in : c.find("inputs")->items()) {
      InputSpec s;
      s.name = in.find("name")->asString();
      s.dtype = *parseDTypeName(in.find("dtype")->asString());
      for (const JsonValue &d : in.find("shape")->items())
        s.shape.push_back(d.asInt());
      if (const JsonValue *m = in.find("min"))
        s.minDim = m->asInt();
      if (const JsonValue *g = in.find("grow"))
        s.grow = g->asInt();
      if (const JsonValue *g = in.find("grouped"))
        s.grouped = g->asBool();
      if (const JsonValue *c = in.find("consecutive_in"))
        s.consecutiveIn = c->asString();
      if (const JsonValue *r = in.find("range")) {
        s.hasRange = true;
        s.lo = r->items()[0].asInt();
        s.hi = r->items()[1].asInt();
      }
      if (const JsonValue *m = in.find("mask"))
        s.causalMask = m->asBool();
      if (const JsonValue *r = in.find("frange")) {
        s.hasFRange = true;
        s.flo = r->items()[0].asDouble();
        s.fhi = r->items()[1].asDouble();
      }
      if (const JsonValue *st = in.find("state"))
        s.state = st->asBool();
      if (const JsonValue *so = in.find("slots_of"))
        s.slotsOf = so->asString();
      oc.inputs.push_back(std::move(s));
    }
    cases.push_back(std::move(oc));
  }
  return cases;
}

std::vector<NdArray> makeInputs(const OpCase &c, int64_t n, std::mt19937_64 &rng) {
  std::vector<NdArray> inputs;
  for (const InputSpec &s : c.inputs) {
    NdArray a;
    a.dtype = s.dtype;
    for (int64_t d : s.shape)
      a.dims.push_back(d < 0 ? std::max(n * s.grow, s.minDim) : d);
    a.values.resize(size_t(a.numel()));
    if (s.causalMask) {
      int64_t cols = a.dims.back();
      for (size_t i = 0; i < a.values.size(); ++i)
        a.values[i] =
            int64_t(i) % cols > int64_t(i) / cols ? -std::numeric_limits<double>::infinity() : 0.0;
    } else if (!s.slotsOf.empty()) {
      // Distinct slots of the cache (duplicates would race), about one in five skipped.
      const NdArray *cache = nullptr;
      for (size_t j = 0; j < inputs.size(); ++j)
        if (c.inputs[j].name == s.slotsOf)
          cache = &inputs[j];
      int64_t numSlots = cache->dims[0] * cache->dims[1];
      std::vector<int64_t> all(static_cast<size_t>(numSlots));
      for (int64_t k = 0; k < numSlots; ++k)
        all[size_t(k)] = k;
      std::shuffle(all.begin(), all.end(), rng);
      for (size_t k = 0; k < a.values.size(); ++k)
        a.values[k] = (rng() % 5 == 0 || k >= all.size()) ? -1.0 : double(all[k]);
    } else if (s.grouped) {
      // Up to 3 runs of distinct values, run lengths random.
      std::uniform_int_distribution<int64_t> value(s.lo, s.hi - 1);
      size_t count = a.values.size(), runs = 1 + rng() % 3;
      std::vector<size_t> cuts{0, count};
      for (size_t r = 1; r < runs && count > 0; ++r)
        cuts.push_back(rng() % count);
      std::sort(cuts.begin(), cuts.end());
      int64_t previous = s.lo - 1;
      for (size_t r = 0; r + 1 < cuts.size(); ++r) {
        int64_t v = value(rng);
        if (s.hi - s.lo > 1)
          while (v == previous)
            v = value(rng);
        for (size_t k = cuts[r]; k < cuts[r + 1]; ++k)
          a.values[k] = double(v);
        if (cuts[r + 1] > cuts[r])
          previous = v;
      }
    } else if (!s.consecutiveIn.empty()) {
      const NdArray *runsOf = nullptr;
      for (size_t j = 0; j < inputs.size(); ++j)
        if (c.inputs[j].name == s.consecutiveIn)
          runsOf = &inputs[j];
      for (size_t k = 0; k < a.values.size();) {
        size_t end = k;
        while (end < a.values.size() && runsOf->values[end] == runsOf->values[k])
          ++end;
        int64_t room = std::max<int64_t>(s.hi - int64_t(end - k), 0);
        int64_t start = int64_t(rng() % uint64_t(room + 1));
        for (size_t i = k; i < end; ++i)
          a.values[i] = double(std::min<int64_t>(start + int64_t(i - k), s.hi - 1));
        k = end;
      }
    } else if (s.dtype == DType::F8E4M3) { // fp8 values of [flo, fhi] (default +-448)
      std::uniform_real_distribution<double> dist(s.hasFRange ? s.flo : -448.0,
                                                  s.hasFRange ? s.fhi : 448.0);
      for (double &v : a.values)
        v = f8e4m3ToFloat(floatToF8e4m3(float(dist(rng))));
    } else if (isFloat(s.dtype) && s.hasRange) { // integer-valued floats (int4 zero points)
      std::uniform_int_distribution<int64_t> dist(s.lo, s.hi - 1);
      for (double &v : a.values)
        v = double(dist(rng));
    } else if (isFloat(s.dtype)) {
      std::uniform_real_distribution<double> dist(s.hasFRange ? s.flo : -2.0,
                                                  s.hasFRange ? s.fhi : 2.0);
      for (double &v : a.values) {
        float f = float(dist(rng));
        v = s.dtype == DType::BF16 ? roundToBf16(f) : s.dtype == DType::F16 ? roundToF16(f) : f;
      }
    } else {
      std::uniform_int_distribution<int64_t> dist(s.hasRange ? s.lo : -5,
                                                  s.hasRange ? s.hi - 1 : 5);
      for (double &v : a.values)
        v = double(dist(rng));
    }
    inputs.push_back(std::move(a));
  }
  return inputs;
}

std::string runCase(const OpCase &c, chitu_device device, const std::vector<NdArray> &inputs,
                    std::vector<NdArray> &outputs) {
  chitu_model *model = nullptr;
  if (chitu_model_load(c.cbin.c_str(), nullptr, &model) != CHITU_OK)
    return std::string("load: ") + chitu_last_error();
  chitu_session *session = nullptr;
  std::string error;
  if (chitu_session_create(model, device, 0, &session) != CHITU_OK) {
    error = std::string("session: ") + chitu_last_error();
    chitu_model_free(model);
    return error;
  }
  for (size_t i = 0; i < inputs.size() && error.empty(); ++i) {
    std::vector<uint8_t> bytes = inputs[i].toBytes();
    if (c.inputs[i].state) {
      if (chitu_session_set_state(session, c.inputs[i].name.c_str(),
                                  chitu_dtype(int(inputs[i].dtype)), inputs[i].dims.data(),
                                  int(inputs[i].dims.size()), bytes.data(),
                                  bytes.size()) != CHITU_OK)
        error = std::string("set_state: ") + chitu_last_error();
      continue;
    }
    if (chitu_session_set_input(session, 0, c.inputs[i].name.c_str(),
                                chitu_dtype(int(inputs[i].dtype)), inputs[i].dims.data(),
                                int(inputs[i].dims.size()), bytes.data(), bytes.size()) != CHITU_OK)
      error = std::string("set_input: ") + chitu_last_error();
  }
  if (error.empty() && chitu_session_run(session, 0) != CHITU_OK)
    error = std::string("run: ") + chitu_last_error();
  outputs.clear();
  for (int o = 0; error.empty() && o < chitu_model_num_outputs(model, 0); ++o) {
    chitu_tensor_info info;
    chitu_model_output_info(model, 0, o, &info);
    std::string name = info.name;
    if (chitu_session_output_info(session, 0, name.c_str(), &info) != CHITU_OK) {
      error = chitu_last_error();
      break;
    }
    std::vector<int64_t> dims(info.dims, info.dims + info.rank);
    size_t bytes = dtypeSize(DType(int(info.dtype)));
    for (int64_t d : dims)
      bytes *= size_t(d);
    std::vector<uint8_t> data(bytes);
    if (chitu_session_get_output(session, 0, name.c_str(), data.data(), bytes) != CHITU_OK) {
      error = chitu_last_error();
      break;
    }
    outputs.push_back(NdArray::fromBytes(DType(int(info.dtype)), dims, data));
  }
  chitu_session_free(session);
  chitu_model_free(model);
  return error;
}

std::string compare(const NdArray &out, const NdArray &ref, double tol) {
  if (out.dims != ref.dims) {
    std::string s = "shape [";
    for (int64_t d : out.dims)
      s += std::to_string(d) + " ";
    s += "] differs from the reference [";
    for (int64_t d : ref.dims)
      s += std::to_string(d) + " ";
    return s + "]";
  }
  if (out.values.size() != ref.values.size())
    return "element counts differ";
  double diff2 = 0, ref2 = 0;
  for (size_t i = 0; i < out.values.size(); ++i) {
    double o = out.values[i], r = ref.values[i];
    if (std::isnan(o) || std::isnan(r)) {
      if (std::isnan(o) != std::isnan(r))
        return "element " + std::to_string(i) + ": " + std::to_string(o) + " vs reference " +
               std::to_string(r) + " (NaN mismatch)";
      continue;
    }
    if (std::isinf(o) || std::isinf(r)) {
      if (o != r)
        return "element " + std::to_string(i) + ": " + std::to_string(o) + " vs reference " +
               std::to_string(r) + " (infinity mismatch)";
      continue;
    }
    if (!isFloat(out.dtype)) {
      if (o != r)
        return "element " + std::to_string(i) + ": " + std::to_string(int64_t(o)) +
               " vs reference " + std::to_string(int64_t(r));
      continue;
    }
    diff2 += (o - r) * (o - r);
    ref2 += r * r;
  }
  double rel = std::sqrt(diff2) / std::max(std::sqrt(ref2), 1e-30);
  if (ref2 == 0 && diff2 == 0)
    rel = 0;
  if (rel > tol)
    return "relative error " + std::to_string(rel) + " exceeds " + std::to_string(tol);
  return "";
}

double tolerance(DType t) {
  switch (t) {
  case DType::F32:
    return 1e-5;
  case DType::F16:
    return 2e-3;
  case DType::BF16:
    return 1e-2;
  default:
    return 0;
  }
}

uint64_t testSeed() {
  static uint64_t seed = [] {
    if (const char *s = std::getenv("CHITU_TEST_SEED"))
      return uint64_t(std::strtoull(s, nullptr, 10));
    return uint64_t(std::random_device()()) << 32 | std::random_device()();
  }();
  return seed;
}

} // namespace chitu::test
