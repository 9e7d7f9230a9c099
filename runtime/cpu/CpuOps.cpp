#include "CpuOps.h"

#include "CpuMatmul.h"
#include "Scalar.h"
#include "ThreadPool.h"
#include "core/Shapes.h"
#include "support/Float16.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>

namespace chitu::rt::cpu {

int64_t Value::numel() const { return numElements(dims); }

void Value::allocate(DType t, std::vector<int64_t> shape) {
  dtype = t;
  dims = std::move(shape);
  size_t n = size_t(numElements(dims));
  f32.clear();
  i32.clear();
  i64.clear();
  switch (ctype()) {
  case ComputeType::F32:
    f32.resize(n);
    break;
  case ComputeType::I32:
    i32.resize(n);
    break;
  case ComputeType::I64:
    i64.resize(n);
    break;
  }
}

// Converts n stored elements of `dtype` into v's compute type at element `at`.
void loadInto(const uint8_t *data, DType dtype, size_t n, Value &v, size_t at) {
  if (n == 0)
    return; // empty vectors may have null data: no memcpy at all
  switch (dtype) {
  case DType::F32:
    std::memcpy(v.f32.data() + at, data, n * 4);
    break;
  case DType::F16:
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, data + 2 * i, 2);
      v.f32[at + i] = dtype == DType::F16 ? f16ToFloat(h) : bf16ToFloat(h);
    }
    break;
  case DType::I32:
    std::memcpy(v.i32.data() + at, data, n * 4);
    break;
  case DType::I64:
    std::memcpy(v.i64.data() + at, data, n * 8);
    break;
  case DType::BOOL:
    for (size_t i = 0; i < n; ++i)
      v.i32[at + i] = data[i] != 0;
    break;
  case DType::I8:
    for (size_t i = 0; i < n; ++i)
      v.i32[at + i] = int8_t(data[i]);
    break;
  case DType::F8E4M3:
    for (size_t i = 0; i < n; ++i)
      v.f32[at + i] = f8e4m3ToFloat(data[i]);
    break;
  }
}

Value loadValue(const uint8_t *data, DType dtype, const std::vector<int64_t> &dims) {
  Value v;
  v.allocate(dtype, dims);
  loadInto(data, dtype, size_t(v.numel()), v, 0);
  return v;
}

Value storedValue(const uint8_t *data, DType dtype, const std::vector<int64_t> &dims) {
  Value v;
  v.dtype = dtype;
  v.dims = dims;
  v.stored = data;
  return v;
}

void storeValue(const Value &v, uint8_t *data) {
  size_t n = size_t(v.numel());
  if (n == 0)
    return;
  switch (v.dtype) {
  case DType::F32:
    std::memcpy(data, v.f32.data(), n * 4);
    break;
  case DType::F16:
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t h = v.dtype == DType::F16 ? floatToF16(v.f32[i]) : floatToBf16(v.f32[i]);
      std::memcpy(data + 2 * i, &h, 2);
    }
    break;
  case DType::I32:
    std::memcpy(data, v.i32.data(), n * 4);
    break;
  case DType::I64:
    std::memcpy(data, v.i64.data(), n * 8);
    break;
  case DType::BOOL:
    for (size_t i = 0; i < n; ++i)
      data[i] = v.i32[i] != 0;
    break;
  case DType::I8: // values are in range (only weights and dequantize's operand are i8)
    for (size_t i = 0; i < n; ++i)
      data[i] = uint8_t(int8_t(v.i32[i]));
    break;
  case DType::F8E4M3:
    for (size_t i = 0; i < n; ++i)
      data[i] = floatToF8e4m3(v.f32[i]);
    break;
  }
}

namespace {

using cbin::OpKind;

Status bad(const std::string &what) { return invalidArtifact("inconsistent op: " + what); }

bool isBinaryKind(OpKind k) {
  return k == OpKind::ADD || k == OpKind::SUB || k == OpKind::MUL || k == OpKind::DIV ||
         k == OpKind::MAXIMUM || k == OpKind::MINIMUM || k == OpKind::POW;
}

bool isUnaryKind(OpKind k) {
  return (k >= OpKind::NEG && k <= OpKind::RELU) || k == OpKind::ABS || k == OpKind::ERF;
}

std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;)
    s[i - 1] = s[i] * dims[i];
  return s;
}

// Strides (in elements) for reading `in` broadcast to `out` (numpy rules, right-aligned).
Status broadcastStrides(const std::vector<int64_t> &in, const std::vector<int64_t> &out,
                        std::vector<int64_t> &strides) {
  if (in.size() > out.size())
    return bad("operand rank exceeds result rank");
  std::vector<int64_t> inStrides = rowMajorStrides(in);
  strides.assign(out.size(), 0);
  size_t offset = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == out[offset + i])
      strides[offset + i] = in[i] == 1 ? 0 : inStrides[i];
    else if (in[i] != 1)
      return bad("operand shape " + dimsToString(in) + " does not broadcast to " +
                 dimsToString(out));
  }
  return Status::ok();
}

// Runs fn(begin, end) over parts of [0, count) on every core when the count is large
// enough to be worth it (elementwise ops of a CPU-placed MLP), else in one call.
void forEachPart(int64_t count, const std::function<void(int64_t, int64_t)> &fn) {
  constexpr int64_t kPart = int64_t(1) << 14;
  if (count <= kPart) {
    fn(0, count);
    return;
  }
  parallelFor((count + kPart - 1) / kPart,
              [&](int64_t p) { fn(p * kPart, std::min(count, (p + 1) * kPart)); });
}

// Walks every index of `dims` in row-major order, keeping offsets of several strided
// operands up to date (an odometer: no division per element).
class IndexWalker {
public:
  IndexWalker(const std::vector<int64_t> &dims, std::vector<const std::vector<int64_t> *> strides)
      : dims_(dims), strides_(std::move(strides)), index_(dims.size(), 0),
        offsets_(strides_.size(), 0) {}
  int64_t offset(size_t operand) const { return offsets_[operand]; }
  // Moves to the element at row-major position `linear` (to start a part of the walk).
  void seek(int64_t linear) {
    std::fill(offsets_.begin(), offsets_.end(), 0);
    for (size_t d = dims_.size(); d-- > 0;) {
      index_[d] = dims_[d] ? linear % dims_[d] : 0;
      linear = dims_[d] ? linear / dims_[d] : 0;
      for (size_t k = 0; k < strides_.size(); ++k)
        offsets_[k] += (*strides_[k])[d] * index_[d];
    }
  }
  void next() {
    for (size_t d = dims_.size(); d-- > 0;) {
      for (size_t k = 0; k < strides_.size(); ++k)
        offsets_[k] += (*strides_[k])[d];
      if (++index_[d] < dims_[d])
        return;
      for (size_t k = 0; k < strides_.size(); ++k)
        offsets_[k] -= (*strides_[k])[d] * dims_[d];
      index_[d] = 0;
    }
  }

private:
  const std::vector<int64_t> &dims_;
  std::vector<const std::vector<int64_t> *> strides_;
  std::vector<int64_t> index_;
  std::vector<int64_t> offsets_;
};

template <typename T> std::vector<T> &data(Value &v);
template <> std::vector<float> &data<float>(Value &v) { return v.f32; }
template <> std::vector<int32_t> &data<int32_t>(Value &v) { return v.i32; }
template <> std::vector<int64_t> &data<int64_t>(Value &v) { return v.i64; }
template <typename T> const std::vector<T> &cdata(const Value &v) {
  return data<T>(const_cast<Value &>(v));
}

template <typename T> T binaryScalar(OpKind kind, T a, T b) {
  if constexpr (std::is_same_v<T, float>) {
    switch (kind) {
    case OpKind::ADD:
      return a + b;
    case OpKind::SUB:
      return a - b;
    case OpKind::MUL:
      return a * b;
    case OpKind::DIV:
      return a / b;
    case OpKind::MAXIMUM:
      return scalar::maxF(a, b);
    case OpKind::POW:
      return std::pow(a, b);
    default:
      return scalar::minF(a, b);
    }
  } else {
    switch (kind) {
    case OpKind::ADD:
      return scalar::wrapAdd(a, b);
    case OpKind::SUB:
      return scalar::wrapSub(a, b);
    case OpKind::MUL:
      return scalar::wrapMul(a, b);
    case OpKind::DIV:
      return scalar::intDiv(a, b);
    case OpKind::MAXIMUM:
      return a > b ? a : b;
    default:
      return a < b ? a : b;
    }
  }
}

