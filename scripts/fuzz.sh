#!/usr/bin/env bash
# Fuzzes the .cbin loader and CPU executor for a bounded time (default 60 s):
#   bash scripts/fuzz.sh [SECONDS]
# Builds the runtime with clang + libFuzzer + AddressSanitizer + UBSan in build-fuzz/, seeds
# the fuzzer with a hand-built artifact and (if present) the compiled op cases of build/.
# A crash fails the run; its input is left in build-fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CLANG=${CLANG:-clang-14}
CLANGXX=${CLANGXX:-clang++-14}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=$CLANG CXX=$CLANGXX cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCHITU_BUILD_COMPILER=OFF -DCHITU_BUILD_TESTS=OFF -DCHITU_BUILD_FUZZERS=ON \
  "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link $flags" "-DCMAKE_C_FLAGS=$flags" >/dev/null
cmake --build build-fuzz --target cbin_fuzzer write_fuzz_seeds
rm -rf build-fuzz/seeds build-fuzz/crashes
mkdir -p build-fuzz/seeds build-fuzz/corpus build-fuzz/crashes
build-fuzz/bin/write_fuzz_seeds build-fuzz/seeds
if ls build/test/ops/*.cbin >/dev/null 2>&1; then
  for c in add_f32 matmul_broadcast_bf16 gather_axis1_i64 slice_f16 concat_rows_i32 \
           reduce_max1_i64 layer_norm_f32 softmax1_bf16 example_attention; do
    [ -f "build/test/ops/$c.cbin" ] && cp "build/test/ops/$c.cbin" build-fuzz/seeds/
  done
fi
echo "[fuzz] replaying test/fuzz/regressions"
build-fuzz/bin/cbin_fuzzer test/fuzz/regressions/* >/dev/null 2>&1 || {
  echo "[fuzz] a regression input crashes again" >&2; exit 1; }
echo "[fuzz] fuzzing for ${seconds}s"
build-fuzz/bin/cbin_fuzzer -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 \
  build-fuzz/corpus build-fuzz/seeds 2>&1 | grep -E "DONE|stat::number_of_executed_units|ERROR|runtime error|SUMMARY" || true
if ls build-fuzz/crashes/* >/dev/null 2>&1; then
  echo "[fuzz] crash found: $(ls build-fuzz/crashes)" >&2
  exit 1
fi
echo "[fuzz] no crash"
