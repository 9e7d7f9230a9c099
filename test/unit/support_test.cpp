// Runtime support code: 16-bit float conversions, size expressions, JSON, safetensors, npy.
#include "support/Expr.h"
#include "support/Float16.h"
#include "support/Format.h"
#include "support/Json.h"
#include "support/Quantize.h"
#include "support/Safetensors.h"
#include "tools/Npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>

using namespace chitu;

namespace {

// The nearest representable value: no neighbour of the result is closer, and on a tie the
// result's last bit is 0. `toFloat` decodes, `step` walks to the next bit pattern.
template <typename Encode, typename Decode>
void checkNearestEven(float f, Encode encode, Decode decode) {
  uint16_t h = encode(f);
  float v = decode(h);
  if (std::isinf(v))
    return; // overflow: checked separately
  double err = std::fabs(double(v) - double(f));
  for (int delta : {-1, 1}) {
    uint16_t n = uint16_t(h + delta);
    float nv = decode(n);
    if (std::isnan(nv) || std::isinf(nv) || ((n ^ h) & 0x8000))
      continue;
    double nerr = std::fabs(double(nv) - double(f));
    ASSERT_LE(err, nerr) << "value " << f << " encodes to " << h;
    if (err == nerr) {
      ASSERT_EQ(h & 1, 0) << "tie of " << f << " not rounded to even";
    }
  }
}

TEST(Format, ParsesByteSizes) {
  EXPECT_EQ(chitu::parseBytes("100000"), std::optional<uint64_t>(100000));
  EXPECT_EQ(chitu::parseBytes("6GiB"), std::optional<uint64_t>(uint64_t(6) << 30));
  EXPECT_EQ(chitu::parseBytes("6G"), std::optional<uint64_t>(uint64_t(6) << 30));
  EXPECT_EQ(chitu::parseBytes("512 MiB"), std::optional<uint64_t>(uint64_t(512) << 20));
  EXPECT_EQ(chitu::parseBytes("2GB"), std::optional<uint64_t>(2000000000));
  EXPECT_EQ(chitu::parseBytes("1.5k"), std::optional<uint64_t>(1536));
  EXPECT_EQ(chitu::parseBytes("64 bytes"), std::optional<uint64_t>(64));
  for (const char *bad : {"", "GiB", "-1", "1.2.3GiB", "12 parsecs", "1e3", "99999999999TiB", ".G"})
    EXPECT_EQ(chitu::parseBytes(bad), std::nullopt) << bad;
  EXPECT_EQ(chitu::humanBytes(uint64_t(3) << 30), "3.00 GiB");
}

// int8 per-row quantization (docs/precision.md): scales are max|row| / 127, values the
// quotient rounded half to even; every element is within half a step of its value, each
// nonzero row reaches +-127, an all-zero row has scale 1, bf16 sources give the same result
// as their f32 values, and a NaN or infinity names its row.
bool quantizeInt8Rows(const void *src, DType srcType, int64_t rows, int64_t cols, int8_t *values,
                      float *scales, int64_t &badRow) {
  return quantizeRows(RowFormat::Int8, src, srcType, rows, cols,
                      reinterpret_cast<uint8_t *>(values), scales, badRow);
}

TEST(Quantize, Int8RowsWithinHalfAStep) {
  const int64_t rows = 5, cols = 37;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> x(size_t(rows * cols));
  for (float &v : x)
    v = normal(rng);
  for (int64_t c = 0; c < cols; ++c)
    x[size_t(2 * cols + c)] = 0.0f; // row 2: zeros
  // Row 3: ties. max 127 -> scale 1, so 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2.
  const float ties[] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f};
  for (int64_t c = 0; c < cols; ++c)
    x[size_t(3 * cols + c)] = c < 6 ? ties[c] : 0.0f;
  std::vector<int8_t> q(x.size());
  std::vector<float> scales(static_cast<size_t>(rows));
  int64_t bad = -1;
  ASSERT_TRUE(quantizeInt8Rows(x.data(), DType::F32, rows, cols, q.data(), scales.data(), bad));
  for (int64_t r = 0; r < rows; ++r) {
    float maxAbs = 0;
    int maxQ = 0;
    for (int64_t c = 0; c < cols; ++c) {
      float v = x[size_t(r * cols + c)];
      maxAbs = std::max(maxAbs, std::fabs(v));
      int qi = q[size_t(r * cols + c)];
      maxQ = std::max(maxQ, std::abs(qi));
      EXPECT_LE(std::fabs(double(v) - double(qi) * double(scales[size_t(r)])),
                0.5 * double(scales[size_t(r)]) * (1 + 1e-6))
          << "row " << r << " col " << c;
    }
    EXPECT_EQ(scales[size_t(r)], maxAbs > 0 ? maxAbs / 127.0f : 1.0f) << "row " << r;
    EXPECT_EQ(maxQ, maxAbs > 0 ? 127 : 0) << "row " << r;
  }
  const int8_t wantTies[] = {127, 0, 2, 2, 0, -2};
  for (int c = 0; c < 6; ++c)
    EXPECT_EQ(q[size_t(3 * cols + c)], wantTies[c]) << "tie " << ties[c];
  // A bf16 source quantizes as its f32 values do.
  std::vector<uint16_t> h(x.size());
  std::vector<float> hx(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    h[i] = floatToBf16(x[i]);
    hx[i] = bf16ToFloat(h[i]);
  }
  std::vector<int8_t> qa(x.size()), qb(x.size());
  std::vector<float> sa(scales.size()), sb(scales.size());
  ASSERT_TRUE(quantizeInt8Rows(h.data(), DType::BF16, rows, cols, qa.data(), sa.data(), bad));
  ASSERT_TRUE(quantizeInt8Rows(hx.data(), DType::F32, rows, cols, qb.data(), sb.data(), bad));
  EXPECT_EQ(qa, qb);
  EXPECT_EQ(sa, sb);
  x[size_t(4 * cols + 7)] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(quantizeInt8Rows(x.data(), DType::F32, rows, cols, q.data(), scales.data(), bad));
  EXPECT_EQ(bad, 4);
}