template <typename T> Status binaryOp(OpKind kind, const Value &a, const Value &b, Value &out) {
  std::vector<int64_t> sa, sb;
  CHITU_RETURN_IF_ERROR(broadcastStrides(a.dims, out.dims, sa));
  CHITU_RETURN_IF_ERROR(broadcastStrides(b.dims, out.dims, sb));
  const auto &da = cdata<T>(a);
  const auto &db = cdata<T>(b);
  auto &dout = data<T>(out);
  forEachPart(int64_t(dout.size()), [&](int64_t begin, int64_t end) {
    IndexWalker walk(out.dims, {&sa, &sb});
    walk.seek(begin);
    for (int64_t i = begin; i < end; ++i, walk.next())
      dout[size_t(i)] = binaryScalar<T>(kind, da[walk.offset(0)], db[walk.offset(1)]);
  });
  return Status::ok();
}

float unaryFloat(OpKind kind, float x) {
  switch (kind) {
  case OpKind::NEG:
    return -x;
  case OpKind::EXP:
    return std::exp(x);
  case OpKind::LOG:
    return std::log(x);
  case OpKind::SQRT:
    return std::sqrt(x);
  case OpKind::RSQRT:
    return scalar::rsqrt(x);
  case OpKind::TANH:
    return std::tanh(x);
  case OpKind::SIGMOID:
    return scalar::sigmoid(x);
  case OpKind::SILU:
    return scalar::silu(x);
  case OpKind::GELU:
    return scalar::gelu(x);
  case OpKind::GELU_TANH:
    return scalar::geluTanh(x);
  case OpKind::ABS:
    return std::fabs(x);
  case OpKind::ERF:
    return std::erf(x);
  default:
    return scalar::relu(x);
  }
}

template <typename I> Status unaryInt(OpKind kind, const Value &in, Value &out) {
  const auto &din = cdata<I>(in);
  auto &dout = data<I>(out);
  for (size_t i = 0; i < dout.size(); ++i) {
    if (kind == OpKind::NEG)
      dout[i] = scalar::wrapNeg(din[i]);
    else if (kind == OpKind::ABS)
      dout[i] = din[i] < 0 ? scalar::wrapNeg(din[i]) : din[i];
    else if (kind == OpKind::RELU)
      dout[i] = din[i] > 0 ? din[i] : 0;
    else
      return bad("integer operand to a float-only op");
  }
  return Status::ok();
}

float roundTo(DType t, float x) {
  if (t == DType::BF16)
    return roundToBf16(x);
  if (t == DType::F16)
    return roundToF16(x);
  return x;
}

Status castOp(const Value &in, Value &out) {
  size_t n = size_t(out.numel());
  ComputeType from = in.ctype(), to = out.ctype();
  if (out.dtype == DType::BOOL) { // nonzero (NaN included) is true
    for (size_t i = 0; i < n; ++i)
      out.i32[i] = from == ComputeType::F32   ? in.f32[i] != 0.0f
                   : from == ComputeType::I32 ? in.i32[i] != 0
                                              : in.i64[i] != 0;
    return Status::ok();
  }
  for (size_t i = 0; i < n; ++i) {
    if (from == ComputeType::F32) {
      float x = in.f32[i];
      if (to == ComputeType::F32)
        out.f32[i] = roundTo(out.dtype, x);
      else if (to == ComputeType::I32)
        out.i32[i] = scalar::floatToInt<int32_t>(x);
      else
        out.i64[i] = scalar::floatToInt<int64_t>(x);
    } else {
      int64_t x = from == ComputeType::I32 ? int64_t(in.i32[i]) : in.i64[i];
      if (to == ComputeType::F32)
        out.f32[i] = roundTo(out.dtype, float(x));
      else if (to == ComputeType::I32)
        out.i32[i] = int32_t(uint32_t(uint64_t(x)));
      else
        out.i64[i] = x;
    }
  }
  return Status::ok();
}

// values * scales (scales broadcast), rounded to the result's float type.
Status dequantizeOp(const Value &values, const Value &scales, Value &out) {
  std::vector<int64_t> sv, ss;
  CHITU_RETURN_IF_ERROR(broadcastStrides(values.dims, out.dims, sv));
  CHITU_RETURN_IF_ERROR(broadcastStrides(scales.dims, out.dims, ss));
  forEachPart(out.numel(), [&](int64_t begin, int64_t end) {
    IndexWalker walk(out.dims, {&sv, &ss});
    walk.seek(begin);
    const bool ints = values.ctype() == ComputeType::I32; // int8, else fp8 held as f32
    for (int64_t i = begin; i < end; ++i, walk.next()) {
      const size_t at = size_t(walk.offset(0));
      const float q = ints ? float(values.i32[at]) : values.f32[at];
      out.f32[size_t(i)] = roundTo(out.dtype, q * scales.f32[size_t(walk.offset(1))]);
    }
  });
  return Status::ok();
}

// int4 groups: (nibble - zero) * scale per element of [N, K] (values [N, K / 2] packed two a
// byte, low nibble first, held as i32 bytes; scales and zeros [N, K / group]; no zeros: 8).
void dequantizeInt4Op(const Value &values, const Value &scales, const Value *zeros, int64_t group,
                      Value &out) {
  const int64_t k = out.dims[1], groups = k / group;
  forEachPart(out.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / k, c = i % k, g = n * groups + c / group;
      const int byte = values.i32[size_t(n * (k / 2) + c / 2)] & 0xFF;
      const float u = float((c & 1) ? byte >> 4 : byte & 15);
      const float zero = zeros ? zeros->f32[size_t(g)] : 8.0f;
      out.f32[size_t(i)] = roundTo(out.dtype, (u - zero) * scales.f32[size_t(g)]);
    }
  });
}

// Batched products on the fast kernels (CpuMatmul.h). A is made row-major [M, K] where it
// is transposed; B is read as stored: [N, K] rows when transposed (a linear layer's
// weight), else [K, N]. Many small matrices run in parallel; few large ones in parallel
// over their columns.
Status matmulOp(const cbin::Op &op, const Value &a, const Value &b, Value &out,
                Accumulate accumulate) {
  bool ta = op.ints()->Get(0) != 0, tb = op.ints()->Get(1) != 0;
  if (a.dims.size() < 2 || b.dims.size() < 2 || out.dims.size() < 2)
    return bad("matmul operands need rank >= 2");
  if (b.stored && b.dtype != DType::F32 && b.dtype != DType::F16 && b.dtype != DType::BF16)
    return bad("matmul of a stored " + std::string(dtypeName(b.dtype)) + " operand");
  size_t ra = a.dims.size(), rb = b.dims.size(), ro = out.dims.size();
  int64_t M = ta ? a.dims[ra - 1] : a.dims[ra - 2];
  int64_t K = ta ? a.dims[ra - 2] : a.dims[ra - 1];
  int64_t Kb = tb ? b.dims[rb - 1] : b.dims[rb - 2];
  int64_t N = tb ? b.dims[rb - 2] : b.dims[rb - 1];
  if (K != Kb || out.dims[ro - 2] != M || out.dims[ro - 1] != N)
    return bad("matmul shapes " + dimsToString(a.dims) + " x " + dimsToString(b.dims) + " -> " +
               dimsToString(out.dims));
  std::vector<int64_t> batch(out.dims.begin(), out.dims.end() - 2);
  std::vector<int64_t> batchA(a.dims.begin(), a.dims.end() - 2);
  std::vector<int64_t> batchB(b.dims.begin(), b.dims.end() - 2);
  // Strides over batch dims in units of whole matrices.
  std::vector<int64_t> sa, sb;
  CHITU_RETURN_IF_ERROR(broadcastStrides(batchA, batch, sa));
  CHITU_RETURN_IF_ERROR(broadcastStrides(batchB, batch, sb));
  for (auto &s : sa)
    s *= M * K;
  for (auto &s : sb)
    s *= K * N;
  std::vector<float> aRows;
  const float *aData = a.f32.data();
  if (ta && M > 1 && K > 1) { // each matrix of A as [M, K]
    aRows.resize(a.f32.size());
    int64_t matrices = int64_t(a.f32.size()) / (M * K);
    for (int64_t i = 0; i < matrices; ++i)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t m = 0; m < M; ++m)
          aRows[size_t(i * M * K + m * K + k)] = a.f32[size_t(i * M * K + k * M + m)];
    aData = aRows.data();
  }
  const DType bType = b.stored ? b.dtype : DType::F32;
  const uint8_t *bData = b.stored ? b.stored : reinterpret_cast<const uint8_t *>(b.f32.data());
  const size_t bElement = dtypeSize(bType);
  int64_t numBatches = numElements(batch);
  std::vector<int64_t> offA, offB;
  IndexWalker walk(batch, {&sa, &sb});
  for (int64_t bi = 0; bi < numBatches; ++bi, walk.next()) {
    offA.push_back(walk.offset(0));
    offB.push_back(walk.offset(1));
  }
  const Isa isa = bestIsa();
  auto one = [&](int64_t bi, bool parallel) {
    matmulRows(isa, aData + offA[size_t(bi)], bData + size_t(offB[size_t(bi)]) * bElement, bType,
               tb, M, N, K, out.f32.data() + bi * M * N, parallel, accumulate);
  };
  if (numBatches >= numThreads())
    parallelFor(numBatches, [&](int64_t bi) { one(bi, false); });
  else
    for (int64_t bi = 0; bi < numBatches; ++bi)
      one(bi, true);
  return Status::ok();
}

