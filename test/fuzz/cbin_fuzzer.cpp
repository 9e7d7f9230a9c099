// libFuzzer target of the .cbin loader and the CPU executor: any byte string must load
// with an error status or give a model that runs (or fails) without a crash, an out of
// bounds access (AddressSanitizer) or undefined behaviour (UBSan).
//
// Build with clang: cmake -DCHITU_BUILD_FUZZERS=ON -DCHITU_BUILD_COMPILER=OFF
//   -DCMAKE_CXX_COMPILER=clang++ ...; run: cbin_fuzzer -max_total_time=60 CORPUS SEEDS
#include "chitu/chitu.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  // Keep single values small so that absurd (but valid) sizes fail instead of OOMing.
  setenv("CHITU_CPU_MAX_ALLOC_BYTES", "67108864", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<uint64_t> aligned(size / 8 + 1);
  std::memcpy(aligned.data(), data, size);
  chitu_model *model = nullptr;
  if (chitu_model_load_memory(aligned.data(), size, nullptr, &model) != CHITU_OK)
    return 0;
  chitu_session *session = nullptr;
  if (chitu_session_create(model, CHITU_DEVICE_CPU, 0, &session) == CHITU_OK) {
    for (int e = 0; e < chitu_model_num_entries(model); ++e) {
      bool bound = true;
      for (int i = 0; i < chitu_model_num_inputs(model, e) && bound; ++i) {
        chitu_tensor_info info;
        chitu_model_input_info(model, e, i, &info);
        size_t bytes = chitu_dtype_size(info.dtype);
        for (int d = 0; d < info.rank; ++d) {
          if (info.dims[d] < 0)
            info.dims[d] = 2;
          if (info.dims[d] > 4096)
            bound = false;
          bytes *= size_t(info.dims[d]);
        }
        if (!bound || bytes > (1u << 24))
          break;
        std::vector<uint8_t> input(bytes);
        for (size_t b = 0; b < bytes; ++b)
          input[b] = data[b % size]; // deterministic, not zeros
        chitu_session_set_input(session, e, info.name, info.dtype, info.dims, info.rank,
                                input.data(), bytes);
      }
      if (bound)
        chitu_session_run(session, e);
    }
    chitu_session_free(session);
  }
  chitu_model_free(model);
  return 0;
}