// fp8 e4m3 ("fn"): every finite code decodes and re-encodes to itself; known values; the
// encoder picks the nearest value (ties to an even code) as a search over all codes does,
// saturates at +-448 and keeps NaN.
TEST(Fp8, EncodesAsTheNearestValue) {
  for (int bits = 0; bits < 256; ++bits) {
    if ((bits & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(f8e4m3ToFloat(uint8_t(bits))));
      continue;
    }
    EXPECT_EQ(floatToF8e4m3(f8e4m3ToFloat(uint8_t(bits))), bits) << bits;
  }
  EXPECT_EQ(f8e4m3ToFloat(0x7e), 448.0f);
  EXPECT_EQ(f8e4m3ToFloat(0x38), 1.0f);
  EXPECT_EQ(f8e4m3ToFloat(0x01), 0x1p-9f);
  EXPECT_EQ(f8e4m3ToFloat(0x08), 0x1p-6f);
  EXPECT_EQ(f8e4m3ToFloat(0xb8), -1.0f);
  EXPECT_EQ(floatToF8e4m3(1000.0f), 0x7e);
  EXPECT_EQ(floatToF8e4m3(-1e30f), 0xfe);
  EXPECT_EQ(floatToF8e4m3(std::numeric_limits<float>::quiet_NaN()) & 0x7f, 0x7f);
  EXPECT_EQ(floatToF8e4m3(1.0625f), 0x38);  // halfway 1 .. 1.125: to the even code (1)
  EXPECT_EQ(floatToF8e4m3(1.1875f), 0x3a);  // halfway 1.125 .. 1.25: to 1.25 (even)
  EXPECT_EQ(floatToF8e4m3(0x1p-10f), 0x00); // half the smallest subnormal: to 0 (even)
  EXPECT_EQ(floatToF8e4m3(0x3p-10f), 0x02); // 1.5 subnormal steps: to 2 (even)
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-12.0f, 9.0f);
  for (int i = 0; i < 20000; ++i) {
    float x = std::exp2(exponent(rng)) * (rng() % 2 ? 1.0f : -1.0f);
    if (std::fabs(x) > 448.0f)
      continue;
    int best = -1;
    double bestError = 1e30;
    for (int bits = 0; bits < 256; ++bits) {
      if ((bits & 0x7f) == 0x7f)
        continue;
      double error = std::fabs(double(f8e4m3ToFloat(uint8_t(bits))) - double(x));
      if (error < bestError || (error == bestError && (bits & 1) == 0 && (best & 1) == 1)) {
        if (f8e4m3ToFloat(uint8_t(bits)) == 0 && std::signbit(x) != ((bits & 0x80) != 0))
          continue; // zero keeps the sign of x
        best = bits, bestError = error;
      }
    }
    EXPECT_EQ(f8e4m3ToFloat(floatToF8e4m3(x)), f8e4m3ToFloat(uint8_t(best))) << x;
  }
}

