// Shared by the op test suites: reading the op-case manifest, making random inputs,
// running a case on a device through the C API, and comparing results.
#pragma once

#include "chitu/chitu.h"
#include "support/DType.h"
#include "support/Json.h"

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace chitu::test {

// A tensor held as doubles (exact for every chitu dtype's values) plus its dtype.
struct NdArray {
  DType dtype = DType::F32;
  std::vector<int64_t> dims;
  std::vector<double> values;

  int64_t numel() const;
  std::vector<uint8_t> toBytes() const;
  static NdArray fromBytes(DType dtype, std::vector<int64_t> dims,
                           const std::vector<uint8_t> &bytes);
};

struct InputSpec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape; // -1: dynamic
  int64_t minDim = 0;         // smallest size a dynamic dim may take
  int64_t grow = 1;           // a dynamic dim is this many times the case's size
  bool hasRange = false;      // integer values drawn from [lo, hi)
  int64_t lo = 0, hi = 0;
  bool causalMask = false;
  bool hasFRange = false; // float values drawn from [flo, fhi]
  double flo = 0, fhi = 0;
  bool state = false;   // a state input (set with chitu_session_set_state)
  std::string slotsOf;  // distinct KV slots (some -1) of the named cache input
  bool grouped = false; // integers (of `range`) in runs: a prefill batch's sequence ids
  // Positions of a prefill batch: consecutive within each run of equal values of the named
  // input, from a random start in [0, hi - run length].
  std::string consecutiveIn;
};

struct OpCase {
  std::string name, kind, op;
  DType dtype = DType::F32;
  std::string cbin; // absolute path
  JsonValue attrs;
  std::vector<InputSpec> inputs;
};

// gtest prints a case by its name.
inline void PrintTo(const OpCase &c, std::ostream *os) { *os << c.name; }

// Directory of manifest.json: $CHITU_OP_CASES, else the build's test/ops.
std::string opCasesDir();
// Loads the manifest; an empty list with `error` set when it cannot be read.
std::vector<OpCase> loadOpCases(std::string &error);

// Random inputs for a case with every dynamic dim equal to `n` (cases are written so that
// all their dynamic dims may share one size).
std::vector<NdArray> makeInputs(const OpCase &c, int64_t n, std::mt19937_64 &rng);

// Runs a case's entry on a device; fills `outputs` or returns the error message.
std::string runCase(const OpCase &c, chitu_device device, const std::vector<NdArray> &inputs,
                    std::vector<NdArray> &outputs);

// Norm-wise relative error of `out` against `ref` over finite values, after checking that
// NaN and infinity positions agree (ints: exact). Empty string when within `tol`.
std::string compare(const NdArray &out, const NdArray &ref, double tol);

// Tolerance for a result dtype when the same function is computed two ways.
double tolerance(DType t);

// The seed of this run: $CHITU_TEST_SEED, else random (printed so failures replay).
uint64_t testSeed();

} // namespace chitu::test