// Maps input index -> output index for reductions: strides of the output with reduced
// axes given stride 0.
Status reductionStrides(const Value &in, const Value &out, bool keepDims,
                        const std::vector<int64_t> &axes, std::vector<int64_t> &strides,
                        int64_t &count) {
  size_t rank = in.dims.size();
  std::vector<bool> reduced(rank, false);
  for (int64_t ax : axes) {
    if (ax < 0 || size_t(ax) >= rank || reduced[size_t(ax)])
      return bad("reduction axes out of range or repeated");
    reduced[size_t(ax)] = true;
  }
  std::vector<int64_t> expect;
  count = 1;
  for (size_t d = 0; d < rank; ++d) {
    if (reduced[d]) {
      count *= in.dims[d];
      if (keepDims)
        expect.push_back(1);
    } else {
      expect.push_back(in.dims[d]);
    }
  }
  if (expect != out.dims)
    return bad("reduction result shape " + dimsToString(out.dims) + ", expected " +
               dimsToString(expect));
  std::vector<int64_t> full; // output dims with reduced axes kept as 1
  for (size_t d = 0; d < rank; ++d)
    full.push_back(reduced[d] ? 1 : in.dims[d]);
  strides = rowMajorStrides(full);
  for (size_t d = 0; d < rank; ++d)
    if (reduced[d])
      strides[d] = 0;
  return Status::ok();
}

template <typename T>
Status reduceOp(OpKind kind, const Value &in, Value &out, bool keepDims,
                const std::vector<int64_t> &axes) {
  std::vector<int64_t> strides;
  int64_t count;
  CHITU_RETURN_IF_ERROR(reductionStrides(in, out, keepDims, axes, strides, count));
  std::vector<int64_t> unit = rowMajorStrides(in.dims);
  const auto &din = cdata<T>(in);
  auto &dout = data<T>(out);
  IndexWalker walk(in.dims, {&strides});
  if constexpr (std::is_same_v<T, float>) {
    if (kind == OpKind::REDUCE_MAX) {
      std::fill(dout.begin(), dout.end(), -std::numeric_limits<float>::infinity());
      for (size_t i = 0; i < din.size(); ++i, walk.next())
        dout[walk.offset(0)] = scalar::maxF(dout[walk.offset(0)], din[i]);
      return Status::ok();
    }
    std::vector<double> acc(dout.size(), 0.0);
    for (size_t i = 0; i < din.size(); ++i, walk.next())
      acc[walk.offset(0)] += din[i];
    for (size_t o = 0; o < dout.size(); ++o)
      dout[o] = kind == OpKind::REDUCE_MEAN ? float(acc[o] / double(count)) : float(acc[o]);
    return Status::ok();
  } else {
    if (kind == OpKind::REDUCE_MEAN)
      return bad("reduce_mean of integers");
    // The maximum of nothing is the type's least value (false for i1).
    std::fill(dout.begin(), dout.end(),
              kind == OpKind::REDUCE_MAX && out.dtype != DType::BOOL ? std::numeric_limits<T>::min()
                                                                     : T(0));
    for (size_t i = 0; i < din.size(); ++i, walk.next()) {
      T &o = dout[walk.offset(0)];
      o = kind == OpKind::REDUCE_MAX ? std::max(o, din[i]) : scalar::wrapAdd(o, din[i]);
    }
    return Status::ok();
  }
}

Status softmaxOp(const Value &in, Value &out, int64_t axis) {
  if (axis < 0 || size_t(axis) >= in.dims.size() || in.dims != out.dims)
    return bad("softmax axis or shape");
  int64_t len = in.dims[size_t(axis)];
  int64_t inner = 1, outer = 1;
  for (size_t d = size_t(axis) + 1; d < in.dims.size(); ++d)
    inner *= in.dims[d];
  for (size_t d = 0; d < size_t(axis); ++d)
    outer *= in.dims[d];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float *x = in.f32.data() + o * len * inner + i;
      float *y = out.f32.data() + o * len * inner + i;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < len; ++k)
        mx = scalar::maxF(mx, x[k * inner]);
      double sum = 0;
      for (int64_t k = 0; k < len; ++k)
        sum += std::exp(x[k * inner] - mx);
      float inv = float(1.0 / sum);
      for (int64_t k = 0; k < len; ++k)
        y[k * inner] = std::exp(x[k * inner] - mx) * inv;
    }
  return Status::ok();
}

Status normOp(OpKind kind, const std::vector<const Value *> &ops, Value &out, float eps) {
  const Value &x = *ops[0];
  const Value &w = *ops[1];
  const Value *b = ops.size() > 2 ? ops[2] : nullptr;
  if (x.dims.empty() || x.dims != out.dims)
    return bad("norm input and result shapes differ");
  int64_t D = x.dims.back();
  if (w.dims != std::vector<int64_t>{D} || (b && b->dims != std::vector<int64_t>{D}))
    return bad("norm weight must be [" + std::to_string(D) + "]");
  int64_t rows = D == 0 ? 0 : x.numel() / D;
  for (int64_t r = 0; r < rows; ++r) {
    const float *px = x.f32.data() + r * D;
    float *py = out.f32.data() + r * D;
    if (kind == OpKind::RMS_NORM) {
      double ss = 0;
      for (int64_t i = 0; i < D; ++i)
        ss += double(px[i]) * px[i];
      float inv = scalar::rsqrt(float(ss / double(D)) + eps);
      // bf16/f16 results: the normalized value is rounded before the weight multiply (as
      // transformers and vLLM do).
      for (int64_t i = 0; i < D; ++i)
        py[i] = roundTo(out.dtype, px[i] * inv) * w.f32[size_t(i)];
    } else {
      double sum = 0;
      for (int64_t i = 0; i < D; ++i)
        sum += px[i];
      float mean = float(sum / double(D));
      double var = 0;
      for (int64_t i = 0; i < D; ++i)
        var += double(px[i] - mean) * double(px[i] - mean);
      float inv = scalar::rsqrt(float(var / double(D)) + eps);
      for (int64_t i = 0; i < D; ++i)
        py[i] = (px[i] - mean) * inv * w.f32[size_t(i)] + (b ? b->f32[size_t(i)] : 0.0f);
    }
  }
  return Status::ok();
}

// Copies elements of `in` addressed by per-output-dim strides from `base`.
template <typename T>
void stridedCopy(const Value &in, Value &out, int64_t base, const std::vector<int64_t> &strides) {
  const auto &din = cdata<T>(in);
  auto &dout = data<T>(out);
  IndexWalker walk(out.dims, {&strides});
  for (size_t i = 0; i < dout.size(); ++i, walk.next())
    dout[i] = din[size_t(base + walk.offset(0))];
}