// fp8 per-row quantization: scale = max|row| / 448, the row's largest element becomes +-448
// exactly, every element is within half a step of its e4m3 neighbourhood (relative 1/16
// of its binade, absolute 2^-10 * scale below the normal range), a NaN names its row.
TEST(Quantize, Fp8RowsWithinHalfAStep) {
  const int64_t rows = 4, cols = 53;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> x(size_t(rows * cols));
  for (float &v : x)
    v = normal(rng);
  std::vector<uint8_t> q(x.size());
  std::vector<float> scales(static_cast<size_t>(rows));
  int64_t bad = -1;
  ASSERT_TRUE(quantizeRows(RowFormat::Fp8E4M3, x.data(), DType::F32, rows, cols, q.data(),
                           scales.data(), bad));
  for (int64_t r = 0; r < rows; ++r) {
    float maxAbs = 0;
    for (int64_t c = 0; c < cols; ++c)
      maxAbs = std::max(maxAbs, std::fabs(x[size_t(r * cols + c)]));
    EXPECT_EQ(scales[size_t(r)], maxAbs / 448.0f);
    bool sawMax = false;
    for (int64_t c = 0; c < cols; ++c) {
      const double v = x[size_t(r * cols + c)] / double(scales[size_t(r)]);
      const double d = f8e4m3ToFloat(q[size_t(r * cols + c)]);
      sawMax |= std::fabs(d) == 448.0;
      const double step =
          std::fabs(v) < 0x1p-6 ? 0x1p-9 : std::exp2(std::floor(std::log2(std::fabs(v))) - 3);
      EXPECT_LE(std::fabs(v - d), 0.5 * step * (1 + 1e-5)) << "row " << r << " col " << c;
    }
    EXPECT_TRUE(sawMax) << "row " << r;
  }
  x[size_t(2 * cols + 3)] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(quantizeRows(RowFormat::Fp8E4M3, x.data(), DType::F32, rows, cols, q.data(),
                            scales.data(), bad));
  EXPECT_EQ(bad, 2);
}

TEST(Float16, RoundTripsEveryHalf) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    float f = f16ToFloat(uint16_t(bits));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(f))));
      continue;
    }
    EXPECT_EQ(floatToF16(f), bits) << "half 0x" << std::hex << bits;
  }
}

TEST(Float16, RoundsToNearestEven) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    float f = bitsToFloat(bits(rng));
    if (std::isnan(f) || std::fabs(f) > 65504.0f)
      continue;
    checkNearestEven(f, floatToF16, f16ToFloat);
  }
  // Subnormals and exact ties.
  EXPECT_EQ(floatToF16(5.9604645e-08f), 0x0001);     // smallest subnormal
  EXPECT_EQ(floatToF16(2.9802322e-08f), 0x0000);     // half of it: ties to even (0)
  EXPECT_EQ(floatToF16(1.0f + 1.0f / 2048), 0x3c00); // tie between 1 and 1+2^-10: even
  EXPECT_EQ(floatToF16(65520.0f), 0x7c00);           // rounds past the largest: infinity
  EXPECT_EQ(floatToF16(-1e9f), 0xfc00);
}

TEST(BFloat16, RoundTripsAndRoundsToNearestEven) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    float f = bf16ToFloat(uint16_t(bits));
    if (!std::isnan(f))
      EXPECT_EQ(floatToBf16(f), bits);
  }
  std::mt19937 rng(2);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    float f = bitsToFloat(bits(rng));
    if (!std::isnan(f) && std::fabs(f) < 3e38f)
      checkNearestEven(f, floatToBf16, bf16ToFloat);
  }
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(std::numeric_limits<float>::quiet_NaN()))));
}

std::vector<int64_t> prog(std::initializer_list<int64_t> code) { return code; }
constexpr int64_t C = int64_t(ExprOpcode::PushConst), S = int64_t(ExprOpcode::PushSym);

