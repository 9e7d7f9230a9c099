// Writes the fuzzer's seed corpus: the loader tests' valid artifact (more seeds come from
// the compiled op cases).
#include "../unit/TestArtifact.h"

#include <cstdio>
#include <fstream>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  std::vector<uint8_t> bytes = chitu::test::buildTestArtifact();
  std::ofstream out(std::string(argv[1]) + "/test_artifact.cbin", std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
  return out ? 0 : 1;
}