template <typename F> Status dispatch(ComputeType t, F &&f) {
  switch (t) {
  case ComputeType::F32:
    return f(float());
  case ComputeType::I32:
    return f(int32_t());
  case ComputeType::I64:
    return f(int64_t());
  }
  return bad("unknown compute type");
}

Status transposeOp(const cbin::Op &op, const Value &in, Value &out) {
  size_t rank = in.dims.size();
  if (op.ints()->size() != rank || out.dims.size() != rank)
    return bad("transpose permutation length");
  std::vector<bool> seen(rank, false);
  std::vector<int64_t> inStrides = rowMajorStrides(in.dims), strides(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t p = op.ints()->Get(uint32_t(i));
    if (p < 0 || size_t(p) >= rank || seen[size_t(p)] || in.dims[size_t(p)] != out.dims[i])
      return bad("transpose permutation");
    seen[size_t(p)] = true;
    strides[i] = inStrides[size_t(p)];
  }
  return dispatch(in.ctype(), [&](auto t) {
    stridedCopy<decltype(t)>(in, out, 0, strides);
    return Status::ok();
  });
}

Status sliceOp(const cbin::Op &op, const Value &in, Value &out,
               const std::vector<int64_t> &offsets) {
  size_t rank = in.dims.size();
  if (out.dims.size() != rank || offsets.size() != rank || op.ints()->size() != rank)
    return bad("slice rank");
  std::vector<int64_t> inStrides = rowMajorStrides(in.dims), strides(rank);
  int64_t base = 0;
  for (size_t d = 0; d < rank; ++d) {
    int64_t step = op.ints()->Get(uint32_t(d));
    int64_t off = offsets[d], size = out.dims[d], span = 0, last = 0;
    // (overflow-checked: a damaged artifact may hold any stride)
    bool outside = size > 0 && (__builtin_mul_overflow(size - 1, step, &span) ||
                                __builtin_add_overflow(off, span, &last) || last >= in.dims[d]);
    if (step < 1 || off < 0 || outside || (size == 0 && off > in.dims[d]))
      return shapeMismatch("slice [offset " + std::to_string(off) + ", size " +
                           std::to_string(size) + ", stride " + std::to_string(step) +
                           "] exceeds dimension " + std::to_string(d) + " of size " +
                           std::to_string(in.dims[d]));
    base += off * inStrides[d];
    strides[d] = size > 1 ? step * inStrides[d] : 0; // (step < dims[d] when size > 1)
  }
  return dispatch(in.ctype(), [&](auto t) {
    if (out.numel() > 0)
      stridedCopy<decltype(t)>(in, out, base, strides);
    return Status::ok();
  });
}

Status concatOp(int64_t axis, const std::vector<const Value *> &ins, Value &out) {
  size_t rank = out.dims.size();
  if (axis < 0 || size_t(axis) >= rank)
    return bad("concat axis");
  int64_t total = 0;
  for (const Value *v : ins) {
    if (v->dims.size() != rank || v->ctype() != out.ctype())
      return bad("concat operand rank or type");
    for (size_t d = 0; d < rank; ++d)
      if (d != size_t(axis) && v->dims[d] != out.dims[d])
        return bad("concat operand shape");
    total += v->dims[size_t(axis)];
  }
  if (total != out.dims[size_t(axis)])
    return bad("concat result size");
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < size_t(axis); ++d)
    outer *= out.dims[d];
  for (size_t d = size_t(axis) + 1; d < rank; ++d)
    inner *= out.dims[d];
  return dispatch(out.ctype(), [&](auto t) {
    using T = decltype(t);
    auto &dout = data<T>(out);
    int64_t at = 0;
    for (const Value *v : ins) {
      int64_t chunk = v->dims[size_t(axis)] * inner;
      const auto &din = cdata<T>(*v);
      for (int64_t o = 0; o < outer; ++o)
        std::copy(din.begin() + o * chunk, din.begin() + (o + 1) * chunk,
                  dout.begin() + o * total * inner + at);
      at += chunk;
    }
    return Status::ok();
  });
}

Status gatherOp(int64_t axis, const Value &table, const Value &indices, Value &out) {
  size_t rank = table.dims.size();
  if (axis < 0 || size_t(axis) >= rank || indices.ctype() == ComputeType::F32)
    return bad("gather axis or index type");
  std::vector<int64_t> expect(table.dims.begin(), table.dims.begin() + axis);
  expect.insert(expect.end(), indices.dims.begin(), indices.dims.end());
  expect.insert(expect.end(), table.dims.begin() + axis + 1, table.dims.end());
  if (expect != out.dims)
    return bad("gather result shape");
  int64_t outer = 1, inner = 1, dim = table.dims[size_t(axis)];
  for (size_t d = 0; d < size_t(axis); ++d)
    outer *= table.dims[d];
  for (size_t d = size_t(axis) + 1; d < rank; ++d)
    inner *= table.dims[d];
  int64_t numIdx = indices.numel();
  std::vector<int64_t> idx(static_cast<size_t>(numIdx));
  for (int64_t i = 0; i < numIdx; ++i) {
    int64_t v =
        indices.ctype() == ComputeType::I32 ? indices.i32[size_t(i)] : indices.i64[size_t(i)];
    if (v < -dim || v >= dim)
      return runtimeError("gather index " + std::to_string(v) +
                          " is out of range for a dimension of size " + std::to_string(dim));
    idx[size_t(i)] = v < 0 ? v + dim : v;
  }
  if (table.stored) { // a weight (an embedding): only the gathered rows are read
    const size_t rowBytes = size_t(inner) * dtypeSize(table.dtype);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < numIdx; ++i)
        loadInto(table.stored + size_t(o * dim + idx[size_t(i)]) * rowBytes, table.dtype,
                 size_t(inner), out, size_t((o * numIdx + i) * inner));
    return Status::ok();
  }
  return dispatch(table.ctype(), [&](auto t) {
    using T = decltype(t);
    const auto &din = cdata<T>(table);
    auto &dout = data<T>(out);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < numIdx; ++i)
        std::copy(din.begin() + (o * dim + idx[size_t(i)]) * inner,
                  din.begin() + (o * dim + idx[size_t(i)] + 1) * inner,
                  dout.begin() + (o * numIdx + i) * inner);
    return Status::ok();
  });
}

// Elementwise comparison of two broadcast operands into 0/1.
template <typename T>
Status compareOp(int64_t predicate, const Value &a, const Value &b, Value &out) {
  std::vector<int64_t> sa, sb;
  CHITU_RETURN_IF_ERROR(broadcastStrides(a.dims, out.dims, sa));
  CHITU_RETURN_IF_ERROR(broadcastStrides(b.dims, out.dims, sb));
  const auto &da = cdata<T>(a);
  const auto &db = cdata<T>(b);
  IndexWalker walk(out.dims, {&sa, &sb});
  for (size_t i = 0; i < out.i32.size(); ++i, walk.next()) {
    T x = da[walk.offset(0)], y = db[walk.offset(1)];
    bool r = predicate == 0   ? x == y
             : predicate == 1 ? x != y
             : predicate == 2 ? x < y
             : predicate == 3 ? x <= y
             : predicate == 4 ? x > y
                              : x >= y;
    out.i32[i] = r;
  }
  return Status::ok();
}

template <typename T> Status selectOp(const Value &c, const Value &a, const Value &b, Value &out) {
  std::vector<int64_t> sc, sa, sb;
  CHITU_RETURN_IF_ERROR(broadcastStrides(c.dims, out.dims, sc));
  CHITU_RETURN_IF_ERROR(broadcastStrides(a.dims, out.dims, sa));
  CHITU_RETURN_IF_ERROR(broadcastStrides(b.dims, out.dims, sb));
  const auto &da = cdata<T>(a);
  const auto &db = cdata<T>(b);
  auto &dout = data<T>(out);
  IndexWalker walk(out.dims, {&sc, &sa, &sb});
  for (size_t i = 0; i < dout.size(); ++i, walk.next())
    dout[i] = c.i32[walk.offset(0)] ? da[walk.offset(1)] : db[walk.offset(2)];
  return Status::ok();
}

template <typename T> Status broadcastToOp(const Value &in, Value &out) {
  std::vector<int64_t> s;
  CHITU_RETURN_IF_ERROR(broadcastStrides(in.dims, out.dims, s));
  const auto &din = cdata<T>(in);
  auto &dout = data<T>(out);
  IndexWalker walk(out.dims, {&s});
  for (size_t i = 0; i < dout.size(); ++i, walk.next())
    dout[i] = din[walk.offset(0)];
  return Status::ok();
}