TEST(Expr, Evaluates) {
  int64_t syms[2] = {7, 3};
  auto eval = [&](std::vector<int64_t> p) {
    auto r = evalExpr(p.data(), p.size(), syms, 2);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : -1;
  };
  EXPECT_EQ(eval(prog({C, 5})), 5);
  EXPECT_EQ(eval(prog({S, 0, S, 1, int64_t(ExprOpcode::Mul)})), 21);
  EXPECT_EQ(eval(prog({S, 0, C, 2, int64_t(ExprOpcode::CeilDiv)})), 4);
  EXPECT_EQ(eval(prog({C, -7, C, 2, int64_t(ExprOpcode::FloorDiv)})), -4);
  EXPECT_EQ(eval(prog({C, -7, C, 2, int64_t(ExprOpcode::Mod)})), 1);
  EXPECT_EQ(eval(prog({S, 0, S, 1, int64_t(ExprOpcode::Max)})), 7);
  EXPECT_EQ(eval(prog({S, 0, S, 1, int64_t(ExprOpcode::Min), C, 1, int64_t(ExprOpcode::Sub)})), 2);
}

TEST(Expr, RejectsMalformedPrograms) {
  int64_t syms[1] = {1};
  auto error = [&](std::vector<int64_t> p) {
    auto r = evalExpr(p.data(), p.size(), syms, 1);
    return r.isOk() ? std::string("ok") : r.status().message();
  };
  EXPECT_NE(error({}).find("empty"), std::string::npos);
  EXPECT_NE(error(prog({C})).find("ends inside"), std::string::npos);
  EXPECT_NE(error(prog({S, 3})).find("names symbol 3 of 1"), std::string::npos);
  EXPECT_NE(error(prog({C, 1, int64_t(ExprOpcode::Add)})).find("pops an empty stack"),
            std::string::npos);
  EXPECT_NE(error(prog({C, 1, C, 2})).find("leaves 2 values"), std::string::npos);
  EXPECT_NE(error(prog({42})).find("unknown opcode"), std::string::npos);
  EXPECT_NE(error(prog({C, 1, C, 0, int64_t(ExprOpcode::FloorDiv)})).find("division by zero"),
            std::string::npos);
  EXPECT_NE(error(prog({C, INT64_MAX, C, 2, int64_t(ExprOpcode::Mul)})).find("overflow"),
            std::string::npos);
  std::vector<int64_t> deep;
  for (int i = 0; i < 100; ++i)
    deep.insert(deep.end(), {C, 1});
  EXPECT_NE(error(deep).find("too deep"), std::string::npos);
}

TEST(Json, ParsesDocuments) {
  auto v = parseJson(R"({"a": [1, -2.5e3, true, null], "b": {"c": "x\ny\u00e9\ud83d\ude00"}})");
  ASSERT_TRUE(v.isOk()) << v.status().message();
  const JsonValue *a = v->find("a");
  ASSERT_TRUE(a && a->isArray());
  EXPECT_TRUE(a->items()[0].isInteger());
  EXPECT_EQ(a->items()[0].asInt(), 1);
  EXPECT_DOUBLE_EQ(a->items()[1].asDouble(), -2500);
  EXPECT_FALSE(a->items()[1].isInteger());
  EXPECT_TRUE(a->items()[2].asBool());
  EXPECT_TRUE(a->items()[3].isNull());
  EXPECT_EQ(v->find("b")->find("c")->asString(), "x\ny\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Json, ReportsErrorsWithOffsets) {
  for (const char *bad :
       {"{", "[1,]", "{\"a\" 1}", "\"abc", "tru", "01x", "[1] 2", "\"\\q\"", "\"\\u12\""}) {
    auto v = parseJson(bad);
    EXPECT_FALSE(v.isOk()) << bad;
    if (!v.isOk())
      EXPECT_NE(v.status().message().find("at byte"), std::string::npos);
  }
  std::string deep(1000, '[');
  EXPECT_NE(parseJson(deep).status().message().find("nesting too deep"), std::string::npos);
}

TEST(Json, WriterEscapes) {
  JsonWriter w(false);
  w.beginObject().key("s").value("a\"b\n").key("n").value(int64_t(-3)).endObject();
  EXPECT_EQ(w.str(), "{\"s\":\"a\\\"b\\n\",\"n\":-3}");
}

std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/chitu_support_test_" + name;
}

void writeSafetensors(const std::string &path, const std::string &header,
                      const std::vector<uint8_t> &data) {
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char *>(&n), 8);
  f << header;
  f.write(reinterpret_cast<const char *>(data.data()), std::streamsize(data.size()));
}

