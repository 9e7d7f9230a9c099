// Op tests over the generated cases (test/ops/gen_op_cases.py):
//  - CpuOps: the CPU executor against a straightforward double-precision reference;
//  - GpuOps: the CUDA executor against the CPU executor on the same random inputs.
// Every case runs with dynamic dimensions of several sizes (0, 1 and a random one) and
// fresh random inputs; CHITU_TEST_SEED replays a run.
#include "OpCases.h"
#include "Reference.h"

#include "support/Float16.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace chitu;
using namespace chitu::test;

namespace {

const std::vector<OpCase> &cases() {
  static std::string error;
  static std::vector<OpCase> all = [] {
    auto loaded = loadOpCases(error);
    if (loaded.empty()) {
      OpCase missing;
      missing.name = "manifest_missing";
      loaded.push_back(missing);
    }
    return loaded;
  }();
  return all;
}

std::string manifestError() {
  std::string error;
  loadOpCases(error);
  return error;
}

class OpCaseTest : public ::testing::TestWithParam<OpCase> {};

// Dynamic sizes each case runs with: empty, a single row, and one random size in each range
// the CUDA products treat apart (the matrix-vector routine's 4- and 16-row accumulators,
// tiles, and from kLibraryMinRows = 64 rows the GEMM library where the GPU machine has it).
std::vector<int64_t> sizes(std::mt19937_64 &rng) {
  return {0,
          1,
          int64_t(2 + rng() % 3),
          int64_t(5 + rng() % 12),
          int64_t(17 + rng() % 40),
          int64_t(64 + rng() % 97)};
}

double roundTo(double v, DType t) {
  if (t == DType::BF16)
    return roundToBf16(float(v));
  if (t == DType::F16)
    return roundToF16(float(v));
  if (t == DType::F32)
    return double(float(v));
  return v;
}

TEST_P(OpCaseTest, CpuMatchesReference) {
  const OpCase &c = GetParam();
  ASSERT_FALSE(c.cbin.empty()) << manifestError();
  uint64_t seed = testSeed() ^ std::hash<std::string>()(c.name);
  SCOPED_TRACE("CHITU_TEST_SEED=" + std::to_string(testSeed()));
  std::mt19937_64 rng(seed);
  for (int64_t n : sizes(rng)) {
    SCOPED_TRACE("dynamic size " + std::to_string(n));
    std::vector<NdArray> inputs = makeInputs(c, n, rng);
    std::vector<NdArray> outputs;
    std::string error = runCase(c, CHITU_DEVICE_CPU, inputs, outputs);
    ASSERT_EQ(error, "");
    if (c.kind != "op")
      continue; // models are checked against numpy by the end-to-end tests
    NdArray ref;
    ASSERT_EQ(reference(c, inputs, ref), "");
    for (double &v : ref.values)
      v = roundTo(v, outputs[0].dtype);
    ref.dtype = outputs[0].dtype;
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_EQ(compare(outputs[0], ref, tolerance(outputs[0].dtype)), "");
  }
}

// A case whose fused kernels may legitimately differ from op-by-op evaluation beyond one
// rounding (attrs "fusion": "unrounded weights": dequantized weights summed unrounded by the
// matrix-vector routines) gets 4x its type's tolerance: the per-weight roundings of the op
// (2^-9 relative in bf16) add up over products with cancellation and through stacked
// products (measured: up to 1.13% relative in bf16 for fuse_int8_swiglu, against 1%). A
// wrong scale, layout or conversion is off by far more.
// A case whose output is a cast of a 16-bit result (attrs "rounded_as": "bf16" or "f16") gets
// that type's tolerance: the GPU's and the CPU's sums in other orders round one ulp apart
// where they fall near a rounding boundary.
double gpuTolerance(const OpCase &c, DType t) {
  if (const JsonValue *r = c.attrs.find("rounded_as"))
    t = r->asString() == "bf16" ? DType::BF16 : r->asString() == "f16" ? DType::F16 : t;
  return c.attrs.find("fusion") ? 4 * tolerance(t) : tolerance(t);
}

TEST_P(OpCaseTest, GpuMatchesCpu) {
  const OpCase &c = GetParam();
  ASSERT_FALSE(c.cbin.empty()) << manifestError();
  if (chitu_cuda_device_count() == 0)
    GTEST_SKIP() << "no CUDA GPU: " << chitu_last_error();
  SCOPED_TRACE("CHITU_TEST_SEED=" + std::to_string(testSeed()));
  std::mt19937_64 rng(testSeed() ^ std::hash<std::string>()(c.name) ^ 0x9e3779b97f4a7c15ull);
  for (int64_t n : sizes(rng)) {
    SCOPED_TRACE("dynamic size " + std::to_string(n));
    std::vector<NdArray> inputs = makeInputs(c, n, rng);
    std::vector<NdArray> cpu, gpu;
    ASSERT_EQ(runCase(c, CHITU_DEVICE_CPU, inputs, cpu), "");
    ASSERT_EQ(runCase(c, CHITU_DEVICE_CUDA, inputs, gpu), "");
    ASSERT_EQ(cpu.size(), gpu.size());
    for (size_t o = 0; o < cpu.size(); ++o)
      EXPECT_EQ(compare(gpu[o], cpu[o], gpuTolerance(c, cpu[o].dtype)), "") << "output " << o;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, OpCaseTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<OpCase> &info) {
                           return info.param.name;
                         });

// Fusion groups ops into kernels without changing a bit: every model case (the examples and
// the fused-shape graphs) against its --no-fusion build, on the same inputs. The exception:
// a dequantize folded into a product (attrs "fusion": "unrounded weights") on the GPU, where
// the matrix-vector routine sums values times the quantized weights and scales each column's
// sum once instead of rounding every dequantized weight to the product's type; it is
// checked there within gpuTolerance.
void expectFusedEqualsUnfused(chitu_device device) {
  size_t pairs = 0;
  for (const OpCase &unfused : cases()) {
    if (unfused.kind != "unfused")
      continue;
    const std::string name = unfused.name.substr(0, unfused.name.size() - 7); // "_nofuse"
    const OpCase *fused = nullptr;
    for (const OpCase &c : cases())
      if (c.name == name)
        fused = &c;
    ASSERT_NE(fused, nullptr) << name;
    SCOPED_TRACE(name + " CHITU_TEST_SEED=" + std::to_string(testSeed()));
    std::mt19937_64 rng(testSeed() ^ std::hash<std::string>()(name));
    for (int64_t n : {int64_t(1), int64_t(37)}) {
      std::vector<NdArray> inputs = makeInputs(*fused, n, rng);
      std::vector<NdArray> a, b;
      ASSERT_EQ(runCase(*fused, device, inputs, a), "");
      ASSERT_EQ(runCase(unfused, device, inputs, b), "");
      ASSERT_EQ(a.size(), b.size());
      const JsonValue *fusion = fused->attrs.find("fusion");
      const bool bitwise = device == CHITU_DEVICE_CPU || !fusion;
      for (size_t o = 0; o < a.size(); ++o)
        if (bitwise)
          EXPECT_EQ(a[o].toBytes(), b[o].toBytes()) << "output " << o << ", size " << n;
        else
          EXPECT_EQ(compare(a[o], b[o], gpuTolerance(*fused, b[o].dtype)), "") << "output " << o;
    }
    ++pairs;
  }
  EXPECT_GE(pairs, 15u) << manifestError();
}

TEST(Fusion, CpuFusedEqualsUnfused) { expectFusedEqualsUnfused(CHITU_DEVICE_CPU); }

TEST(Fusion, GpuFusedEqualsUnfused) {
  if (chitu_cuda_device_count() == 0)
    GTEST_SKIP() << "no CUDA GPU: " << chitu_last_error();
  expectFusedEqualsUnfused(CHITU_DEVICE_CUDA);
}

// A gather index outside its table fails the run on either device, with a message.
TEST(GatherErrors, OutOfRangeIndexIsAnError) {
  const OpCase *gather = nullptr;
  for (const OpCase &c : cases())
    if (c.name == "gather_f32_i64")
      gather = &c;
  ASSERT_NE(gather, nullptr) << manifestError();
  std::mt19937_64 rng(testSeed());
  std::vector<NdArray> inputs = makeInputs(*gather, 4, rng);
  for (double bad : {50.0, -51.0}) {
    inputs[1].values[2] = bad;
    std::vector<NdArray> out;
    std::string error = runCase(*gather, CHITU_DEVICE_CPU, inputs, out);
    EXPECT_NE(error.find("out of range"), std::string::npos) << error;
    if (chitu_cuda_device_count() > 0) {
      error = runCase(*gather, CHITU_DEVICE_CUDA, inputs, out);
      EXPECT_NE(error.find("out of range"), std::string::npos) << error;
    }
  }
}

// Without a GPU, a CUDA session fails with a device error that says why.
TEST(Devices, CudaWithoutGpuIsAClearError) {
  if (chitu_cuda_device_count() > 0)
    GTEST_SKIP() << "a GPU is present";
  const OpCase &c = cases().front();
  ASSERT_FALSE(c.cbin.empty()) << manifestError();
  chitu_model *model = nullptr;
  ASSERT_EQ(chitu_model_load(c.cbin.c_str(), nullptr, &model), CHITU_OK) << chitu_last_error();
  chitu_session *session = nullptr;
  EXPECT_EQ(chitu_session_create(model, CHITU_DEVICE_CUDA, 0, &session), CHITU_ERROR_DEVICE);
  EXPECT_NE(std::string(chitu_last_error()).find("CUDA"), std::string::npos) << chitu_last_error();
  EXPECT_EQ(session, nullptr);
  chitu_model_free(model);
}

// A model compiled only for other GPUs is refused, naming what to recompile for; it
// still runs on the CPU.
TEST(Devices, ModelWithoutCodeForThisGpuIsRefused) {
  std::string path = opCasesDir() + "/add_f32_sm75.cbin";
  chitu_model *model = nullptr;
  ASSERT_EQ(chitu_model_load(path.c_str(), nullptr, &model), CHITU_OK) << chitu_last_error();
  chitu_session *session = nullptr;
  EXPECT_EQ(chitu_session_create(model, CHITU_DEVICE_CPU, 0, &session), CHITU_OK);
  chitu_session_free(session);
  if (chitu_cuda_device_count() == 0) {
    chitu_model_free(model);
    GTEST_SKIP() << "no CUDA GPU: " << chitu_last_error();
  }
  session = nullptr;
  EXPECT_EQ(chitu_session_create(model, CHITU_DEVICE_CUDA, 0, &session), CHITU_ERROR_UNSUPPORTED);
  std::string error = chitu_last_error();
  EXPECT_NE(error.find("it was compiled for sm_75; recompile with --target sm_"), std::string::npos)
      << error;
  chitu_model_free(model);
}

} // namespace