Status iotaOp(double start, double step, Value &out) {
  int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (out.ctype() == ComputeType::F32)
      out.f32[size_t(i)] = float(start + double(i) * step);
    else if (out.ctype() == ComputeType::I32)
      out.i32[size_t(i)] = int32_t(int64_t(start) + i * int64_t(step));
    else
      out.i64[size_t(i)] = int64_t(start) + i * int64_t(step);
  }
  return Status::ok();
}

Status gatherElementsOp(int64_t axis, const Value &in, const Value &indices, Value &out) {
  size_t rank = in.dims.size();
  if (axis < 0 || size_t(axis) >= rank || indices.dims.size() != rank || out.dims != indices.dims)
    return bad("gather_elements shapes");
  for (size_t d = 0; d < rank; ++d)
    if (int64_t(d) != axis && indices.dims[d] > in.dims[d])
      return bad("gather_elements indices exceed the input");
  std::vector<int64_t> inStrides = rowMajorStrides(in.dims);
  int64_t dim = in.dims[size_t(axis)];
  return dispatch(in.ctype(), [&](auto t) {
    using T = decltype(t);
    const auto &din = cdata<T>(in);
    auto &dout = data<T>(out);
    std::vector<int64_t> idx(rank, 0);
    for (size_t i = 0; i < dout.size(); ++i) {
      int64_t v = indices.ctype() == ComputeType::I32 ? indices.i32[i] : indices.i64[i];
      if (v < -dim || v >= dim)
        return runtimeError("gather_elements index " + std::to_string(v) +
                            " is out of range for a dimension of size " + std::to_string(dim));
      int64_t offset = 0;
      for (size_t d = 0; d < rank; ++d)
        offset += (int64_t(d) == axis ? (v < 0 ? v + dim : v) : idx[d]) * inStrides[d];
      dout[i] = din[size_t(offset)];
      for (size_t d = rank; d-- > 0;) { // next index of the result
        if (++idx[d] < out.dims[d])
          break;
        idx[d] = 0;
      }
    }
    return Status::ok();
  });
}

Status cumsumOp(int64_t axis, bool exclusive, bool reverse, const Value &in, Value &out) {
  if (axis < 0 || size_t(axis) >= in.dims.size())
    return bad("cumsum axis");
  int64_t n = in.dims[size_t(axis)], inner = 1, outer = 1;
  for (size_t d = size_t(axis) + 1; d < in.dims.size(); ++d)
    inner *= in.dims[d];
  for (size_t d = 0; d < size_t(axis); ++d)
    outer *= in.dims[d];
  return dispatch(in.ctype(), [&](auto t) {
    using T = decltype(t);
    const auto &din = cdata<T>(in);
    auto &dout = data<T>(out);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        // Each element sums its own prefix from the start of the axis (the GPU's order).
        for (int64_t k = 0; k < n; ++k) {
          int64_t lo = reverse ? k + (exclusive ? 1 : 0) : 0;
          int64_t hi = reverse ? n : k + (exclusive ? 0 : 1);
          T acc = 0;
          for (int64_t j = lo; j < hi; ++j) {
            T v = din[size_t((o * n + j) * inner + i)];
            if constexpr (std::is_same_v<T, float>)
              acc = acc + v;
            else
              acc = scalar::wrapAdd(acc, v);
          }
          dout[size_t((o * n + k) * inner + i)] = acc;
        }
      }
    return Status::ok();
  });
}

} // namespace