TEST(Safetensors, ReadsTensors) {
  std::string path = tempPath("ok.safetensors");
  writeSafetensors(
      path,
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],)"
      R"("data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}})",
      std::vector<uint8_t>(20, 1));
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.isOk()) << f.status().message();
  ASSERT_NE((*f)->find("w"), nullptr);
  EXPECT_EQ((*f)->find("w")->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(*(*f)->find("b")->dtype, DType::BF16);
  EXPECT_EQ((*f)->find("missing"), nullptr);
  auto checksum = safetensorsHeaderChecksum(path);
  ASSERT_TRUE(checksum.isOk());
  EXPECT_EQ(*checksum, (*f)->headerChecksum());
  std::remove(path.c_str());
}

TEST(Safetensors, RejectsCorruptFiles) {
  struct Bad {
    std::string header;
    size_t dataBytes;
    const char *message;
  };
  for (const Bad &b : std::vector<Bad>{
           {R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 8,
            "extends past the end"},
           {R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", 16, "need 24"},
           {R"({"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,2]}})", 2, "unknown dtype"},
           {R"({"w":{"shape":[2]}})", 0, "lacks dtype"},
           {R"({"w":)", 0, "JSON"},
           {R"([1,2])", 0, "not a JSON object"},
       }) {
    std::string path = tempPath("bad.safetensors");
    writeSafetensors(path, b.header, std::vector<uint8_t>(b.dataBytes, 0));
    auto f = SafetensorsFile::open(path);
    ASSERT_FALSE(f.isOk()) << b.header;
    EXPECT_NE(f.status().message().find(b.message), std::string::npos) << f.status().message();
    std::remove(path.c_str());
  }
  std::string path = tempPath("short.safetensors");
  std::ofstream(path) << "abc";
  EXPECT_FALSE(SafetensorsFile::open(path).isOk());
  std::ofstream(path, std::ios::binary) << std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  EXPECT_NE(SafetensorsFile::open(path).status().message().find("exceeds the file"),
            std::string::npos);
  std::remove(path.c_str());
}

TEST(Npy, RoundTripsAndConverts) {
  std::string path = tempPath("a.npy");
  float values[6] = {1.5f, -2, 3, 4, 5, 6.25f};
  ASSERT_TRUE(writeNpy(path, "<f4", {2, 3}, values, sizeof values).isOk());
  auto a = readNpy(path);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  EXPECT_EQ(a->descr, "<f4");
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  std::vector<uint8_t> bf16;
  ASSERT_TRUE(convertNpyForInput(*a, DType::BF16, "x", bf16).isOk());
  uint16_t first;
  std::memcpy(&first, bf16.data(), 2);
  EXPECT_EQ(bf16ToFloat(first), 1.5f);
  std::vector<uint8_t> out;
  auto st = convertNpyForInput(*a, DType::I64, "x", out);
  EXPECT_NE(st.message().find("input 'x' is i64 (npy '<i8') but the file holds '<f4'"),
            std::string::npos);
  int32_t scalar = 7;
  ASSERT_TRUE(writeNpy(path, "<i4", {}, &scalar, 4).isOk());
  a = readNpy(path);
  ASSERT_TRUE(a.isOk());
  EXPECT_TRUE(a->shape.empty());
  std::ofstream(path) << "not npy at all";
  EXPECT_NE(readNpy(path).status().message().find("magic"), std::string::npos);
  std::remove(path.c_str());
}

