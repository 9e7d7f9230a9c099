// Replays every input the fuzzer ever crashed on (test/fuzz/regressions): each must now be
// refused or run without crashing.
#include "chitu/chitu.h"

#include <gtest/gtest.h>

#include <cstring>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifndef CHITU_FUZZ_REGRESSIONS
#define CHITU_FUZZ_REGRESSIONS ""
#endif

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

TEST(FuzzRegressions, ReplayWithoutCrashing) {
  LLVMFuzzerInitialize(nullptr, nullptr);
  std::string dir = CHITU_FUZZ_REGRESSIONS;
  DIR *d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << "cannot open " << dir;
  int count = 0;
  while (dirent *e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name == "README.md")
      continue;
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    SCOPED_TRACE(name);
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    ++count;
  }
  closedir(d);
  std::printf("replayed %d fuzzer regression inputs\n", count);
}