namespace {

// The result shape an op must have given its operands, checked before anything is
// allocated, so that a damaged artifact fails instead of allocating absurd amounts.
// (Reshape and slice take their result shape from the artifact; their element count and
// window are checked by the op itself.)
Status checkResultShape(const cbin::Op &op, const std::vector<const Value *> &operands,
                        const std::vector<int64_t> &result) {
  auto expect = [&](const std::vector<int64_t> &dims) {
    return dims == result
               ? Status::ok()
               : bad("result shape " + dimsToString(result) + ", expected " + dimsToString(dims));
  };
  OpKind kind = op.kind();
  if (kind == OpKind::IOTA)
    return operands.empty() && result.size() == 1 ? Status::ok() : bad("iota shape");
  if (kind == OpKind::FROM_SIZES)
    return operands.empty() && result.size() <= 1 ? Status::ok() : bad("from_sizes shape");
  const std::vector<int64_t> &in = operands[0]->dims;
  if (isBinaryKind(kind) || kind == OpKind::COMPARE || kind == OpKind::SELECT) {
    std::vector<int64_t> s;
    for (const Value *v : operands)
      CHITU_RETURN_IF_ERROR(broadcastStrides(v->dims, result, s));
    return Status::ok();
  }
  if (kind == OpKind::BROADCAST_TO) {
    std::vector<int64_t> s;
    return broadcastStrides(in, result, s);
  }
  if (kind == OpKind::GATHER_ELEMENTS)
    return expect(operands[1]->dims);
  if (kind == OpKind::DEQUANTIZE) {
    if (op.ints() && op.ints()->size() == 1) { // int4 groups
      const int64_t group = op.ints()->Get(0);
      if (in.size() != 2 || result.size() != 2 || group <= 0 || result[1] % group != 0 ||
          in[0] != result[0] || in[1] * 2 != result[1])
        return bad("int4 dequantize: values [N, K / 2] to [N, K] in groups");
      for (size_t i = 1; i < operands.size(); ++i)
        if (operands[i]->dims != std::vector<int64_t>{result[0], result[1] / group})
          return bad("int4 dequantize: scales and zeros are [N, K / group]");
      return Status::ok();
    }
    if (operands.size() != 2)
      return bad("dequantize takes values and scales");
    std::vector<int64_t> s;
    CHITU_RETURN_IF_ERROR(broadcastStrides(operands[1]->dims, in, s));
    return expect(in);
  }
  if (isBinaryKind(kind)) {
    std::vector<int64_t> s;
    CHITU_RETURN_IF_ERROR(broadcastStrides(in, result, s));
    return broadcastStrides(operands[1]->dims, result, s);
  }
  switch (kind) {
  case OpKind::MATMUL: {
    const std::vector<int64_t> &b = operands[1]->dims;
    if (in.size() < 2 || b.size() < 2 || result.size() < 2)
      return bad("matmul operands need rank >= 2");
    bool ta = op.ints()->Get(0) != 0, tb = op.ints()->Get(1) != 0;
    std::vector<int64_t> batch(result.begin(), result.end() - 2), s;
    CHITU_RETURN_IF_ERROR(broadcastStrides({in.begin(), in.end() - 2}, batch, s));
    CHITU_RETURN_IF_ERROR(broadcastStrides({b.begin(), b.end() - 2}, batch, s));
    batch.push_back(ta ? in[in.size() - 1] : in[in.size() - 2]);
    batch.push_back(tb ? b[b.size() - 2] : b[b.size() - 1]);
    return expect(batch);
  }
  case OpKind::REDUCE_SUM:
  case OpKind::REDUCE_MAX:
  case OpKind::REDUCE_MEAN: {
    std::vector<int64_t> dims;
    bool keep = op.ints()->Get(0) != 0;
    for (size_t d = 0; d < in.size(); ++d) {
      bool reduced = false;
      for (uint32_t i = 1; i < op.ints()->size(); ++i)
        reduced |= op.ints()->Get(i) == int64_t(d);
      if (!reduced || keep)
        dims.push_back(reduced ? 1 : in[d]);
    }
    return expect(dims);
  }
  case OpKind::TRANSPOSE: {
    std::vector<int64_t> dims;
    for (int64_t p : *op.ints()) {
      if (p < 0 || size_t(p) >= in.size())
        return bad("transpose permutation");
      dims.push_back(in[size_t(p)]);
    }
    return expect(dims);
  }
  case OpKind::CONCAT: {
    int64_t axis = op.ints()->Get(0);
    if (axis < 0 || size_t(axis) >= in.size())
      return bad("concat axis");
    std::vector<int64_t> dims = in;
    dims[size_t(axis)] = 0;
    for (const Value *v : operands) {
      if (v->dims.size() != in.size())
        return bad("concat operand rank");
      dims[size_t(axis)] += v->dims[size_t(axis)];
    }
    return expect(dims);
  }
  case OpKind::GATHER: {
    int64_t axis = op.ints()->Get(0);
    if (axis < 0 || size_t(axis) >= in.size())
      return bad("gather axis");
    std::vector<int64_t> dims(in.begin(), in.begin() + axis);
    dims.insert(dims.end(), operands[1]->dims.begin(), operands[1]->dims.end());
    dims.insert(dims.end(), in.begin() + axis + 1, in.end());
    return expect(dims);
  }
  case OpKind::RESHAPE:
    return numElements(in) == numElements(result) ? Status::ok()
                                                  : bad("reshape changes the element count");
  case OpKind::ROPE:
    if (in.size() != 3 || in[2] % 2 != 0 || operands[1]->dims != std::vector<int64_t>{in[0]} ||
        operands[2]->dims != std::vector<int64_t>{in[2] / 2})
      return bad("rope operand shapes");
    return expect(in);
  case OpKind::KV_WRITE: {
    const std::vector<int64_t> &v = operands[1]->dims;
    if (in.size() != 4 || v.size() != 3 || v[1] != in[2] || v[2] != in[3] ||
        operands[2]->dims != std::vector<int64_t>{v[0]})
      return bad("kv_write operand shapes");
    return expect(in);
  }
  case OpKind::PAGED_ATTENTION: {
    const std::vector<int64_t> &k = operands[1]->dims;
    if (in.size() != 3 || k.size() != 4 || operands[2]->dims != k || k[3] != in[2] || k[2] == 0 ||
        in[1] % k[2] != 0 || operands[3]->dims.size() != 2 ||
        operands[4]->dims != std::vector<int64_t>{in[0]} ||
        operands[5]->dims != std::vector<int64_t>{in[0]})
      return bad("paged_attention operand shapes");
    return expect(in);
  }
  case OpKind::ATTENTION: {
    const std::vector<int64_t> &k = operands[1]->dims, &v = operands[2]->dims;
    size_t rank = in.size();
    if (rank < 2 || k.size() != rank || v.size() != rank ||
        !std::equal(in.begin(), in.end() - 2, k.begin()) ||
        !std::equal(in.begin(), in.end() - 2, v.begin()) || k[rank - 1] != in[rank - 1] ||
        v[rank - 2] != k[rank - 2])
      return bad("attention operand shapes");
    if (operands.size() == 4) {
      std::vector<int64_t> scores = in, strides;
      scores.back() = k[rank - 2];
      CHITU_RETURN_IF_ERROR(broadcastStrides(operands[3]->dims, scores, strides));
    }
    std::vector<int64_t> dims = in;
    dims.back() = v.back();
    return expect(dims);
  }
  case OpKind::SAMPLING_PROBS:
    if (in.size() != 2 || operands[6]->dims.size() != 2 || operands[6]->dims[0] != in[0])
      return bad("sampling_probs operand shapes");
    for (int i = 1; i <= 5; ++i)
      if (operands[size_t(i)]->dims != std::vector<int64_t>{in[0]})
        return bad("sampling_probs parameter shapes");
    return expect(in);
  case OpKind::MULTINOMIAL:
    if (in.size() != 2 || operands[1]->dims != std::vector<int64_t>{in[0]})
      return bad("multinomial operand shapes");
    return expect({in[0]});
  case OpKind::SLICE:
    if (result.size() != in.size())
      return bad("slice rank");
    for (size_t d = 0; d < in.size(); ++d)
      if (result[d] > in[d])
        return bad("slice larger than its input");
    return Status::ok();
  default: // unary, cast, softmax, norms: the input's shape
    return expect(in);
  }
}

// ---- LLM ops -------------------------------------------------------------------------

int64_t intAt(const Value &v, size_t i) {
  return v.ctype() == ComputeType::I32 ? int64_t(v.i32[i]) : v.i64[i];
}

Status ropeOp(const Value &x, const Value &positions, const Value &invFreq, Value &out) {
  if (x.ctype() != ComputeType::F32 || positions.ctype() == ComputeType::F32 ||
      invFreq.ctype() != ComputeType::F32)
    return bad("rope operand types");
  int64_t T = x.dims[0], H = x.dims[1], D = x.dims[2], half = D / 2;
  for (int64_t t = 0; t < T; ++t) {
    float pos = float(intAt(positions, size_t(t)));
    for (int64_t i = 0; i < half; ++i) {
      float angle = pos * invFreq.f32[size_t(i)];
      // bf16/f16: cos, sin and each product rounded to the type, as transformers computes.
      const DType dt = out.dtype;
      float c = roundTo(dt, std::cos(angle)), s = roundTo(dt, std::sin(angle));
      for (int64_t h = 0; h < H; ++h) {
        size_t base = size_t((t * H + h) * D);
        float a = x.f32[base + size_t(i)], b = x.f32[base + size_t(i + half)];
        out.f32[base + size_t(i)] = roundTo(dt, a * c) - roundTo(dt, b * s);
        out.f32[base + size_t(i + half)] = roundTo(dt, b * c) + roundTo(dt, a * s);
      }
    }
  }
  return Status::ok();
}

Status kvWriteOp(const Value &cache, const Value &values, const Value &slots, Value &out) {
  if (cache.ctype() != ComputeType::F32 || values.ctype() != ComputeType::F32 ||
      slots.ctype() == ComputeType::F32)
    return bad("kv_write operand types");
  out.f32 = cache.f32;
  int64_t numSlots = cache.dims[0] * cache.dims[1];
  int64_t row = cache.dims[2] * cache.dims[3];
  for (int64_t t = 0; t < values.dims[0]; ++t) {
    int64_t slot = intAt(slots, size_t(t));
    if (slot < 0)
      continue;
    if (slot >= numSlots)
      return runtimeError("KV slot " + std::to_string(slot) + " is outside the cache (" +
                          std::to_string(numSlots) + " slots)");
    std::copy(values.f32.begin() + t * row, values.f32.begin() + (t + 1) * row,
              out.f32.begin() + slot * row);
  }
  return Status::ok();
}

// Dense attention over the last two axes (shapes checked by checkResultShape): f32 scores
// with the broadcast mask added, an f32 softmax, double sums as the paged routine has.
Status attentionOp(const std::vector<const Value *> &ops, float scale, Value &out) {
  const Value &q = *ops[0], &k = *ops[1], &v = *ops[2];
  const Value *mask = ops.size() > 3 ? ops[3] : nullptr;
  for (const Value *x : ops)
    if (x->ctype() != ComputeType::F32)
      return bad("attention operand types");
  size_t rank = q.dims.size();
  int64_t Sq = q.dims[rank - 2], D = q.dims[rank - 1], Sk = k.dims[rank - 2], Dv = v.dims.back();
  int64_t batch = numElements({q.dims.begin(), q.dims.end() - 2});
  std::vector<int64_t> scoreDims = q.dims, maskStrides;
  scoreDims.back() = Sk;
  if (mask)
    CHITU_RETURN_IF_ERROR(broadcastStrides(mask->dims, scoreDims, maskStrides));
  std::vector<float> scores(static_cast<size_t>(Sk));
  for (int64_t b = 0; b < batch; ++b) {
    // The mask offset of this batch element: its index digits times the mask's strides.
    int64_t maskBase = 0;
    for (int64_t d = int64_t(rank) - 3, rest = b; d >= 0 && mask; --d) {
      maskBase += rest % q.dims[size_t(d)] * maskStrides[size_t(d)];
      rest /= q.dims[size_t(d)];
    }
    for (int64_t i = 0; i < Sq; ++i) {
      const float *qv = q.f32.data() + (b * Sq + i) * D;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < Sk; ++j) {
        const float *kv = k.f32.data() + (b * Sk + j) * D;
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += double(qv[d]) * kv[d];
        float s = float(dot) * scale;
        if (mask)
          s += mask->f32[size_t(maskBase + i * maskStrides[rank - 2] + j * maskStrides[rank - 1])];
        scores[size_t(j)] = s;
        mx = scalar::maxF(mx, s);
      }
      double sum = 0;
      for (int64_t j = 0; j < Sk; ++j)
        sum += scores[size_t(j)] = std::exp(scores[size_t(j)] - mx);
      float *o = out.f32.data() + (b * Sq + i) * Dv;
      for (int64_t d = 0; d < Dv; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < Sk; ++j)
          acc += double(scores[size_t(j)]) * v.f32[size_t((b * Sk + j) * Dv + d)];
        o[d] = Sk == 0 ? 0.0f : float(acc / sum);
      }
    }
  }
  return Status::ok();
}