// int4 groups (Quantize.h), checked against a restatement of the format in double
// precision: symmetric scale = max|group| / 7.5 with zero 8, asymmetric scale = (hi - lo) / 15
// with lo <= 0 <= hi and an integer zero in [0, 15]; the packed nibbles decode (low nibble
// first) to within half a step of every element, the largest magnitude of a symmetric group
// is an end of the nibble range, an all-zero group has scale 1 and decodes to zeros, bf16 sources
// match their f32 values, and a NaN names its row.
TEST(Quantize, Int4GroupsWithinHalfAStep) {
  const int64_t rows = 5, cols = 256;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.01f, 0.02f);
  std::vector<float> x(size_t(rows * cols));
  for (float &v : x)
    v = normal(rng);
  for (int64_t c = 0; c < 128; ++c) // row 1's first groups: all zero
    x[size_t(cols + c)] = 0.0f;
  for (Int4Scheme scheme : {Int4Scheme::Symmetric, Int4Scheme::Asymmetric})
    for (int64_t group : {32, 64, 128}) {
      SCOPED_TRACE(std::string(scheme == Int4Scheme::Symmetric ? "symmetric" : "asymmetric") +
                   " g" + std::to_string(group));
      const int64_t groups = cols / group;
      std::vector<uint8_t> q(size_t(rows * cols / 2));
      std::vector<float> scales(size_t(rows * groups)), zeros(scales.size(), -1.0f);
      int64_t bad = -1;
      ASSERT_TRUE(quantizeInt4Groups(scheme, group, x.data(), DType::F32, rows, cols, q.data(),
                                     scales.data(), zeros.data(), bad));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t g = 0; g < groups; ++g) {
          double lo = 0, hi = 0, maxAbs = 0;
          for (int64_t i = 0; i < group; ++i) {
            const double v = x[size_t(r * cols + g * group + i)];
            lo = std::min(lo, v), hi = std::max(hi, v), maxAbs = std::max(maxAbs, std::fabs(v));
          }
          const double scale = scales[size_t(r * groups + g)];
          double zero = 8;
          if (scheme == Int4Scheme::Symmetric) {
            EXPECT_NEAR(scale, maxAbs > 0 ? maxAbs / 7.5 : 1.0, 1e-6 * scale);
          } else {
            zero = zeros[size_t(r * groups + g)];
            EXPECT_NEAR(scale, hi > lo ? (hi - lo) / 15 : 1.0, 1e-6 * scale);
            EXPECT_EQ(zero, std::nearbyint(zero));
            EXPECT_GE(zero, 0);
            EXPECT_LE(zero, 15);
          }
          bool reachesMax = false;
          for (int64_t i = 0; i < group; ++i) {
            const int64_t c = g * group + i;
            const double v = x[size_t(r * cols + c)];
            const int nibble = int4Nibble(q.data(), cols, r, c);
            const double d = (nibble - zero) * scale;
            EXPECT_LE(std::fabs(v - d), 0.5 * scale * (1 + 1e-5)) << "row " << r << " col " << c;
            reachesMax |= std::fabs(v) == maxAbs && (nibble == 15 || nibble == 0);
          }
          if (scheme == Int4Scheme::Symmetric && maxAbs > 0) {
            EXPECT_TRUE(reachesMax) << "row " << r << " group " << g;
          }
        }
      // Row 1's zero groups: scale 1, every element decodes to 0.
      EXPECT_EQ(scales[size_t(groups)], 1.0f);
      for (int64_t c = 0; c < group; ++c)
        EXPECT_EQ(int4Nibble(q.data(), cols, 1, c),
                  scheme == Int4Scheme::Symmetric ? 8 : int(zeros[size_t(groups)]));
      // bf16 sources quantize as their f32 values.
      std::vector<uint16_t> bf(x.size());
      std::vector<float> rounded(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        bf[i] = floatToBf16(x[i]);
        rounded[i] = bf16ToFloat(bf[i]);
      }
      std::vector<uint8_t> qa(q.size()), qb(q.size());
      std::vector<float> sa(scales.size()), sb(scales.size()), za(scales.size()), zb(scales.size());
      ASSERT_TRUE(quantizeInt4Groups(scheme, group, bf.data(), DType::BF16, rows, cols, qa.data(),
                                     sa.data(), za.data(), bad));
      ASSERT_TRUE(quantizeInt4Groups(scheme, group, rounded.data(), DType::F32, rows, cols,
                                     qb.data(), sb.data(), zb.data(), bad));
      EXPECT_EQ(qa, qb);
      EXPECT_EQ(sa, sb);
    }
  // Packing: element 2b in the low nibble of byte b, 2b + 1 in the high one.
  const float pair[2 * 32] = {-7.5f, 7.0f};
  uint8_t packed[32];
  float scale = 0;
  int64_t bad = -1;
  ASSERT_TRUE(quantizeInt4Groups(Int4Scheme::Symmetric, 32, pair, DType::F32, 1, 32, packed, &scale,
                                 nullptr, bad));
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(packed[0], (15 << 4) | 0); // -7.5 -> -8 + 8 = 0 (ties to even), 7 -> 15
  EXPECT_EQ(packed[1], (8 << 4) | 8);
  x[size_t(3 * cols + 100)] = std::numeric_limits<float>::infinity();
  std::vector<uint8_t> q(size_t(rows * cols / 2));
  std::vector<float> scales(size_t(rows * cols / 32));
  EXPECT_FALSE(quantizeInt4Groups(Int4Scheme::Symmetric, 32, x.data(), DType::F32, rows, cols,
                                  q.data(), scales.data(), nullptr, bad));
  EXPECT_EQ(bad, 3);
}

} // namespace
