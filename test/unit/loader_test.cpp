// The .cbin loader refuses damaged artifacts with a status and a message: wrong
// identifiers, truncation at every length, flipped bytes, offsets and indices out of range.
#include "TestArtifact.h"

#include "chitu/chitu.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <string>

using namespace chitu::test;

namespace {

struct Loaded {
  chitu_status status;
  std::string message;
};

// Loads from an 8-byte aligned copy, as a mapped file would be.
Loaded load(const std::vector<uint8_t> &bytes, chitu_model **out = nullptr) {
  std::vector<uint64_t> aligned((bytes.size() + 7) / 8 + 1);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  chitu_model *model = nullptr;
  chitu_status s = chitu_model_load_memory(aligned.data(), bytes.size(), nullptr, &model);
  Loaded r{s, chitu_last_error()};
  if (s == CHITU_OK && out) {
    // The caller runs the model: keep its memory alive with it.
    static std::vector<std::vector<uint64_t>> keep;
    keep.push_back(std::move(aligned));
    *out = model;
  } else if (model) {
    chitu_model_free(model);
  }
  return r;
}

// Runs main(x) on the CPU with x = [[0,1,2,3],[4,5,6,7]]; returns the status.
chitu_status runOnce(chitu_model *model, std::vector<float> *y = nullptr) {
  chitu_session *session = nullptr;
  chitu_status s = chitu_session_create(model, CHITU_DEVICE_CPU, 0, &session);
  if (s != CHITU_OK)
    return s;
  float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  int64_t dims[2] = {2, 4};
  s = chitu_session_set_input(session, 0, "x", CHITU_DTYPE_F32, dims, 2, x, sizeof x);
  if (s == CHITU_OK)
    s = chitu_session_run(session, 0);
  if (s == CHITU_OK && y) {
    y->resize(8);
    s = chitu_session_get_output(session, 0, "y", y->data(), 32);
  }
  chitu_session_free(session);
  return s;
}

// Loads the test artifact built with `knobs` and runs it on the CPU: y = x + w.
void expectLoadsAndRuns(const ArtifactKnobs &knobs) {
  chitu_model *model = nullptr;
  Loaded r = load(buildTestArtifact(knobs), &model);
  ASSERT_EQ(r.status, CHITU_OK) << r.message;
  std::vector<float> y;
  ASSERT_EQ(runOnce(model, &y), CHITU_OK) << chitu_last_error();
  EXPECT_EQ(y, (std::vector<float>{1, 3, 5, 7, 5, 7, 9, 11}));
  chitu_model_free(model);
}

TEST(Loader, ValidArtifactLoadsAndRuns) { expectLoadsAndRuns({}); }

// A launch that asks for kernel scratch loads; the CPU executor runs the op list without it.
TEST(Loader, KernelScratchLoadsAndRunsOnTheCpu) {
  ArtifactKnobs k;
  k.scratchSymbol = 0;
  expectLoadsAndRuns(k);
}

// A well-formed library route loads; the CPU executor runs the kernel's op list regardless.
TEST(Loader, LibraryRouteLoadsAndRunsOnTheCpu) {
  ArtifactKnobs k;
  k.libraryWeightInput = 1;
  expectLoadsAndRuns(k);
}

TEST(Loader, RejectsWrongIdentifier) {
  ArtifactKnobs k;
  k.wrongIdentifier = true;
  Loaded r = load(buildTestArtifact(k));
  EXPECT_EQ(r.status, CHITU_ERROR_INVALID_ARTIFACT);
  EXPECT_NE(r.message.find("identifier 'CBIN' missing"), std::string::npos) << r.message;
}

TEST(Loader, RejectsNonArtifacts) {
  std::string text = "this is not a model, just some text that is long enough";
  Loaded r = load(std::vector<uint8_t>(text.begin(), text.end()));
  EXPECT_EQ(r.status, CHITU_ERROR_INVALID_ARTIFACT);
  r = load({});
  EXPECT_EQ(r.status, CHITU_ERROR_INVALID_ARTIFACT);
  EXPECT_NE(r.message.find("only 0 bytes"), std::string::npos) << r.message;
}

TEST(Loader, RejectsEveryTruncation) {
  std::vector<uint8_t> full = buildTestArtifact();
  for (size_t len = 0; len < full.size(); ++len) {
    Loaded r = load(std::vector<uint8_t>(full.begin(), full.begin() + long(len)));
    EXPECT_EQ(r.status, CHITU_ERROR_INVALID_ARTIFACT) << "truncated to " << len << " bytes";
    EXPECT_FALSE(r.message.empty());
  }
}

TEST(Loader, FlippedBytesNeverCrash) {
  // Any single flipped byte either fails to load with a message, or loads a model that
  // runs or fails with a message. (AddressSanitizer runs of this test and the fuzzer
  // check that nothing is read out of bounds on the way.)
  std::vector<uint8_t> full = buildTestArtifact();
  for (size_t pos = 0; pos < full.size(); ++pos) {
    for (uint8_t mask : {uint8_t(0xff), uint8_t(0x01), uint8_t(0x80)}) {
      std::vector<uint8_t> bytes = full;
      bytes[pos] ^= mask;
      chitu_model *model = nullptr;
      Loaded r = load(bytes, &model);
      if (r.status != CHITU_OK) {
        EXPECT_FALSE(r.message.empty()) << "byte " << pos;
        continue;
      }
      chitu_status s = runOnce(model);
      if (s != CHITU_OK)
        EXPECT_STRNE(chitu_last_error(), "") << "byte " << pos;
      chitu_model_free(model);
    }
  }
}

struct BadCase {
  const char *name;
  ArtifactKnobs knobs;
  chitu_status status;
  const char *message;
};

class LoaderRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(LoaderRejects, WithAMessage) {
  Loaded r = load(buildTestArtifact(GetParam().knobs));
  EXPECT_EQ(r.status, GetParam().status) << r.message;
  EXPECT_NE(r.message.find(GetParam().message), std::string::npos) << r.message;
}

ArtifactKnobs with(void (*f)(ArtifactKnobs &)) {
  ArtifactKnobs k;
  f(k);
  return k;
}

INSTANTIATE_TEST_SUITE_P(
    Corrupt, LoaderRejects,
    ::testing::Values(
        BadCase{"SchemaVersion", with([](ArtifactKnobs &k) { k.schemaVersion = 99; }),
                CHITU_ERROR_UNSUPPORTED, "schema version 99"},
        BadCase{"WeightOutsideSegment", with([](ArtifactKnobs &k) { k.weightOffset = 64; }),
                CHITU_ERROR_INVALID_ARTIFACT, "outside the weight segment"},
        BadCase{"MisalignedWeight", with([](ArtifactKnobs &k) { k.weightOffset = 4; }),
                CHITU_ERROR_INVALID_ARTIFACT, "outside the weight segment"},
        BadCase{"WeightSizeMismatch", with([](ArtifactKnobs &k) { k.weightByteSize = 12; }),
                CHITU_ERROR_INVALID_ARTIFACT, "does not match its shape"},
        BadCase{"SegmentPastEnd", with([](ArtifactKnobs &k) { k.segmentOffsetDelta = 64; }),
                CHITU_ERROR_INVALID_ARTIFACT, "lies outside the file"},
        BadCase{"SegmentInsideFlatbuffer",
                with([](ArtifactKnobs &k) { k.segmentOffsetDelta = -64; }),
                CHITU_ERROR_INVALID_ARTIFACT, "lies outside the file"},
        BadCase{"TensorIndex", with([](ArtifactKnobs &k) { k.stepInputTensor = 17; }),
                CHITU_ERROR_INVALID_ARTIFACT, "tensor index 17 out of range"},
        BadCase{"KernelIndex", with([](ArtifactKnobs &k) { k.stepKernel = 3; }),
                CHITU_ERROR_INVALID_ARTIFACT, "kernel index out of range"},
        BadCase{"SymbolIndex", with([](ArtifactKnobs &k) { k.symbolInExpr = 5; }),
                CHITU_ERROR_INVALID_ARTIFACT, "names symbol 5 of 1"},
        BadCase{"ForwardOperand", with([](ArtifactKnobs &k) { k.addOperand = 2; }),
                CHITU_ERROR_INVALID_ARTIFACT, "operand refers to a value not yet defined"},
        BadCase{"UnknownDType", with([](ArtifactKnobs &k) { k.tensorDType = 9; }),
                CHITU_ERROR_INVALID_ARTIFACT, "unknown dtype"},
        BadCase{"SymbolInput", with([](ArtifactKnobs &k) { k.symbolInput = 4; }),
                CHITU_ERROR_INVALID_ARTIFACT, "symbol bound to a missing input"},
        BadCase{"ScratchSymbol", with([](ArtifactKnobs &k) { k.scratchSymbol = 3; }),
                CHITU_ERROR_INVALID_ARTIFACT, "names symbol 3 of 1"},
        BadCase{"BlockSize", with([](ArtifactKnobs &k) { k.blockThreads = 4096; }),
                CHITU_ERROR_INVALID_ARTIFACT, "bad block size"},
        BadCase{"MissingArena", with([](ArtifactKnobs &k) { k.missingArena = true; }),
                CHITU_ERROR_INVALID_ARTIFACT, "missing size expression"},
        BadCase{"LibraryWeightInput", with([](ArtifactKnobs &k) { k.libraryWeightInput = 2; }),
                CHITU_ERROR_INVALID_ARTIFACT, "a product names no kernel input or output"},
        BadCase{"LibraryOutput",
                with([](ArtifactKnobs &k) {
                  k.libraryWeightInput = 1;
                  k.libraryOutput = 1;
                }),
                CHITU_ERROR_INVALID_ARTIFACT, "a product names no kernel input or output"},
        BadCase{"LibraryWorkspaceWithoutEpilogue",
                with([](ArtifactKnobs &k) {
                  k.libraryWeightInput = 1;
                  k.libraryOutput = -1;
                }),
                CHITU_ERROR_INVALID_ARTIFACT, "need an epilogue"},
        BadCase{"LibraryDType",
                with([](ArtifactKnobs &k) {
                  k.libraryWeightInput = 1;
                  k.libraryDType = 0;
                }),
                CHITU_ERROR_INVALID_ARTIFACT, "takes bf16 or f16 products"}),
    [](const ::testing::TestParamInfo<BadCase> &info) { return info.param.name; });

TEST(Loader, MissingFileIsAnIoError) {
  chitu_model *model = nullptr;
  EXPECT_EQ(chitu_model_load("/nonexistent/model.cbin", nullptr, &model), CHITU_ERROR_IO);
  EXPECT_NE(std::string(chitu_last_error()).find("No such file"), std::string::npos);
  EXPECT_EQ(model, nullptr);
}

TEST(Loader, InputChecksNameDtypeAndShape) {
  chitu_model *model = nullptr;
  ASSERT_EQ(load(buildTestArtifact(), &model).status, CHITU_OK);
  chitu_session *session = nullptr;
  ASSERT_EQ(chitu_session_create(model, CHITU_DEVICE_CPU, 0, &session), CHITU_OK);
  float x[12] = {};
  int64_t good[2] = {3, 4}, bad[2] = {3, 5};
  EXPECT_EQ(chitu_session_set_input(session, 0, "nope", CHITU_DTYPE_F32, good, 2, x, 48),
            CHITU_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(chitu_last_error()).find("has no input 'nope' (inputs: x)"),
            std::string::npos);
  EXPECT_EQ(chitu_session_set_input(session, 0, "x", CHITU_DTYPE_F16, good, 2, x, 24),
            CHITU_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(chitu_last_error()).find("is f32[?, 4], got f16"), std::string::npos);
  EXPECT_EQ(chitu_session_set_input(session, 0, "x", CHITU_DTYPE_F32, bad, 2, x, 60),
            CHITU_ERROR_SHAPE_MISMATCH);
  EXPECT_EQ(chitu_session_set_input(session, 0, "x", CHITU_DTYPE_F32, good, 2, x, 40),
            CHITU_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(chitu_session_run(session, 0), CHITU_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(chitu_last_error()).find("missing inputs: x f32[?, 4]"), std::string::npos);
  chitu_session_free(session);
  chitu_model_free(model);
}

} // namespace