Status pagedAttentionOp(const std::vector<const Value *> &ops, float scale, int64_t window,
                        Value &out) {
  const Value &q = *ops[0], &kc = *ops[1], &vc = *ops[2], &tables = *ops[3], &seq = *ops[4],
              &pos = *ops[5];
  if (q.ctype() != ComputeType::F32 || kc.ctype() != ComputeType::F32 ||
      tables.ctype() == ComputeType::F32 || seq.ctype() == ComputeType::F32 ||
      pos.ctype() == ComputeType::F32)
    return bad("paged_attention operand types");
  int64_t T = q.dims[0], H = q.dims[1], D = q.dims[2];
  int64_t numBlocks = kc.dims[0], blockSize = kc.dims[1], kvHeads = kc.dims[2];
  int64_t numSeqs = tables.dims[0], maxBlocks = tables.dims[1];
  int64_t group = H / kvHeads;
  std::vector<float> scores;
  for (int64_t t = 0; t < T; ++t) {
    int64_t s = intAt(seq, size_t(t)), p = intAt(pos, size_t(t));
    if (s < 0 || s >= numSeqs)
      return runtimeError("token " + std::to_string(t) + " names sequence " + std::to_string(s) +
                          " of " + std::to_string(numSeqs));
    if (p < 0 || p >= maxBlocks * blockSize)
      return runtimeError("position " + std::to_string(p) + " is beyond the block table (" +
                          std::to_string(maxBlocks * blockSize) + " positions)");
    int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
    std::vector<int64_t> slots;
    for (int64_t j = lo; j <= p; ++j) {
      int64_t block = intAt(tables, size_t(s * maxBlocks + j / blockSize));
      if (block < 0 || block >= numBlocks)
        return runtimeError("block " + std::to_string(block) + " of sequence " + std::to_string(s) +
                            " is outside the cache (" + std::to_string(numBlocks) + " blocks)");
      slots.push_back(block * blockSize + j % blockSize);
    }
    for (int64_t h = 0; h < H; ++h) {
      int64_t kvh = h / group;
      const float *qv = q.f32.data() + (t * H + h) * D;
      scores.assign(slots.size(), 0.0f);
      float mx = -std::numeric_limits<float>::infinity();
      for (size_t j = 0; j < slots.size(); ++j) {
        const float *kv = kc.f32.data() + (slots[j] * kvHeads + kvh) * D;
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += double(qv[d]) * kv[d];
        scores[j] = float(dot) * scale;
        mx = scalar::maxF(mx, scores[j]);
      }
      double sum = 0;
      for (float &sc : scores) {
        sc = std::exp(sc - mx);
        sum += sc;
      }
      float *o = out.f32.data() + (t * H + h) * D;
      for (int64_t d = 0; d < D; ++d) {
        double acc = 0;
        for (size_t j = 0; j < slots.size(); ++j)
          acc += double(scores[j]) * vc.f32[size_t((slots[j] * kvHeads + kvh) * D + d)];
        o[d] = float(acc / sum);
      }
    }
  }
  return Status::ok();
}

Status samplingProbsOp(const std::vector<const Value *> &ops, Value &out) {
  const Value &logits = *ops[0], &temperature = *ops[1], &topK = *ops[2], &topP = *ops[3],
              &minP = *ops[4], &penalty = *ops[5], &history = *ops[6];
  int64_t rows = logits.dims[0], V = logits.dims[1], Hlen = history.dims[1];
  std::vector<float> x(static_cast<size_t>(V));
  std::vector<float> sorted;
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(logits.f32.begin() + r * V, logits.f32.begin() + (r + 1) * V, x.begin());
    float rp = penalty.f32[size_t(r)];
    // The penalty applies once per distinct id.
    std::vector<int64_t> ids;
    for (int64_t j = 0; j < Hlen; ++j) {
      int64_t id = intAt(history, size_t(r * Hlen + j));
      if (id >= 0 && id < V)
        ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (int64_t id : ids) {
      float &l = x[size_t(id)];
      l = l > 0 ? l / rp : l * rp;
    }
    float *p = out.f32.data() + r * V;
    float temp = temperature.f32[size_t(r)];
    if (!(temp > 0)) { // greedy: one-hot at the first largest value
      int64_t best = 0;
      for (int64_t i = 1; i < V; ++i)
        if (x[size_t(i)] > x[size_t(best)])
          best = i;
      std::fill(p, p + V, 0.0f);
      if (V)
        p[best] = 1.0f;
      continue;
    }
    float mx = -std::numeric_limits<float>::infinity();
    for (float &l : x) {
      l /= temp;
      mx = scalar::maxF(mx, l);
    }
    for (int64_t i = 0; i < V; ++i)
      p[i] = std::exp(x[size_t(i)] - mx);
    float threshold = 0; // keep values >= threshold
    int64_t k = topK.i32[size_t(r)];
    if (k > 0 && k < V) {
      sorted.assign(p, p + V);
      std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
      threshold = sorted[size_t(k - 1)];
    }
    float tp = topP.f32[size_t(r)];
    if (tp < 1.0f) {
      sorted.clear();
      double kept = 0;
      for (int64_t i = 0; i < V; ++i)
        if (p[i] >= threshold) {
          sorted.push_back(p[i]);
          kept += p[i];
        }
      std::sort(sorted.begin(), sorted.end(), std::greater<>());
      // The largest threshold whose kept mass reaches top_p of the remaining mass.
      double mass = 0;
      for (float v : sorted) {
        mass += v;
        if (mass >= double(tp) * kept) {
          threshold = std::max(threshold, v);
          break;
        }
      }
    }
    float mp = minP.f32[size_t(r)];
    if (mp > 0)
      threshold = std::max(threshold, mp); // the largest value is exp(0) = 1
    double total = 0;
    for (int64_t i = 0; i < V; ++i) {
      if (!(p[i] >= threshold))
        p[i] = 0;
      total += p[i];
    }
    for (int64_t i = 0; i < V; ++i)
      p[i] = float(p[i] / total);
  }
  return Status::ok();
}

Status multinomialOp(const Value &probs, const Value &seeds, Value &out) {
  int64_t rows = probs.dims[0], n = probs.dims[1];
  for (int64_t r = 0; r < rows; ++r) {
    const float *p = probs.f32.data() + r * n;
    double total = 0;
    for (int64_t i = 0; i < n; ++i)
      total += p[i];
    if (!(total > 0))
      return runtimeError("row " + std::to_string(r) +
                          " has no positive probability mass (NaN logits?)");
    double target = scalar::uniformFromSeed(uint64_t(seeds.i64[size_t(r)])) * total;
    double cum = 0;
    int64_t pick = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (!(p[i] > 0))
        continue;
      cum += p[i];
      pick = i;
      if (cum > target)
        break;
    }
    out.i32[size_t(r)] = int32_t(pick);
  }
  return Status::ok();
}

} // namespace

uint64_t maxAllocBytes() {
  static uint64_t limit = [] {
    const char *env = std::getenv("CHITU_CPU_MAX_ALLOC_BYTES");
    return env ? uint64_t(std::strtoull(env, nullptr, 10)) : (uint64_t(1) << 40);
  }();
  return limit;
}

