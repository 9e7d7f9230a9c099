// Straightforward reference implementations of the chitu ops, written independently of
// the CPU executor: double precision, one output element at a time from its coordinates.
#include "Reference.h"

#include "cpu/Scalar.h"
#include "support/Float16.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace chitu::test {
namespace {

using Dims = std::vector<int64_t>;

Dims coordsOf(int64_t linear, const Dims &dims) {
  Dims c(dims.size());
  for (size_t k = dims.size(); k-- > 0;) {
    c[k] = dims[k] ? linear % dims[k] : 0;
    linear = dims[k] ? linear / dims[k] : 0;
  }
  return c;
}

int64_t linearOf(const Dims &coords, const Dims &dims) {
  int64_t l = 0;
  for (size_t k = 0; k < dims.size(); ++k)
    l = l * dims[k] + coords[k];
  return l;
}

double at(const NdArray &a, const Dims &coords) {
  return a.values[size_t(linearOf(coords, a.dims))];
}

// Reads `a` at result coordinates `c` with NumPy broadcasting.
double broadcastAt(const NdArray &a, const Dims &c) {
  Dims ac(a.dims.size());
  size_t off = c.size() - a.dims.size();
  for (size_t k = 0; k < a.dims.size(); ++k)
    ac[k] = a.dims[k] == 1 ? 0 : c[off + k];
  return at(a, ac);
}

Dims broadcastDims(const Dims &a, const Dims &b) {
  size_t r = std::max(a.size(), b.size());
  Dims out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

double wrap(double v, DType t) {
  // Integer results wrap like two's complement of their width.
  if (t == DType::I32)
    return double(int32_t(uint32_t(uint64_t(int64_t(v)))));
  return v;
}

NdArray make(DType t, Dims dims) {
  NdArray a;
  a.dtype = t;
  a.dims = std::move(dims);
  a.values.assign(size_t(a.numel()), 0.0);
  return a;
}

void forEach(NdArray &out, const std::function<double(const Dims &)> &f) {
  for (int64_t i = 0; i < out.numel(); ++i)
    out.values[size_t(i)] = f(coordsOf(i, out.dims));
}

double binary(const std::string &op, double a, double b, DType t) {
  bool isInt = !isFloat(t);
  if (op == "add")
    return isInt ? wrap(a + b, t) : a + b;
  if (op == "sub")
    return isInt ? wrap(a - b, t) : a - b;
  if (op == "mul")
    return isInt ? wrap(a * b, t) : a * b;
  if (op == "div") {
    if (!isInt)
      return a / b;
    return b == 0 ? 0 : wrap(std::trunc(a / b), t);
  }
  if (op == "pow")
    return std::pow(a, b);
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<double>::quiet_NaN();
  if (op == "max")
    return std::max(a, b);
  return std::min(a, b);
}

double unary(const std::string &op, double x, DType t) {
  if (op == "neg")
    return isFloat(t) ? -x : wrap(-x, t);
  if (op == "abs")
    return isFloat(t) ? std::fabs(x) : wrap(std::fabs(x), t);
  if (op == "erf")
    return std::erf(x);
  if (op == "relu")
    return std::isnan(x) ? x : std::max(x, 0.0);
  if (op == "exp")
    return std::exp(x);
  if (op == "log")
    return std::log(x);
  if (op == "sqrt")
    return std::sqrt(x);
  if (op == "rsqrt")
    return 1.0 / std::sqrt(x);
  if (op == "tanh")
    return std::tanh(x);
  if (op == "sigmoid")
    return 1.0 / (1.0 + std::exp(-x));
  if (op == "silu")
    return x / (1.0 + std::exp(-x));
  if (op == "gelu")
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

double castTo(double x, DType t) {
  switch (t) {
  case DType::F32:
    return double(float(x));
  case DType::F16:
    return roundToF16(float(x));
  case DType::BF16:
    return roundToBf16(float(x));
  case DType::BOOL:
    return x != 0; // NaN too
  case DType::I32:
  case DType::I64: {
    if (std::isnan(x))
      return 0;
    double lo = t == DType::I32 ? -2147483648.0 : -9223372036854775808.0;
    double hi = t == DType::I32 ? 2147483647.0 : 9223372036854775807.0;
    return std::min(std::max(std::trunc(x), lo), hi);
  }
  }
  return x;
}

std::vector<int64_t> ints(const JsonValue &v) {
  std::vector<int64_t> out;
  for (const JsonValue &i : v.items())
    out.push_back(i.asInt());
  return out;
}

} // namespace

std::string reference(const OpCase &c, const std::vector<NdArray> &in, NdArray &out) {
  const std::string &op = c.op;
  const JsonValue &attrs = c.attrs;
  DType t = c.dtype;
  if (op == "add" || op == "sub" || op == "mul" || op == "div" || op == "max" || op == "min" ||
      op == "pow") {
    out = make(t, broadcastDims(in[0].dims, in[1].dims));
    forEach(out, [&](const Dims &k) {
      return binary(op, broadcastAt(in[0], k), broadcastAt(in[1], k), t);
    });
  } else if (op == "cast") {
    out = make(t, in[0].dims);
    for (size_t i = 0; i < out.values.size(); ++i)
      out.values[i] = castTo(in[0].values[i], t);
  } else if (op == "matmul") {
    bool ta = attrs.find("transpose_lhs")->asBool(), tb = attrs.find("transpose_rhs")->asBool();
    const NdArray &a = in[0], &b = in[1];
    size_t ra = a.dims.size(), rb = b.dims.size();
    int64_t M = ta ? a.dims[ra - 1] : a.dims[ra - 2];
    int64_t K = ta ? a.dims[ra - 2] : a.dims[ra - 1];
    int64_t N = tb ? b.dims[rb - 2] : b.dims[rb - 1];
    Dims batch = broadcastDims(Dims(a.dims.begin(), a.dims.end() - 2),
                               Dims(b.dims.begin(), b.dims.end() - 2));
    Dims od = batch;
    od.push_back(M);
    od.push_back(N);
    out = make(t, od);
    forEach(out, [&](const Dims &k) {
      size_t r = k.size();
      Dims bc(k.begin(), k.end() - 2);
      double acc = 0;
      for (int64_t kk = 0; kk < K; ++kk) {
        Dims ca = bc, cb = bc;
        ca.push_back(ta ? kk : k[r - 2]);
        ca.push_back(ta ? k[r - 2] : kk);
        cb.push_back(tb ? k[r - 1] : kk);
        cb.push_back(tb ? kk : k[r - 1]);
        acc += broadcastAt(a, ca) * broadcastAt(b, cb);
      }
      return acc;
    });
  } else if (op == "reduce_sum" || op == "reduce_max" || op == "reduce_mean") {
    std::vector<int64_t> axes = ints(*attrs.find("axes"));
    bool keep = attrs.find("keep_dims")->asBool();
    const NdArray &x = in[0];
    Dims od, full;
    for (size_t d = 0; d < x.dims.size(); ++d) {
      bool r = std::count(axes.begin(), axes.end(), int64_t(d)) > 0;
      if (!r || keep)
        od.push_back(r ? 1 : x.dims[d]);
      full.push_back(r ? 1 : x.dims[d]);
    }
    out = make(t, od);
    NdArray acc = make(t, full);
    std::vector<int64_t> count(acc.values.size(), 0);
    for (double &v : acc.values)
      v = op == "reduce_max" ? (isFloat(t)         ? -INFINITY
                                : t == DType::BOOL ? 0.0
                                : t == DType::I32  ? -2147483648.0
                                                   : -9223372036854775808.0)
                             : 0.0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      Dims k = coordsOf(i, x.dims);
      for (int64_t a : axes)
        k[size_t(a)] = 0;
      size_t o = size_t(linearOf(k, full));
      double v = x.values[size_t(i)];
      if (op == "reduce_max")
        acc.values[o] =
            std::isnan(v) || std::isnan(acc.values[o]) ? NAN : std::max(acc.values[o], v);
      else
        acc.values[o] += v;
      ++count[o];
    }
    for (size_t o = 0; o < acc.values.size(); ++o) {
      double v = acc.values[o];
      if (op == "reduce_mean")
        v = count[o] ? v / double(count[o]) : NAN;
      out.values[o] = isFloat(t) ? v : wrap(v, t);
    }
  } else if (op == "softmax") {
    int64_t axis = attrs.find("axis")->asInt();
    out = make(t, in[0].dims);
    forEach(out, [&](const Dims &k) {
      Dims j = k;
      double mx = -INFINITY, sum = 0;
      for (j[size_t(axis)] = 0; j[size_t(axis)] < in[0].dims[size_t(axis)]; ++j[size_t(axis)])
        mx = std::max(mx, at(in[0], j));
      for (j[size_t(axis)] = 0; j[size_t(axis)] < in[0].dims[size_t(axis)]; ++j[size_t(axis)])
        sum += std::exp(at(in[0], j) - mx);
      return std::exp(at(in[0], k) - mx) / sum;
    });
  } else if (op == "rms_norm" || op == "layer_norm") {
    double eps = attrs.find("eps")->asDouble();
    const NdArray &x = in[0];
    int64_t D = x.dims.back();
    out = make(t, x.dims);
    for (int64_t r = 0; D && r < x.numel() / D; ++r) {
      const double *row = x.values.data() + r * D;
      double mean = 0, ss = 0;
      if (op == "layer_norm") {
        for (int64_t i = 0; i < D; ++i)
          mean += row[i];
        mean /= double(D);
      }
      for (int64_t i = 0; i < D; ++i)
        ss += (row[i] - mean) * (row[i] - mean);
      double scale = 1.0 / std::sqrt(ss / double(D) + eps);
      for (int64_t i = 0; i < D; ++i) {
        double normalized = (row[i] - mean) * scale;
        if (op == "rms_norm" && t != DType::F32) // rounded before the weight, as transformers
          normalized = castTo(normalized, t);
        out.values[size_t(r * D + i)] =
            normalized * in[1].values[size_t(i)] + (in.size() > 2 ? in[2].values[size_t(i)] : 0.0);
      }
    }
  } else if (op == "reshape") {
    Dims shape = ints(*attrs.find("shape"));
    int64_t known = 1;
    for (int64_t d : shape)
      known *= d < 0 ? 1 : d;
    for (int64_t &d : shape)
      if (d < 0)
        d = known ? in[0].numel() / known : 0;
    out = make(t, shape);
    out.values = in[0].values;
  } else if (op == "transpose") {
    std::vector<int64_t> perm = ints(*attrs.find("perm"));
    Dims od;
    for (int64_t p : perm)
      od.push_back(in[0].dims[size_t(p)]);
    out = make(t, od);
    forEach(out, [&](const Dims &k) {
      Dims ic(k.size());
      for (size_t i = 0; i < perm.size(); ++i)
        ic[size_t(perm[i])] = k[i];
      return at(in[0], ic);
    });
  } else if (op == "slice") {
    std::vector<int64_t> offsets = ints(*attrs.find("offsets")),
                         strides = ints(*attrs.find("strides")), sizes = ints(*attrs.find("sizes"));
    Dims od;
    for (size_t d = 0; d < sizes.size(); ++d)
      od.push_back(sizes[d] < 0 ? in[0].dims[d] + sizes[d] : sizes[d]);
    out = make(t, od);
    forEach(out, [&](const Dims &k) {
      Dims ic(k.size());
      for (size_t d = 0; d < k.size(); ++d)
        ic[d] = offsets[d] + k[d] * strides[d];
      return at(in[0], ic);
    });
  } else if (op == "concat") {
    int64_t axis = attrs.find("axis")->asInt();
    Dims od = in[0].dims;
    od[size_t(axis)] = 0;
    for (const NdArray &a : in)
      od[size_t(axis)] += a.dims[size_t(axis)];
    out = make(t, od);
    forEach(out, [&](const Dims &k) {
      Dims j = k;
      for (const NdArray &a : in) {
        if (j[size_t(axis)] < a.dims[size_t(axis)])
          return at(a, j);
        j[size_t(axis)] -= a.dims[size_t(axis)];
      }
      return 0.0;
    });
  } else if (op == "gather") {
    size_t axis = size_t(attrs.find("axis")->asInt());
    const NdArray &table = in[0], &idx = in[1];
    Dims od(table.dims.begin(), table.dims.begin() + long(axis));
    od.insert(od.end(), idx.dims.begin(), idx.dims.end());
    od.insert(od.end(), table.dims.begin() + long(axis) + 1, table.dims.end());
    out = make(t, od);
    forEach(out, [&](const Dims &k) {
      Dims ik(k.begin() + long(axis), k.begin() + long(axis + idx.dims.size()));
      int64_t j = int64_t(at(idx, ik));
      if (j < 0)
        j += table.dims[axis];
      Dims tc(k.begin(), k.begin() + long(axis));
      tc.push_back(j);
      tc.insert(tc.end(), k.begin() + long(axis + idx.dims.size()), k.end());
      return at(table, tc);
    });
  } else if (op == "weight_constant") {
    std::vector<double> w, cst;
    for (const JsonValue &v : attrs.find("w")->items())
      w.push_back(castTo(v.asDouble(), t));
    for (const JsonValue &v : attrs.find("c")->items())
      cst.push_back(castTo(v.asDouble(), t));
    out = make(t, in[0].dims);
    forEach(out, [&](const Dims &k) {
      // Each op is its own kernel: the product is rounded before the add.
      return castTo(at(in[0], k) * w[size_t(k[1])], t) + cst[size_t(k[1])];
    });
  } else if (op == "rope") {
    const NdArray &x = in[0];
    int64_t D = x.dims[2], half = D / 2;
    out = make(t, x.dims);
    forEach(out, [&](const Dims &k) {
      int64_t i = k[2] % half;
      double angle = double(float(in[1].values[size_t(k[0])]) * float(in[2].values[size_t(i)]));
      double a = at(x, {k[0], k[1], i}), b = at(x, {k[0], k[1], i + half});
      // bf16/f16: cos, sin and each product rounded to the type (as transformers computes).
      auto r = [&](double v) { return t == DType::F32 ? v : castTo(v, t); };
      double c = r(std::cos(angle)), s = r(std::sin(angle));
      return k[2] < half ? r(a * c) - r(b * s) : r(b * c) + r(a * s);
    });
  } else if (op == "kv_write") {
    out = in[0];
    int64_t row = in[1].dims[1] * in[1].dims[2];
    for (int64_t r = 0; r < in[1].dims[0]; ++r) {
      int64_t slot = int64_t(in[2].values[size_t(r)]);
      if (slot >= 0)
        for (int64_t j = 0; j < row; ++j)
          out.values[size_t(slot * row + j)] = in[1].values[size_t(r * row + j)];
    }
  } else if (op == "attention") {
    const NdArray &q = in[0], &k = in[1], &v = in[2];
    const NdArray *mask = in.size() > 3 ? &in[3] : nullptr;
    double scale = attrs.find("scale")->asDouble();
    size_t rank = q.dims.size();
    int64_t Sq = q.dims[rank - 2], D = q.dims[rank - 1], Sk = k.dims[rank - 2],
            Dv = v.dims[rank - 1];
    Dims od = q.dims;
    od.back() = Dv;
    out = make(t, od);
    Dims batch(q.dims.begin(), q.dims.end() - 2);
    NdArray batchShape = make(t, batch);
    int64_t b = 0;
    forEach(batchShape, [&](const Dims &bc) {
      for (int64_t i = 0; i < Sq; ++i, ++b) {
        std::vector<double> w;
        Dims qc = bc, kc = bc;
        qc.insert(qc.end(), {i, 0});
        kc.insert(kc.end(), {0, 0});
        for (int64_t j = 0; j < Sk; ++j) {
          double dot = 0;
          kc[rank - 2] = j;
          for (int64_t d = 0; d < D; ++d) {
            qc[rank - 1] = kc[rank - 1] = d;
            dot += at(q, qc) * at(k, kc);
          }
          double s = dot * scale;
          if (mask) { // right-aligned to [..., i, j], broadcast where the mask has size 1
            Dims sc = bc;
            sc.insert(sc.end(), {i, j});
            Dims mc(sc.end() - long(mask->dims.size()), sc.end());
            for (size_t d = 0; d < mc.size(); ++d)
              if (mask->dims[d] == 1)
                mc[d] = 0;
            s += at(*mask, mc);
          }
          w.push_back(s);
        }
        double mx = Sk ? *std::max_element(w.begin(), w.end()) : 0, sum = 0;
        for (double &x : w)
          sum += (x = std::exp(x - mx));
        for (int64_t c = 0; c < Dv; ++c) {
          double acc = 0;
          Dims vc = bc;
          vc.insert(vc.end(), {0, c});
          for (int64_t j = 0; j < Sk; ++j) {
            vc[rank - 2] = j;
            acc += w[size_t(j)] * at(v, vc);
          }
          out.values[size_t(b * Dv + c)] = Sk ? acc / sum : 0.0;
        }
      }
      return 0.0;
    });
  } else if (op == "paged_attention") {
    const NdArray &q = in[0], &kc = in[1], &vc = in[2], &tables = in[3];
    double scale = attrs.find("scale")->asDouble();
    int64_t window = attrs.find("window")->asInt();
    int64_t H = q.dims[1], D = q.dims[2], BS = kc.dims[1], KVH = kc.dims[2];
    out = make(t, q.dims);
    for (int64_t tok = 0; tok < q.dims[0]; ++tok) {
      int64_t s = int64_t(in[4].values[size_t(tok)]), p = int64_t(in[5].values[size_t(tok)]);
      int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      for (int64_t h = 0; h < H; ++h) {
        int64_t kvh = h / (H / KVH);
        std::vector<double> w;
        std::vector<Dims> where;
        for (int64_t j = lo; j <= p; ++j) {
          int64_t block = int64_t(at(tables, {s, j / BS}));
          Dims kcoord = {block, j % BS, kvh, 0};
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) {
            kcoord[3] = d;
            dot += at(q, {tok, h, d}) * at(kc, kcoord);
          }
          w.push_back(dot * scale);
          where.push_back({block, j % BS, kvh, 0});
        }
        double mx = *std::max_element(w.begin(), w.end()), sum = 0;
        for (double &x : w)
          sum += (x = std::exp(x - mx));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (size_t j = 0; j < w.size(); ++j) {
            Dims vcoord = where[j];
            vcoord[3] = d;
            acc += w[j] * at(vc, vcoord);
          }
          out.values[size_t((tok * H + h) * D + d)] = acc / sum;
        }
      }
    }
  } else if (op == "sampling_probs") {
    const NdArray &logits = in[0];
    int64_t rows = logits.dims[0], V = logits.dims[1], Hl = in[6].dims[1];
    out = make(t, logits.dims);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<double> x(logits.values.begin() + r * V, logits.values.begin() + (r + 1) * V);
      double rp = float(in[5].values[size_t(r)]);
      std::vector<bool> seen(static_cast<size_t>(V), false);
      for (int64_t j = 0; j < Hl; ++j) {
        int64_t id = int64_t(in[6].values[size_t(r * Hl + j)]);
        if (id >= 0 && id < V && !seen[size_t(id)]) {
          seen[size_t(id)] = true;
          x[size_t(id)] = x[size_t(id)] > 0 ? x[size_t(id)] / rp : x[size_t(id)] * rp;
        }
      }
      double temp = float(in[1].values[size_t(r)]);
      double *pr = out.values.data() + r * V;
      if (!(temp > 0)) {
        size_t best = size_t(std::max_element(x.begin(), x.end()) - x.begin());
        pr[best] = 1.0;
        continue;
      }
      double mx = -INFINITY;
      for (double &v : x)
        mx = std::max(mx, v /= temp);
      std::vector<double> e(static_cast<size_t>(V));
      for (int64_t i = 0; i < V; ++i)
        e[size_t(i)] = std::exp(x[size_t(i)] - mx);
      std::vector<double> sorted(e);
      std::sort(sorted.begin(), sorted.end(), std::greater<>());
      double threshold = 0;
      int64_t k = int64_t(in[2].values[size_t(r)]);
      if (k > 0 && k < V)
        threshold = sorted[size_t(k - 1)];
      double tp = float(in[3].values[size_t(r)]);
      if (tp < 1) {
        double kept = 0, mass = 0;
        for (double v : sorted)
          if (v >= threshold)
            kept += v;
        for (double v : sorted)
          if (v >= threshold && (mass += v) >= tp * kept) {
            threshold = std::max(threshold, v);
            break;
          }
      }
      double mp = float(in[4].values[size_t(r)]);
      if (mp > 0)
        threshold = std::max(threshold, mp);
      double total = 0;
      for (double v : e)
        total += v >= threshold ? v : 0;
      for (int64_t i = 0; i < V; ++i)
        pr[i] = e[size_t(i)] >= threshold ? e[size_t(i)] / total : 0;
    }
  } else if (op == "multinomial") {
    const NdArray &probs = in[0];
    int64_t rows = probs.dims[0], n = probs.dims[1];
    out = make(t, {rows});
    for (int64_t r = 0; r < rows; ++r) {
      double total = 0;
      for (int64_t i = 0; i < n; ++i)
        total += probs.values[size_t(r * n + i)];
      double target =
          rt::cpu::scalar::uniformFromSeed(uint64_t(int64_t(in[1].values[size_t(r)]))) * total;
      double cum = 0;
      int64_t pick = -1;
      for (int64_t i = 0; i < n && cum <= target; ++i)
        if (probs.values[size_t(r * n + i)] > 0) {
          cum += probs.values[size_t(r * n + i)];
          pick = i;
        }
      out.values[size_t(r)] = double(pick);
    }
  } else if (op == "compare") {
    std::string p = attrs.find("predicate")->asString();
    out = make(DType::BOOL, broadcastDims(in[0].dims, in[1].dims));
    forEach(out, [&](const Dims &k) {
      double a = broadcastAt(in[0], k), b = broadcastAt(in[1], k);
      bool r = p == "eq"   ? a == b
               : p == "ne" ? a != b
               : p == "lt" ? a < b
               : p == "le" ? a <= b
               : p == "gt" ? a > b
                           : a >= b;
      return r ? 1.0 : 0.0;
    });
  } else if (op == "select") {
    out = make(t, broadcastDims(broadcastDims(in[0].dims, in[1].dims), in[2].dims));
    forEach(out, [&](const Dims &k) {
      return broadcastAt(in[0], k) != 0 ? broadcastAt(in[1], k) : broadcastAt(in[2], k);
    });
  } else if (op == "broadcast_to") {
    // The target: the input's rows (dimension 0) then the static sizes after it.
    Dims od = ints(*attrs.find("shape"));
    for (int64_t &d : od)
      if (d < 0)
        d = in[0].dims[0];
    out = make(t, od);
    forEach(out, [&](const Dims &k) { return broadcastAt(in[0], k); });
  } else if (op == "iota") {
    double start = attrs.find("start")->asDouble(), step = attrs.find("step")->asDouble();
    out = make(t, {in[0].dims[0]});
    forEach(out, [&](const Dims &k) {
      return isFloat(t) ? castTo(start + double(k[0]) * step, t)
                        : double(int64_t(start) + k[0] * int64_t(step));
    });
  } else if (op == "gather_elements") {
    size_t axis = size_t(attrs.find("axis")->asInt());
    const NdArray &x = in[0], &idx = in[1];
    out = make(t, idx.dims);
    forEach(out, [&](const Dims &k) {
      int64_t j = int64_t(at(idx, k));
      Dims c = k;
      c[axis] = j < 0 ? j + x.dims[axis] : j;
      return at(x, c);
    });
  } else if (op == "cumsum") {
    size_t axis = size_t(attrs.find("axis")->asInt());
    bool exclusive = attrs.find("exclusive")->asBool(), reverse = attrs.find("reverse")->asBool();
    out = make(t, in[0].dims);
    forEach(out, [&](const Dims &k) {
      int64_t n = in[0].dims[axis], i = k[axis];
      int64_t lo = reverse ? i + (exclusive ? 1 : 0) : 0;
      int64_t hi = reverse ? n : i + (exclusive ? 0 : 1);
      double acc = 0;
      Dims c = k;
      for (c[axis] = lo; c[axis] < hi; ++c[axis])
        acc += at(in[0], c);
      return isFloat(t) ? acc : wrap(acc, t);
    });
  } else if (op == "from_sizes") {
    // [rows of the input, then the static sizes]
    Dims sizes = ints(*attrs.find("sizes"));
    out = make(t, attrs.find("scalar")->asBool() ? Dims{} : Dims{int64_t(sizes.size())});
    for (size_t i = 0; i < sizes.size(); ++i)
      out.values[i] = double(sizes[i] < 0 ? in[0].dims[0] : sizes[i]);
  } else if (op == "fused_chain") {
    out = make(t, in[0].dims);
    for (size_t i = 0; i < out.values.size(); ++i)
      out.values[i] = std::exp(in[0].values[i]) * std::exp(in[0].values[i]);
  } else {
    bool known = op == "neg" || op == "relu" || op == "exp" || op == "log" || op == "sqrt" ||
                 op == "rsqrt" || op == "tanh" || op == "sigmoid" || op == "silu" || op == "gelu" ||
                 op == "gelu_tanh" || op == "abs" || op == "erf";
    if (!known)
      return "no reference for op '" + op + "'";
    out = make(t, in[0].dims);
    for (size_t i = 0; i < out.values.size(); ++i)
      out.values[i] = unary(op, in[0].values[i], t);
  }
  return "";
}

} // namespace chitu::test