StatusOr<Value> runOp(const cbin::Op &op, const std::vector<const Value *> &given,
                      const std::vector<int64_t> &resultDims, const std::vector<int64_t> &params,
                      Accumulate accumulate) {
  OpKind kind = op.kind();
  // Operands left in storage are loaded, except a matmul's B and a gather's table, which
  // are read in place.
  std::vector<const Value *> operands = given;
  std::vector<Value> loaded;
  loaded.reserve(given.size());
  for (size_t i = 0; i < given.size(); ++i)
    if (given[i]->stored && !(kind == OpKind::MATMUL && i == 1) &&
        !(kind == OpKind::GATHER && i == 0)) {
      loaded.push_back(loadValue(given[i]->stored, given[i]->dtype, given[i]->dims));
      operands[i] = &loaded.back();
    }
  CHITU_RETURN_IF_ERROR(checkResultShape(op, operands, resultDims));
  uint64_t bytes = 8;
  for (int64_t d : resultDims)
    if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes) || bytes > maxAllocBytes())
      return Status(StatusCode::OutOfMemory, "an op result of shape " + dimsToString(resultDims) +
                                                 " exceeds the CPU executor's allocation limit");
  Value out;
  out.allocate(toDType(op.dtype()), resultDims);
  if (kind == OpKind::FROM_SIZES) {
    if (size_t(out.numel()) != params.size())
      return bad("from_sizes needs one size per element");
    for (size_t i = 0; i < params.size(); ++i) {
      if (out.ctype() == ComputeType::I32)
        out.i32[i] = int32_t(params[i]);
      else
        out.i64[i] = params[i];
    }
    return out;
  }
  if (kind == OpKind::IOTA) {
    CHITU_RETURN_IF_ERROR(iotaOp(op.floats()->Get(0), op.floats()->Get(1), out));
    if (out.dtype == DType::BF16 || out.dtype == DType::F16)
      for (float &v : out.f32)
        v = roundTo(out.dtype, v);
    return out;
  }
  const Value &in = *operands[0];
  auto sameCType = [&](bool includeResult) {
    for (const Value *v : operands)
      if (v->ctype() != in.ctype())
        return false;
    return !includeResult || out.ctype() == in.ctype();
  };
  Status st;
  if (isBinaryKind(kind)) {
    if (!sameCType(true))
      return bad("binary op operand types differ");
    st = dispatch(in.ctype(), [&](auto t) {
      return binaryOp<decltype(t)>(kind, *operands[0], *operands[1], out);
    });
  } else if (isUnaryKind(kind)) {
    if (!sameCType(true) || in.dims != out.dims)
      return bad("unary op type or shape");
    if (in.ctype() == ComputeType::F32) {
      forEachPart(int64_t(out.f32.size()), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          out.f32[size_t(i)] = unaryFloat(kind, in.f32[size_t(i)]);
      });
    } else if (in.ctype() == ComputeType::I32) {
      st = unaryInt<int32_t>(kind, in, out);
    } else {
      st = unaryInt<int64_t>(kind, in, out);
    }
  } else {
    switch (kind) {
    case OpKind::CAST:
      if (in.dims != out.dims)
        return bad("cast changes the shape");
      st = castOp(in, out);
      break;
    case OpKind::MATMUL:
      if (!sameCType(true) || in.ctype() != ComputeType::F32)
        return bad("matmul needs float operands");
      st = matmulOp(op, *operands[0], *operands[1], out, accumulate);
      break;
    case OpKind::REDUCE_SUM:
    case OpKind::REDUCE_MAX:
    case OpKind::REDUCE_MEAN: {
      if (!sameCType(true))
        return bad("reduction type");
      std::vector<int64_t> axes(op.ints()->begin() + 1, op.ints()->end());
      bool keep = op.ints()->Get(0) != 0;
      st = dispatch(in.ctype(),
                    [&](auto t) { return reduceOp<decltype(t)>(kind, in, out, keep, axes); });
      break;
    }
    case OpKind::SOFTMAX:
      if (!sameCType(true) || in.ctype() != ComputeType::F32)
        return bad("softmax needs floats");
      st = softmaxOp(in, out, op.ints()->Get(0));
      break;
    case OpKind::RMS_NORM:
    case OpKind::LAYER_NORM:
      if (!sameCType(true) || in.ctype() != ComputeType::F32)
        return bad("norms need floats");
      st = normOp(kind, operands, out, float(op.floats()->Get(0)));
      break;
    case OpKind::RESHAPE:
      if (!sameCType(true) || in.numel() != out.numel())
        return bad("reshape changes the element count");
      out.f32 = in.f32;
      out.i32 = in.i32;
      out.i64 = in.i64;
      break;
    case OpKind::TRANSPOSE:
      if (!sameCType(true))
        return bad("transpose type");
      st = transposeOp(op, in, out);
      break;
    case OpKind::SLICE:
      if (!sameCType(true))
        return bad("slice type");
      st = sliceOp(op, in, out, params);
      break;
    case OpKind::CONCAT:
      st = concatOp(op.ints()->Get(0), operands, out);
      break;
    case OpKind::GATHER:
      if (out.ctype() != in.ctype())
        return bad("gather type");
      st = gatherOp(op.ints()->Get(0), *operands[0], *operands[1], out);
      break;
    case OpKind::ROPE:
      st = ropeOp(*operands[0], *operands[1], *operands[2], out);
      break;
    case OpKind::KV_WRITE:
      st = kvWriteOp(*operands[0], *operands[1], *operands[2], out);
      break;
    case OpKind::ATTENTION:
      st = attentionOp(operands, float(op.floats()->Get(0)), out);
      break;
    case OpKind::DEQUANTIZE:
      if ((in.dtype != DType::I8 && in.dtype != DType::F8E4M3) ||
          operands[1]->dtype != DType::F32 || out.ctype() != ComputeType::F32 ||
          (operands.size() == 3 && operands[2]->dtype != DType::F32))
        return bad("dequantize takes i8 or f8E4M3FN values and f32 scales to floats");
      if (op.ints() && op.ints()->size() == 1)
        dequantizeInt4Op(in, *operands[1], operands.size() == 3 ? operands[2] : nullptr,
                         op.ints()->Get(0), out);
      else
        st = dequantizeOp(in, *operands[1], out);
      break;
    case OpKind::PAGED_ATTENTION:
      st = pagedAttentionOp(operands, float(op.floats()->Get(0)), op.ints()->Get(0), out);
      break;
    case OpKind::SAMPLING_PROBS:
      for (size_t i = 0; i < operands.size(); ++i)
        if ((i == 2 || i == 6) != (operands[i]->ctype() == ComputeType::I32) ||
            (i != 2 && i != 6 && operands[i]->ctype() != ComputeType::F32))
          return bad("sampling_probs operand types");
      st = samplingProbsOp(operands, out);
      break;
    case OpKind::COMPARE:
      if (operands[0]->ctype() != operands[1]->ctype() || out.dtype != DType::BOOL)
        return bad("compare types");
      st = dispatch(in.ctype(), [&](auto t) {
        return compareOp<decltype(t)>(op.ints()->Get(0), *operands[0], *operands[1], out);
      });
      break;
    case OpKind::SELECT:
      if (in.dtype != DType::BOOL || operands[1]->ctype() != out.ctype() ||
          operands[2]->ctype() != out.ctype())
        return bad("select types");
      st = dispatch(out.ctype(), [&](auto t) {
        return selectOp<decltype(t)>(*operands[0], *operands[1], *operands[2], out);
      });
      break;
    case OpKind::BROADCAST_TO:
      if (!sameCType(true))
        return bad("broadcast_to type");
      st = dispatch(in.ctype(), [&](auto t) { return broadcastToOp<decltype(t)>(in, out); });
      break;
    case OpKind::GATHER_ELEMENTS:
      if (out.ctype() != in.ctype() || operands[1]->ctype() == ComputeType::F32)
        return bad("gather_elements types");
      st = gatherElementsOp(op.ints()->Get(0), in, *operands[1], out);
      break;
    case OpKind::CUMSUM:
      if (!sameCType(true))
        return bad("cumsum type");
      st = cumsumOp(op.ints()->Get(0), op.ints()->Get(1) != 0, op.ints()->Get(2) != 0, in, out);
      break;
    case OpKind::MULTINOMIAL:
      if (operands[0]->ctype() != ComputeType::F32 || operands[1]->ctype() != ComputeType::I64 ||
          out.ctype() != ComputeType::I32)
        return bad("multinomial operand types");
      st = multinomialOp(*operands[0], *operands[1], out);
      break;
    default:
      return bad("unknown op kind");
    }
  }
  if (!st.isOk())
    return st;
  // Every op's f16/bf16 result is rounded to its type (docs/dialect.md, Numerics).
  if (out.dtype == DType::BF16 || out.dtype == DType::F16)
    for (float &v : out.f32)
      v = roundTo(out.dtype, v);
  return out;
}

} // namespace chitu::rt::cpu
